"""images, history, tag, rmi, image prune, image inspect — and `image bootstrap`, dockyard's own verb."""

from __future__ import annotations

import io
import os
import tarfile

from tests.cli.daemons import Created, Daemon, assert_same


def same(daemon: Daemon, *args: str) -> str:
    return assert_same(daemon, *args, sort_rows=True).stdout.decode()


def test_bootstrap_made_busybox(daemon: Daemon) -> None:
    assert daemon.ok("inspect", "-f", "{{.Config.Cmd}} {{.RepoTags}}", "busybox") == "[sh] [busybox:latest]\n"
    assert daemon.ok("run", "--rm", "busybox", "sh", "-c", "id -un; ls /bin | grep -c .").splitlines()[0] == "root"
    # the layer is the host's busybox and its applet links, every file root's and at one mtime
    with tarfile.open(fileobj=io.BytesIO(daemon.dockyard("save", "busybox").stdout)) as saved:
        layer_name = next(n for n in saved.getnames() if n.endswith("layer.tar"))
        layer_file = saved.extractfile(layer_name)
        assert layer_file is not None
        with tarfile.open(fileobj=io.BytesIO(layer_file.read())) as layer:
            members = layer.getmembers()
    busybox = next(m for m in members if m.name in ("bin/busybox", "./bin/busybox"))
    assert busybox.size == os.path.getsize("/bin/busybox") if os.path.exists("/bin/busybox") else True
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    assert len({m.mtime for m in members}) == 1


def test_bootstrap_again_gives_the_same_layer(daemon: Daemon, created: Created) -> None:
    created.image("again/busybox:1")
    assert daemon.ok("image", "bootstrap", "-t", "again/busybox:1", "busybox").endswith("Tagged again/busybox:1\n")
    layers = {daemon.ok("inspect", "-f", "{{json .RootFS.Layers}}", ref) for ref in ("busybox", "again/busybox:1")}
    assert len(layers) == 1
    bad = daemon.dockyard("image", "bootstrap", "alpine")
    assert bad.returncode == 1 and b'unknown base image "alpine"' in bad.stderr


def test_image_tables_like_docker(daemon: Daemon, created: Created) -> None:
    for ref in ("bb:one", "localhost:5000/x/bb:two"):
        daemon.ok("tag", "busybox", created.image(ref))
    for args in (["images"], ["images", "-q"], ["images", "--no-trunc"], ["images", "--digests"], ["image", "ls"],
                 ["images", "bb"], ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"],
                 ["images", "--format", "json"], ["images", "--format", "table {{.ID}}\t{{.Repository}}"],
                 ["images", "--filter", "reference=bb"], ["images", "--filter", "dangling=true"],
                 ["history", "busybox"], ["history", "--no-trunc", "-H=false", "busybox"], ["history", "-q", "bb:one"],
                 ["image", "history", "--format", "{{.ID}} {{.Comment}}", "busybox"],
                 ["image", "inspect", "busybox"], ["image", "inspect", "-f", "{{.Os}} {{.Architecture}}", "busybox"],
                 ["image", "inspect", "nope"], ["history", "nope"], ["tag", "nope", "x"]):
        same(daemon, *args)


def test_tag_and_rmi(daemon: Daemon, created: Created) -> None:
    ref = created.image("tagged/img:v1")
    assert daemon.ok("tag", "busybox", ref) == ""
    assert daemon.ok("image", "tag", "busybox", created.image("tagged/img")) == ""
    assert daemon.ok("images", "-q", "tagged/img") == daemon.ok("images", "-q", "busybox") * 2
    assert daemon.ok("rmi", ref, "tagged/img") == "Untagged: tagged/img:v1\nUntagged: tagged/img:latest\n"
    same(daemon, "rmi", ref)
    same(daemon, "rmi", "-f", ref)
    same(daemon, "image", "rm", "nope1", "nope2")


def test_rmi_deletes_and_refuses_in_use(daemon: Daemon, created: Created) -> None:
    box = created.container()
    image = created.image("rmi/img:1")
    daemon.ok("run", "--name", box, "busybox", "sh", "-c", "echo x > /f")
    image_id = daemon.ok("commit", box, image).strip()
    user = created.container()
    daemon.ok("create", "--name", user, image)
    refused = daemon.dockyard("rmi", image_id)
    assert refused.returncode == 1 and refused.stderr.startswith(b"Error response from daemon: conflict")
    daemon.ok("rm", user)
    out = daemon.ok("rmi", image)
    assert out.startswith("Untagged: rmi/img:1\nDeleted: " + image_id)


def test_image_prune(daemon: Daemon, created: Created) -> None:
    box = created.container()
    daemon.ok("run", "--name", box, "busybox", "true")
    dangling = daemon.ok("commit", box).strip()
    created.image(dangling)
    assert dangling in daemon.ok("images", "-q", "--no-trunc", "--filter", "dangling=true")
    out = daemon.ok("image", "prune", "-f")
    assert out.startswith("Deleted Images:\ndeleted: " + dangling)
    assert out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert daemon.ok("image", "prune", "-f") == "Total reclaimed space: 0B\n"
    cancelled = daemon.dockyard("image", "prune", input=b"n\n")
    assert cancelled.returncode == 1 and cancelled.stdout.startswith(b"WARNING! This will remove all dangling images.")


def test_bootstrap_debian_never_downloads(daemon: Daemon, tmp_path: object) -> None:
    remote = daemon.dockyard("image", "bootstrap", "--mirror", "http://deb.debian.org/debian", "debian")
    assert remote.returncode == 1
    assert remote.stderr.startswith(b"bootstrap debian: refusing mirror http://deb.debian.org/debian")
    missing = daemon.dockyard("image", "bootstrap", "--mirror", f"{tmp_path}/no-mirror", "debian")
    assert missing.returncode == 1
    assert b"no local Debian mirror" in missing.stderr or b"debootstrap is not installed" in missing.stderr
