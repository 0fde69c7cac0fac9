"""Round trips with the real Docker (Debian's docker.io 20.10), started for this module on its own
socket and data root.

Docker makes a three-generation image family (import, run + commit, run + commit) and a
`docker build` (legacy builder) on top with empty layers; `docker save` of all of it loads into
dockyard with the same ids, and dockyard's inspect, history and images views match Docker's field
by field. The other way, images dockyard made (import + commit) are saved by dockyard, loaded by
Docker, and run there.
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import socket
import tarfile
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.images import ImageService
from dockyard.images.reference import parse_tag_target
from dockyard.oci.image_spec import ContainerConfig
from dockyard.snapshots import mount_all, unmount_all
from tests.helpers.dockerd import Dockerd, running_dockerd
from tests.helpers.dockerd import _unmount_below as unmount_below

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FAMILY = ["busybox:latest", "layered:1", "layered:2", "built:1"]
DOCKERFILE = b"""FROM layered:2
ENV BUILT=yes
RUN echo built > /built && rm -f /second
LABEL stage=final
CMD ["cat", "/built"]
"""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def api(daemon: Dockerd, method: str, path: str) -> tuple[int, Any]:
    """One call to the Docker Engine API of `daemon`: (status, decoded JSON body)."""
    conn = _UnixConnection(str(daemon.socket))
    try:
        conn.request(method, "/v1.41" + path)
        response = conn.getresponse()
        body = response.read()
        return response.status, json.loads(body) if body else None
    finally:
        conn.close()


def _ok(result: Any) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    return bytes(result.stdout)


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, busybox_tar: bytes) -> Iterator[Dockerd]:
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as daemon:
        _ok(daemon.docker("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=busybox_tar))
        _ok(daemon.docker("run", "--name", "c1", "busybox", "sh", "-c",
                          "echo hi > /hello; mkdir -p /a/b; ln -s /hello /a/b/l; rm /bin/vi"))
        _ok(daemon.docker("commit", "-a", "me <me@example.com>", "-m", "add hello", "-c", "ENV FOO=bar",
                          "-c", "LABEL a=b", "c1", "layered:1"))
        _ok(daemon.docker("run", "--name", "c2", "layered:1", "sh", "-c", "echo x > /second; rm -rf /a"))
        _ok(daemon.docker("commit", "c2", "layered:2"))
        context = tmp_path_factory.mktemp("context")
        (context / "Dockerfile").write_bytes(DOCKERFILE)
        try:
            _ok(daemon.docker("build", "-q", "-t", "built:1", str(context), timeout=120))
        finally:
            shutil.rmtree(context, ignore_errors=True)
        _ok(daemon.docker("rm", "c1", "c2"))
        yield daemon


@pytest.fixture(scope="module")
def docker_archive(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`docker save` of the family; the dockerd then holds only what it loads back from it, so that
    both sides show the same loaded images (a build's intermediate parents are not saved)."""
    path = tmp_path_factory.mktemp("save") / "family.tar"
    try:
        _ok(dockerd.docker("save", "-o", str(path), *FAMILY))
        _ok(dockerd.docker("rmi", *reversed(FAMILY)))  # with their untagged parents (the build's intermediates)
        assert _ok(dockerd.docker("images", "-aq")) == b""
        _ok(dockerd.docker("load", "-i", str(path)))
        yield path
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def loaded(docker_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageService]:
    """The family, loaded into dockyard from `docker save`."""
    base = tmp_path_factory.mktemp("dockyard")
    svc = ImageService(base / "root")
    try:
        svc.load(docker_archive)
        yield svc
    finally:
        svc.close()
        unmount_below(base)
        shutil.rmtree(base, ignore_errors=True)


def test_docker_save_loads_with_the_same_ids(dockerd: Dockerd, loaded: ImageService) -> None:
    for name in FAMILY:
        theirs = json.loads(_ok(dockerd.docker("image", "inspect", name)))[0]
        ours = loaded.inspect(name)
        assert ours["Id"] == theirs["Id"], name
        assert ours["RootFS"] == theirs["RootFS"], name
    assert len(loaded.config("layered:2").rootfs.diff_ids) == 3
    assert len(loaded.config("built:1").rootfs.diff_ids) == 4


@pytest.mark.parametrize("name", FAMILY)
def test_inspect_matches_docker_field_by_field(dockerd: Dockerd, loaded: ImageService, name: str) -> None:
    status, theirs = api(dockerd, "GET", f"/images/{name}/json")
    assert status == 200
    ours = loaded.inspect(name)
    assert list(ours) == list(theirs)
    for key in theirs:
        if key == "GraphDriver":
            assert set(ours[key]) == set(theirs[key]) == {"Data", "Name"}
        elif key == "Metadata":
            assert set(ours[key]) == {"LastTagTime"}
        else:
            assert ours[key] == theirs[key], key


