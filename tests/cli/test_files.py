"""cp both ways (and `-` tars), commit, export/import, save/load — compared with docker where the
result is deterministic."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tests.cli.daemons import Created, Daemon, normalise


def tree(root: Path) -> dict[str, str]:
    """relative path -> content ('<dir>' / '-> target' for links)."""
    found: dict[str, str] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "<dir>"
            else:
                found[rel] = path.read_text()
    return found


@pytest.fixture
def box(daemon: Daemon, created: Created) -> str:
    name = created.container("box")
    daemon.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
              "mkdir -p /data/sub && echo one > /data/a.txt && echo two > /data/sub/b.txt && "
              "ln -s a.txt /data/link && sleep 300")
    return name


@pytest.fixture
def local(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("local-a\n")
    (src / "sub" / "b.txt").write_text("local-b\n")
    (src / "link").symlink_to("a.txt")
    return src


@pytest.mark.parametrize(("source", "dest", "expected"), [
    ("/data", "new", {"exists": "<dir>", "new": "<dir>", "new/a.txt": "one\n", "new/link": "-> a.txt", "new/sub": "<dir>",
                      "new/sub/b.txt": "two\n"}),
    ("/data", "exists/", {"exists": "<dir>", "exists/data": "<dir>", "exists/data/a.txt": "one\n",
                          "exists/data/link": "-> a.txt", "exists/data/sub": "<dir>", "exists/data/sub/b.txt": "two\n"}),
    ("/data/.", "exists", {"exists": "<dir>", "exists/a.txt": "one\n", "exists/link": "-> a.txt",
                           "exists/sub": "<dir>", "exists/sub/b.txt": "two\n"}),
    ("/data/a.txt", "file.txt", {"exists": "<dir>", "file.txt": "one\n"}),
    ("/data/a.txt", "exists", {"exists": "<dir>", "exists/a.txt": "one\n"}),
    ("/data/sub/b.txt", "exists/renamed", {"exists": "<dir>", "exists/renamed": "two\n"}),
])
def test_cp_from_container_like_docker(daemon: Daemon, box: str, tmp_path: Path, source: str, dest: str,
                                       expected: dict[str, str]) -> None:
    results = {}
    for client in ("dockyard", "docker"):
        root = tmp_path / client
        (root / "exists").mkdir(parents=True)
        run = daemon.dockyard if client == "dockyard" else daemon.docker
        result = run("cp", f"{box}:{source}", str(root / dest))
        assert result.returncode == 0, result.stderr
        results[client] = tree(root)
    assert results["dockyard"] == results["docker"] == expected


@pytest.mark.parametrize(("source", "dest", "listing"), [
    ("src", "/in", ["a.txt", "link", "sub", "sub/b.txt"]),              # new directory
    ("src", "/tmp", ["src", "src/a.txt", "src/link", "src/sub", "src/sub/b.txt"]),  # into an existing one
    ("src/.", "/tmp", ["a.txt", "link", "sub", "sub/b.txt"]),          # the contents
    ("src/a.txt", "/in.txt", []),
])
def test_cp_into_container_like_docker(daemon: Daemon, created: Created, local: Path, source: str, dest: str,
                                       listing: list[str]) -> None:
    outputs = []
    for client in ("dockyard", "docker"):
        name = created.container(client)
        daemon.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
        run = daemon.dockyard if client == "dockyard" else daemon.docker
        result = run("cp", f"{local.parent}/{source}", f"{name}:{dest}")  # a Path would drop the "/."
        assert result.returncode == 0, result.stderr
        outputs.append(daemon.ok("exec", name, "sh", "-c", f"cd {dest} 2>/dev/null && find . | sort || cat {dest}"))
    assert outputs[0] == outputs[1]
    if listing:
        assert outputs[0].split() == ["."] + [f"./{p}" for p in listing]
    else:
        assert outputs[0] == "local-a\n"


def test_cp_tar_streams(daemon: Daemon, box: str) -> None:
    out = daemon.dockyard("cp", f"{box}:/data", "-")
    assert out.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        names = sorted(m.name for m in tar)
    assert names == ["data", "data/a.txt", "data/link", "data/sub", "data/sub/b.txt"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("from-stdin.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"piped\n"))
    assert daemon.dockyard("cp", "-", f"{box}:/data", input=buf.getvalue()).returncode == 0
    assert daemon.ok("exec", box, "cat", "/data/from-stdin.txt") == "piped\n"
    result = daemon.dockyard("cp", "-", f"{box}:/data/a.txt", input=buf.getvalue())
    assert (result.returncode, result.stderr) == (1, f'destination "{box}:/data/a.txt" must be a directory\n'.encode())


def test_cp_errors_like_docker(daemon: Daemon, box: str, tmp_path: Path) -> None:
    for args in (["cp", f"{box}:/nope", str(tmp_path / "x")], ["cp", str(tmp_path / "nope"), f"{box}:/tmp"],
                 ["cp", str(tmp_path), "nope:/tmp"], ["cp", f"{box}:/data", str(tmp_path / "no" / "such")],
                 ["cp", "a", "b"], ["cp", f"{box}:/a", f"{box}:/b"]):
        ours, theirs = daemon.dockyard(*args), daemon.docker(*args)
        assert (ours.returncode, ours.stderr.decode()) == (theirs.returncode, normalise(theirs.stderr)), args


def test_cp_refuses_to_escape(daemon: Daemon, box: str, tmp_path: Path) -> None:
    daemon.ok("exec", box, "sh", "-c", "mkdir -p /evil && ln -s /etc /evil/esc && ln -s / /evil/root")
    dest = tmp_path / "out"
    assert daemon.dockyard("cp", f"{box}:/evil", str(dest)).returncode == 0
    assert os.readlink(dest / "esc") == "/etc"  # links are copied as links, not followed
    assert not (tmp_path / "passwd").exists()


def test_commit(daemon: Daemon, created: Created, box: str) -> None:
    image = created.image("committed/img:v1")
    out = daemon.ok("commit", "-a", "me", "-m", "a message", "-c", "ENV X=1", "-c", 'CMD ["cat", "/data/a.txt"]',
                    box, image)
    assert out.startswith("sha256:") and len(out.strip()) == 71
    assert daemon.ok("run", "--rm", image) == "one\n"
    assert daemon.ok("run", "--rm", image, "sh", "-c", "echo $X") == "1\n"
    assert daemon.ok("inspect", "-f", "{{.Author}}|{{.Comment}}|{{.Config.Cmd}}", image) == \
        "me|a message|[cat /data/a.txt]\n"
    untagged = daemon.ok("commit", "--pause=false", box).strip()
    created.image(untagged)
    assert daemon.ok("inspect", "-f", "{{.RepoTags}}", untagged) == "[]\n"


def test_export_import(daemon: Daemon, created: Created, box: str, tmp_path: Path) -> None:
    archive = tmp_path / "box.tar"
    assert daemon.ok("export", "-o", str(archive), box) == ""
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "data/a.txt" in names and "bin/busybox" in names
    streamed = daemon.dockyard("export", box).stdout
    with tarfile.open(fileobj=io.BytesIO(streamed)) as tar:
        assert sorted(tar.getnames()) == sorted(names)
    image = created.image("imported/box:1")
    out = daemon.ok("import", "-c", 'CMD ["cat", "/data/a.txt"]', "-m", "from a tar", str(archive), image)
    assert out.startswith("sha256:")
    assert daemon.ok("run", "--rm", image) == "one\n"
    assert daemon.ok("inspect", "-f", "{{.Comment}}", image) == "from a tar\n"
    piped = created.image("imported/box:2")
    assert daemon.ok("import", "-", piped, input=archive.read_bytes()).startswith("sha256:")
    assert daemon.ok("run", "--rm", piped, "cat", "/data/sub/b.txt") == "two\n"


def test_save_load(daemon: Daemon, created: Created, box: str, tmp_path: Path) -> None:
    image = created.image("saved/img:1")
    daemon.ok("commit", box, image)
    archive = tmp_path / "img.tar"
    assert daemon.ok("save", "-o", str(archive), image) == ""
    with tarfile.open(archive) as tar:
        assert "manifest.json" in tar.getnames()
    assert len(daemon.dockyard("save", image).stdout) == archive.stat().st_size
    image_id = daemon.ok("inspect", "-f", "{{.Id}}", image).strip()
    daemon.ok("rmi", image)
    assert daemon.ok("load", "-i", str(archive)) == f"Loaded image: {image}\n"
    assert daemon.ok("inspect", "-f", "{{.Id}}", image).strip() == image_id
    assert daemon.ok("load", input=archive.read_bytes()) == f"Loaded image: {image}\n"
    assert daemon.ok("load", "-q", "-i", str(archive)) == f"Loaded image: {image}\n"
    missing = daemon.dockyard("load", "-i", str(tmp_path / "missing.tar"))
    assert missing.returncode == 1 and b"no such file or directory" in missing.stderr
