"""Bad Dockerfiles, hostile contexts and failing steps: clear errors, nothing read or written
outside the context and the image, and nothing left behind (snapshots, mounts, runtime state,
cgroups, leases, blobs no image holds)."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.build import BuildContext, BuildOptions, RunFailed
from dockyard.build.run import RunFailedToStart
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from tests.build.conftest import Env


def _tar(entries: list[tuple[str, bytes | str, bytes]]) -> bytes:
    """A tar of (name, kind or link target, data) entries: kind "f" file, "d" dir, "l:<target>"
    symlink, "h:<target>" hard link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif isinstance(kind, str) and kind.startswith("l:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind[2:]
            elif isinstance(kind, str) and kind.startswith("h:"):
                info.type, info.linkname = tarfile.LNKTYPE, kind[2:]
            else:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def _build(env: Env, ctx: BuildContext | None, options: BuildOptions) -> tuple[str, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    result = env.builder.build(ctx, options, messages.append)
    return result.image_id, messages


def _files(env: Env, image_id: str, *paths: str) -> dict[str, bytes]:
    archive = io.BytesIO()
    env.images.save([image_id], archive)
    from tests.build import corpus

    tree = corpus.tree_of_archive(archive.getvalue())
    return {p: tree[p].get("text", "").encode() if p in tree else b"<absent>" for p in paths}


def test_context_entries_cannot_escape(env: Env, tmp_path: Path) -> None:
    hostile = _tar([("../escape.txt", "f", b"x")])
    with pytest.raises(InvalidArgument, match="is outside of the context"):
        BuildContext.from_tar(io.BytesIO(hostile), env.builder.work_root)
    assert not (env.builder.work_root.parent / "escape.txt").exists()
    assert list(env.builder.work_root.iterdir()) == []


def test_symlinks_are_followed_inside_the_context(env: Env) -> None:
    # an entry written "through" a symlink to / lands inside the context, as in Docker's chroot
    data = _tar([("Dockerfile", "f", b"FROM busybox\nCOPY link/passwd /through-link\nCOPY abs /abs-target\n"),
                 ("link", "l:/etc", b""), ("link/passwd", "f", b"context passwd\n"),
                 ("abs", "l:/etc/passwd", b"")])
    with BuildContext.from_tar(io.BytesIO(data), env.builder.work_root) as ctx:
        image_id, _ = _build(env, ctx, BuildOptions())
    files = _files(env, image_id, "/through-link", "/abs-target")
    assert files == {"/through-link": b"context passwd\n", "/abs-target": b"context passwd\n"}
    env.assert_clean()


def test_a_symlink_out_of_the_context_reads_nothing_of_the_host(env: Env) -> None:
    data = _tar([("Dockerfile", "f", b"FROM busybox\nCOPY secret /\n"), ("secret", "l:/etc/shadow", b"")])
    with BuildContext.from_tar(io.BytesIO(data), env.builder.work_root) as ctx, \
            pytest.raises(NotFound, match=re.escape("COPY failed: file not found in build context or excluded by "
                                                    ".dockerignore: stat secret: file does not exist")):
        _build(env, ctx, BuildOptions())
    env.assert_clean()


def test_sources_cannot_climb_out_of_the_context(env: Env, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nCOPY ../../../../etc/hostname /x\n")
    with BuildContext.from_directory(tmp_path / "ctx") as ctx, pytest.raises(NotFound, match=re.escape("stat ../../../../etc")):
        _build(env, ctx, BuildOptions())
    env.assert_clean()


def test_destinations_stay_in_the_image(env: Env, tmp_path: Path) -> None:
    """A symlink in the image pointing at / (or out of it) cannot send a COPY to the host."""
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    (ctx_dir / "f").write_text("in the image\n")
    marker = f"dockyard-escape-{os.getpid()}"
    (ctx_dir / "Dockerfile").write_text(
        f"FROM busybox\nRUN ln -s / /up && ln -s /tmp /tmp-up\nCOPY f /up/tmp/{marker}\n"
        f"COPY f /tmp-up/{marker}-2\n")
    with BuildContext.from_directory(ctx_dir) as ctx:
        image_id, _ = _build(env, ctx, BuildOptions())
    assert not Path(f"/tmp/{marker}").exists() and not Path(f"/tmp/{marker}-2").exists()
    files = _files(env, image_id, f"/tmp/{marker}", f"/tmp/{marker}-2")
    assert set(files.values()) == {b"in the image\n"}
    env.assert_clean()


@pytest.mark.parametrize(("data", "message"), [
    (b"this is not a tar archive at all" * 20, "failed to read the build context"),
    (_tar([("a", "f", b"x")])[:700], "failed to read the build context"),
    (_tar([("Dockerfile", "f", b"FROM busybox\n"), ("b", "h:missing", b"")]), "hard link 'b' to 'missing'"),
])
def test_broken_contexts(env: Env, data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        BuildContext.from_tar(io.BytesIO(data), env.builder.work_root)
    assert list(env.builder.work_root.iterdir()) == []


@pytest.mark.parametrize(("dockerfile", "kind", "message"), [
    ("", InvalidArgument, r"^the Dockerfile \(Dockerfile\) cannot be empty$"),
    ("# nothing\n", InvalidArgument, "^failed to parse Dockerfile: file with no instructions$"),
    ("FROM busybox\nRUN <<EOF\nnever ends\n", InvalidArgument, "^failed to parse Dockerfile: unterminated heredoc$"),
    ("FROM busybox\n\n\nBOGUS x\n", InvalidArgument, "^dockerfile parse error line 4: unknown instruction: BOGUS$"),
    ("FROM busybox\nRUN --mount=type=cache,target=/x true\n", InvalidArgument, "the --mount option requires BuildKit"),
    ("FROM busybox\nSTOPSIGNAL SIGNOPE\n", InvalidArgument, "^Invalid signal: SIGNOPE$"),
    ("FROM busybox\nEXPOSE 80/bogus\n", InvalidArgument, "^Invalid proto: bogus$"),
    ("FROM busybox\nCOPY --chmod=999 a /\n", InvalidArgument, "invalid chmod parameter"),
    ("FROM busybox:nope\n", NotFound, "^No such image: busybox:nope"),
    ("FROM busybox\nCOPY --from=nothere /a /b\n", NotFound, "^invalid from flag value nothere: No such image"),
    ("FROM busybox AS a\nFROM busybox AS a\nRUN true\n", InvalidArgument, "a stage name already used"),
    ("FROM busybox\nENV A=${B:?must_be_set}\n", InvalidArgument, "B: must_be_set"),
    ("FROM busybox\nENV A=${B:?must be set}\n", InvalidArgument, "can't find = in \"be\""),
    ("FROM --platform=linux/s390x busybox\n", InvalidArgument,
     "does not match the specified platform: wanted linux/s390x"),
])
def test_dockerfile_errors(env: Env, dockerfile: str, kind: type[DockyardError], message: str) -> None:
    before = env.state()
    with pytest.raises(kind, match=message):
        _build(env, None, BuildOptions(dockerfile_text=dockerfile.encode()))
    assert env.state() == before  # the same snapshots, blobs and leases as before
    env.assert_clean()


def test_bad_tags_fail_before_anything_runs(env: Env) -> None:
    for tag, message in (("UPPER", "repository name must be lowercase"), ("a@sha256:" + "0" * 64,
                                                                          "build tag cannot contain a digest")):
        with pytest.raises(InvalidArgument, match=message):
            _build(env, None, BuildOptions(dockerfile_text=b"FROM busybox\nRUN exit 1\n", tags=[tag]))
    env.assert_clean()


def test_failing_run_keeps_the_last_good_image(env: Env) -> None:
    messages: list[dict[str, Any]] = []
    with pytest.raises(RunFailed) as info:
        env.builder.build(None, BuildOptions(dockerfile_text=b"FROM busybox\nRUN echo ok > /ok\n"
                                                              b"RUN echo oops; cat /ok; exit 42\n"),
                          messages.append)
    assert info.value.code == 42
    assert str(info.value) == "The command '/bin/sh -c echo oops; cat /ok; exit 42' returned a non-zero code: 42"
    text = "".join(m.get("stream", "") for m in messages)
    assert f" ---> {info.value.last_image_id[7:19]}\nStep 3/3" in text and "oops\nok\n" in text
    # the last good step's image can be inspected and run (here: its file is there)
    assert _files(env, info.value.last_image_id, "/ok") == {"/ok": b"ok\n"}
    env.assert_clean()


def test_run_that_cannot_start(env: Env) -> None:
    with pytest.raises(RunFailedToStart, match='exec: "/nonexistent"'):
        _build(env, None, BuildOptions(dockerfile_text=b'FROM busybox\nRUN ["/nonexistent", "x"]\n'))
    env.assert_clean()


def test_a_build_cancelled_by_its_reader_cleans_up(env: Env) -> None:
    """The API's client going away mid-RUN: the output callback fails, the container is killed."""

    class Gone(Exception):
        pass

    def output(message: dict[str, Any]) -> None:
        if "tick" in message.get("stream", ""):
            raise Gone()

    with pytest.raises(Gone):
        env.builder.build(None, BuildOptions(dockerfile_text=b"FROM busybox\nRUN while true; do echo tick; sleep 1; done\n"),
                          output)
    env.assert_clean()


def test_no_dangling_cgroups(env: Env) -> None:
    _build(env, None, BuildOptions(dockerfile_text=b"FROM busybox\nRUN true\n"))
    parent = env.builder.cgroup_parent.lstrip("/")
    for top in Path("/sys/fs/cgroup").iterdir():
        tree = top / parent
        if tree.is_dir():
            assert [p for p in tree.iterdir() if p.is_dir()] == []


def test_recover_after_a_crash(env: Env) -> None:
    """A builder killed mid-RUN (a daemon crash) leaves a container, a snapshot, mounts and a
    lease; Builder.recover removes them all."""
    import signal

    from dockyard.build import Builder
    from dockyard.images import ImageService

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, killed below
        os.close(r)
        try:
            images = ImageService(env.root)
            builder = Builder(images, runtime_root=str(env.runtime_root), work_root=env.builder.work_root,
                              cgroup_parent=env.builder.cgroup_parent)

            def output(message: dict[str, Any]) -> None:
                if message.get("stream") == "42\n":  # the RUN's own output: its container is up
                    os.write(w, b"x")

            builder.build(None, BuildOptions(dockerfile_text=b"FROM busybox\nRUN echo $((40+2)); sleep 60\n"),
                          output)
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 1) == b"x"
    finally:
        os.close(r)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert [i.key for i in env.images.snapshotter.walk() if i.key.startswith("build-")]
    removed = env.builder.recover()
    assert any(item.startswith("container ") for item in removed)
    assert any(item.startswith("lease ") for item in removed)
    env.assert_clean()