@pytest.mark.parametrize("name", FAMILY)
def test_history_matches_docker(dockerd: Dockerd, loaded: ImageService, name: str) -> None:
    status, theirs = api(dockerd, "GET", f"/images/{name}/history")
    assert status == 200
    assert loaded.history(name) == theirs


def test_image_list_matches_docker(dockerd: Dockerd, loaded: ImageService) -> None:
    for query, all_ in (("", False), ("?all=1", True)):
        status, theirs = api(dockerd, "GET", "/images/json" + query)
        assert status == 200
        ours = loaded.list_images(all=all_)
        assert sorted(ours, key=lambda i: i["Id"]) == sorted(theirs, key=lambda i: i["Id"])
        assert [i["Created"] for i in ours] == sorted((i["Created"] for i in ours), reverse=True)


def _members(data: bytes) -> dict[str, tuple[str, bytes]]:
    out: dict[str, tuple[str, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            content = tf.extractfile(m).read() if m.isreg() else m.linkname.encode()  # type: ignore[union-attr]
            out[m.name.rstrip("/")] = ("dir" if m.isdir() else "link" if m.issym() else "file", content)
    return out


def test_dockyard_save_writes_what_docker_save_writes(dockerd: Dockerd, loaded: ImageService, tmp_path: Path) -> None:
    theirs = _ok(dockerd.docker("save", "layered:2"))
    out = io.BytesIO()
    loaded.save(["layered:2"], out)
    t, o = _members(theirs), _members(out.getvalue())
    assert sorted(o) == sorted(t)
    for name in t:
        assert o[name] == t[name], name


def test_dockyard_images_load_and_run_in_docker(dockerd: Dockerd, busybox_tar: bytes, tmp_path: Path) -> None:
    with ImageService(tmp_path / "root") as images:
        base = images.import_rootfs(io.BytesIO(busybox_tar), repo="dy/base", changes=['CMD ["sh"]'], message="from dockyard")
        images.snapshotter.prepare("ctr", images.rootfs_parent(base))
        with tempfile.TemporaryDirectory() as mnt:
            mount_all(images.snapshotter.mounts("ctr"), mnt)
            try:
                Path(mnt, "hello").write_text("from a dockyard layer\n")
                Path(mnt, "bin", "vi").unlink()
            finally:
                unmount_all(mnt)
        child = images.commit(container_id="a" * 64, snapshot_key="ctr", image=base,
                              container_config=ContainerConfig(cmd=["sh", "-c", "echo > /hello"]),
                              changes=['CMD ["cat", "/hello"]'], comment="a layer", repo="dy/child", tag="1")
        archive = tmp_path / "dy.tar"
        images.save(["dy/base", "dy/child:1"], archive)
        out = _ok(dockerd.docker("load", "-i", str(archive))).decode()
        assert sorted(out.split("\n")[:-1]) == ["Loaded image: dy/base:latest", "Loaded image: dy/child:1"]
        assert _ok(dockerd.docker("run", "--rm", "dy/child:1", "echo", "ok")) == b"ok\n"
        assert _ok(dockerd.docker("run", "--rm", "dy/child:1")) == b"from a dockyard layer\n"
        assert _ok(dockerd.docker("run", "--rm", "dy/child:1", "sh", "-c", "test -e /bin/vi || echo gone")) == b"gone\n"
        theirs = json.loads(_ok(dockerd.docker("image", "inspect", "dy/child:1")))[0]
        assert theirs["Id"] == child and theirs["Parent"] == base
        for key in ("RootFS", "Config", "ContainerConfig", "Comment", "Created", "Author", "Container", "Size"):
            assert theirs[key] == images.inspect("dy/child:1")[key], key
        assert api(dockerd, "GET", "/images/dy/child:1/history")[1] == images.history("dy/child:1")
        images.snapshotter.remove("ctr")
        _ok(dockerd.docker("rmi", "dy/child:1", "dy/base"))


IMPORT_CHANGES = [
    ['CMD ["sh"]'],
    ["CMD echo hello world"],
    ["ENTRYPOINT /bin/sh -c", "CMD true"],
    ['CMD ["a"]', "ENTRYPOINT [\"/bin/echo\"]"],
    ["ENV A=1 B=2", "ENV C=$A-${B}", "ENV D ${C:-x} and more", 'ENV E="quoted value" F=a\\ b'],
    ["LABEL k=v", 'LABEL "key with space"="v 2" other=$HOME'],
    ["EXPOSE 80 443/tcp 53/udp 7000-7002"],
    ["USER www-data:www-data"],
    ["WORKDIR /a", "WORKDIR b/../c", "ENV D=/d", "WORKDIR $D"],
    ["VOLUME /data", 'VOLUME ["/x", "/y"]'],
    ["ONBUILD RUN echo hi", "ONBUILD ADD . /src"],
    ["HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD [\"true\"]"],
    ["HEALTHCHECK NONE"],
]


@pytest.mark.parametrize("changes", IMPORT_CHANGES, ids=[c[0][:24] for c in IMPORT_CHANGES])
def test_import_changes_match_docker(dockerd: Dockerd, busybox_tar: bytes, tmp_path: Path, changes: list[str]) -> None:
    args = [a for c in changes for a in ("-c", c)]
    image_id = _ok(dockerd.docker("import", *args, "-", input=busybox_tar)).decode().strip()
    theirs = json.loads(_ok(dockerd.docker("image", "inspect", image_id)))[0]
    _ok(dockerd.docker("rmi", image_id))
    with ImageService(tmp_path / "root") as images:
        ours = images.inspect(images.import_rootfs(io.BytesIO(busybox_tar), changes=changes))
    assert ours["Config"] == theirs["Config"]
    assert ours["RootFS"] == theirs["RootFS"] and ours["Size"] == theirs["Size"]
    assert ours["Comment"] == theirs["Comment"] == "Imported from -"


@pytest.mark.parametrize("changes", [["RUN true"], ["FROM scratch"], ["COPY a b"], ["STOPSIGNAL SIGKILL"]])
def test_invalid_changes_are_refused_as_docker_refuses_them(dockerd: Dockerd, busybox_tar: bytes, tmp_path: Path,
                                                             changes: list[str]) -> None:
    result = dockerd.docker("import", "-c", changes[0], "-", input=busybox_tar)
    with ImageService(tmp_path / "root") as images:
        if result.returncode == 0:
            _ok(dockerd.docker("rmi", result.stdout.decode().strip()))
            images.import_rootfs(io.BytesIO(busybox_tar), changes=changes)
            return
        with pytest.raises(InvalidArgument) as info:
            images.import_rootfs(io.BytesIO(busybox_tar), changes=changes)
    assert str(info.value) in result.stderr.decode()


BAD_NAMES = ["Busybox", "-x", "a:b:c", "x@sha256:abc", "sha256", "a" * 64, "UPPER/x", "x" * 256, "loc:5000/A"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[n[:20] for n in BAD_NAMES])
def test_reference_errors_match_dockerd(dockerd: Dockerd, name: str) -> None:
    status, body = api(dockerd, "POST", "/images/busybox/tag?" + urllib.parse.urlencode({"repo": name}))
    assert status >= 400
    with pytest.raises(InvalidArgument) as info:
        parse_tag_target(name)
    assert str(info.value) == body["message"]


def test_rmi_matches_docker(dockerd: Dockerd, docker_archive: Path, tmp_path: Path) -> None:
    """The same removals on both sides (the same images, so the same ids): the same records and
    the same conflicts, word for word."""
    def both(name: str, force: bool = False) -> tuple[Any, Any]:
        status, theirs = api(dockerd, "DELETE", f"/images/{name}?force={int(force)}")
        try:
            ours: Any = images.remove(name, force=force)
        except DockyardError as err:
            ours = {"message": str(err)}
        return ours, theirs if status < 400 else {"message": theirs["message"]}

    layered2 = json.loads(_ok(dockerd.docker("image", "inspect", "layered:2")))[0]["Id"]
    layered1 = json.loads(_ok(dockerd.docker("image", "inspect", "layered:1")))[0]["Id"]
    with ImageService(tmp_path / "root") as images:
        images.load(docker_archive)
        try:
            for name in ("rmtest:a", "other/rmtest:b"):
                repo, tag = name.split(":")
                assert api(dockerd, "POST", f"/images/layered:2/tag?repo={repo}&tag={tag}")[0] == 201
                images.tag("layered:2", repo, tag)
            steps = [("rmtest:a", False), (layered2[7:19], False), (layered1, False), (layered1, True),
                     ("other/rmtest:b", False), ("built:1", False)]
            for name, force in steps:
                ours, theirs = both(name, force)
                assert ours == theirs, (name, force)
            assert sorted(i["Id"] for i in images.list_images(all=True)) == sorted(
                i["Id"] for i in api(dockerd, "GET", "/images/json?all=1")[1])
        finally:
            dockerd.docker("rmi", "rmtest:a", "other/rmtest:b")
            _ok(dockerd.docker("load", "-i", str(docker_archive)))
