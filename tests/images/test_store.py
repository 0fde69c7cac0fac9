"""The image store through ImageService: import, names, Docker's views, removal rules, commit, GC."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.images import ImageService, ImageUse
from dockyard.images.store import EMPTY_LAYER_DIFF_ID
from dockyard.metadata import CONTENT, Leases, MetadataDB
from dockyard.oci.image_spec import ContainerConfig
from dockyard.snapshots import mount_all, unmount_all
from tests.images.conftest import docker_size, store_state


def test_import_inspect_list_history(images: ImageService, busybox: str, busybox_rootfs: Path, busybox_tar: bytes) -> None:
    info = images.inspect("busybox")
    assert list(info) == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig",
                          "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "GraphDriver",
                          "RootFS", "Metadata"]
    assert info["Id"] == busybox and info["RepoTags"] == ["busybox:latest"] and info["RepoDigests"] == []
    assert info["Comment"] == "Imported from -" and info["Parent"] == "" and info["Container"] == ""
    assert info["Config"]["Cmd"] == ["sh"] and info["ContainerConfig"]["Cmd"] is None
    assert info["Size"] == info["VirtualSize"] == docker_size(busybox_rootfs)
    assert info["RootFS"]["Layers"] == ["sha256:" + __import__("hashlib").sha256(busybox_tar).hexdigest()]
    assert info["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    for name in ("busybox:latest", "docker.io/library/busybox", busybox, busybox[7:], busybox[7:19], busybox[:19]):
        assert images.resolve(name).id == busybox
    with pytest.raises(NotFound, match=r"^No such image: nothere:latest$"):
        images.resolve("nothere")
    with pytest.raises(InvalidArgument, match="repository name must be lowercase"):
        images.resolve("BusyBox")
    [summary] = images.list_images()
    assert summary == {"Containers": -1, "Created": summary["Created"], "Id": busybox, "Labels": None, "ParentId": "",
                       "RepoDigests": None, "RepoTags": ["busybox:latest"], "SharedSize": -1,
                       "Size": info["Size"], "VirtualSize": info["Size"]}
    [entry] = images.history("busybox")
    assert entry == {"Comment": "Imported from -", "Created": summary["Created"], "CreatedBy": "", "Id": busybox,
                     "Size": info["Size"], "Tags": ["busybox:latest"]}


def test_import_with_changes_and_message(images: ImageService, busybox_tar: bytes) -> None:
    changes = ['CMD echo "$HOME"', "ENV A=1 B=two\\ words", "ENV C=${A}x", "EXPOSE 80 53/udp 8000-8001",
               "LABEL k=v 'quoted key'=\"x y\"", "USER nobody", "WORKDIR /srv", "WORKDIR app", "VOLUME /data /x",
               "ONBUILD RUN make", "HEALTHCHECK --interval=5s --retries=3 CMD true", "ENTRYPOINT [\"/bin/sh\"]"]
    image_id = images.import_rootfs(io.BytesIO(busybox_tar), repo="imp", tag="v1", changes=changes, message="hello")
    info = images.inspect("imp:v1")
    config = info["Config"]
    assert info["Id"] == image_id and info["Comment"] == "hello"
    assert config["Cmd"] == ["/bin/sh", "-c", 'echo "$HOME"']  # set before ENTRYPOINT, so kept
    assert config["Env"] == ["A=1", "B=two words", "C=1x"]
    assert config["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert config["Labels"] == {"k": "v", "quoted key": "x y"} and config["User"] == "nobody"
    assert config["WorkingDir"] == "/srv/app" and config["Volumes"] == {"/data": {}, "/x": {}}
    assert config["OnBuild"] == ["RUN make"] and config["Entrypoint"] == ["/bin/sh"]
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 3}
    assert images.history("imp:v1")[0]["Comment"] == "hello"
    with pytest.raises(InvalidArgument, match=r"^run is not a valid change command$"):
        images.import_rootfs(io.BytesIO(busybox_tar), changes=["RUN true"])
    with pytest.raises(InvalidArgument, match="cannot import digest reference"):
        images.import_rootfs(io.BytesIO(busybox_tar), repo="x@sha256:" + "a" * 64)


def test_tag_untag_and_remove_by_name(images: ImageService, busybox: str) -> None:
    assert images.tag("busybox", "localhost:5000/team/box", "v1") == "localhost:5000/team/box:v1"
    assert images.tag(busybox[7:19], "other") == "other:latest"
    assert images.inspect("busybox")["RepoTags"] == ["busybox:latest", "localhost:5000/team/box:v1", "other:latest"]
    assert images.remove("other") == [{"Untagged": "other:latest"}]
    assert images.untag("localhost:5000/team/box:v1") == "localhost:5000/team/box:v1"
    with pytest.raises(NotFound, match="No such image: other:latest"):
        images.untag("other")
    top = _top(images, busybox)
    assert images.remove("busybox") == [{"Untagged": "busybox:latest"}, {"Deleted": busybox}, {"Deleted": top}]
    state = store_state(images)
    assert state["images"] == state["refs"] == state["layers"] == []
    assert state["blobs"] == [] and state["snapshots"] == []


def _top(images: ImageService, image_id: str) -> str:
    top = images.store.top_layer(image_id)
    assert top is not None
    return top


def test_remove_records_and_conflicts(data_root: Path, busybox_tar: bytes) -> None:
    users: dict[str, list[ImageUse]] = {}
    with ImageService(data_root, in_use=lambda image_id: users.get(image_id, [])) as images:
        image_id = images.import_rootfs(io.BytesIO(busybox_tar), repo="busybox")
        top = _top(images, image_id)
        short = image_id[7:19]
        images.tag("busybox", "mirror/busybox", "1")
        with pytest.raises(Conflict, match=rf"^conflict: unable to delete {short} \(must be forced\) - image is referenced "
                                           "in multiple repositories$"):
            images.remove(image_id)
        users[image_id] = [ImageUse("c" * 64, running=False)]
        assert images.remove("mirror/busybox:1") == [{"Untagged": "mirror/busybox:1"}]  # more names left: plain untag
        with pytest.raises(Conflict, match=rf'^conflict: unable to remove repository reference "busybox" \(must force\) - '
                                           rf"container {'c' * 12} is using its referenced image {short}$"):
            images.remove("busybox")
        with pytest.raises(Conflict, match=rf"\(must be forced\) - image is being used by stopped container {'c' * 12}$"):
            images.remove(short)
        users[image_id] = [ImageUse("d" * 64, running=True)]
        with pytest.raises(Conflict, match=rf"\(cannot be forced\) - image is being used by running container {'d' * 12}$"):
            images.remove(short, force=True)
        users[image_id] = [ImageUse("c" * 64, running=False)]
        assert images.remove(short, force=True) == [{"Untagged": "busybox:latest"}, {"Deleted": image_id},
                                                    {"Deleted": top}]
        with pytest.raises(NotFound):
            images.resolve(image_id)


def test_prune_dangling_and_unused(images: ImageService, busybox: str, busybox_tar: bytes) -> None:
    newer = images.import_rootfs(io.BytesIO(busybox_tar), repo="busybox", changes=['CMD ["echo"]'])
    assert newer != busybox
    dangling = [i for i in images.list_images() if i["RepoTags"] == ["<none>:<none>"]]
    assert [i["Id"] for i in dangling] == [busybox] and dangling[0]["RepoDigests"] == ["<none>@<none>"]
    assert [i["Id"] for i in images.list_images(filters={"dangling": ["true"]})] == [busybox]
    report = images.prune()
    # the dangling image goes; its layer is shared with busybox:latest, so no layer is deleted
    assert report == {"ImagesDeleted": [{"Deleted": busybox}], "SpaceReclaimed": 0}
    assert images.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    size = images.inspect("busybox")["Size"]
    report = images.prune(all=True)
    assert report["ImagesDeleted"] == [{"Untagged": "busybox:latest"}, {"Deleted": newer}, {"Deleted": _top_of(report)}]
    assert report["SpaceReclaimed"] == size
    assert store_state(images)["blobs"] == []


def _top_of(report: dict[str, object]) -> str:
    deleted = report["ImagesDeleted"]
    assert isinstance(deleted, list)
    return str(deleted[-1]["Deleted"])


@contextmanager
def _mounted(images: ImageService, key: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        mount_all(images.snapshotter.mounts(key), tmp)
        try:
            yield Path(tmp)
        finally:
            unmount_all(tmp)


def test_commit_adds_a_layer_with_docker_semantics(images: ImageService, busybox: str) -> None:
    parent_top = images.rootfs_parent("busybox")
    images.snapshotter.prepare("ctr-1", parent_top)
    with _mounted(images, "ctr-1") as root:
        (root / "hello").write_text("hi\n")
        os.unlink(root / "etc" / "hostname")
        os.symlink("/hello", root / "link")
    container_config = ContainerConfig(hostname="abc", cmd=["sh", "-c", "echo hi > /hello"], image="busybox",
                                       env=["FOO=bar"], labels={"a": "b"})
    new_id = images.commit(container_id="f" * 64, snapshot_key="ctr-1", image="busybox",
                           container_config=container_config, changes=["ENV X=1"], author="me <me@x>",
                           comment="add hello", repo="committed", tag="v1")
    info = images.inspect("committed:v1")
    assert info["Id"] == new_id and info["Parent"] == busybox and info["Container"] == "f" * 64
    assert info["Author"] == "me <me@x>" and info["Comment"] == "add hello"  # from history, as Docker shows it
    assert info["Config"]["Env"] == ["FOO=bar", "X=1"] and info["Config"]["Cmd"] == ["sh", "-c", "echo hi > /hello"]
    assert info["Config"]["Labels"] == {"a": "b"} and info["ContainerConfig"]["Hostname"] == "abc"
    assert len(info["RootFS"]["Layers"]) == 2
    history = images.history("committed:v1")
    assert [(h["Id"], h["CreatedBy"], h["Comment"], h["Tags"]) for h in history] == [
        (new_id, "sh -c echo hi > /hello", "add hello", ["committed:v1"]),
        (busybox, "", "Imported from -", ["busybox:latest"])]
    assert history[0]["Size"] == len("hi\n") + len("/hello")
    assert info["Size"] == images.inspect("busybox")["Size"] + history[0]["Size"]
    # the new image's filesystem is the container's
    images.snapshotter.prepare("ctr-2", images.rootfs_parent("committed:v1"))
    with _mounted(images, "ctr-2") as root:
        assert (root / "hello").read_text() == "hi\n" and not (root / "etc" / "hostname").exists()
        assert os.readlink(root / "link") == "/hello"
    # nothing changed: an empty layer, recorded in history only
    empty_id = images.commit(container_id="e" * 64, snapshot_key="ctr-2", image="committed:v1",
                             container_config=ContainerConfig(cmd=["true"]))
    config = images.config(empty_id)
    assert config.rootfs.diff_ids == images.config(new_id).rootfs.diff_ids
    assert config.history[-1].empty_layer and EMPTY_LAYER_DIFF_ID not in config.rootfs.diff_ids
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image has dependent child images"):
        images.remove(busybox[7:], force=True)
    for key in ("ctr-1", "ctr-2"):
        images.snapshotter.remove(key)


def test_gc_respects_leases(images: ImageService, busybox: str) -> None:
    before = store_state(images)
    stray = images.content.write_bytes(b"not referenced by anything")
    lease = Leases(images.db).create({"test": "1"})
    Leases(images.db).add(lease.id, CONTENT, str(stray.digest))
    assert images.gc().content == []
    Leases(images.db).delete(lease.id)
    result = images.gc()
    assert result.content == [str(stray.digest)] and result.bytes_freed == len(b"not referenced by anything")
    assert store_state(images) == before


def test_metadata_database_is_wal(data_root: Path) -> None:
    db = MetadataDB.open(data_root)
    try:
        with db.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        db.close()
    assert (data_root / "metadata.db").exists()


def test_save_load_round_trip_within_dockyard(images: ImageService, busybox: str, tmp_path: Path) -> None:
    images.tag("busybox", "second", "x")
    for fmt in ("docker", "oci"):
        archive = tmp_path / f"{fmt}.tar"
        images.save(["busybox", "second:x"], archive, format=fmt)
        with ImageService(tmp_path / f"other-{fmt}") as other:
            result = other.load(archive)
            assert result.image_ids == [busybox]
            assert sorted(result.messages) == ["Loaded image: busybox:latest", "Loaded image: second:x"]
            theirs, ours = other.inspect("second:x"), images.inspect("second:x")
            for key in ("Metadata", "GraphDriver"):
                theirs.pop(key), ours.pop(key)
            assert theirs == ours
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    with ImageService(tmp_path / "other-layout") as other:
        assert other.load(layout).messages == ["Loaded image: busybox:latest"]
        # loading again: nothing new, the same answer
        assert other.load(layout).messages == ["Loaded image: busybox:latest"]


def test_save_and_load_through_pipes_and_gzip(images: ImageService, busybox: str, tmp_path: Path) -> None:
    import gzip
    import threading

    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_fd, 1 << 16), b"")))
    reader.start()
    with os.fdopen(write_fd, "wb") as pipe_out:
        images.save(["busybox"], pipe_out)  # a pipe: no sendfile, the copy loop
    reader.join()
    os.close(read_fd)
    archive = b"".join(chunks)
    with io.BytesIO() as on_disk:
        images.save(["busybox"], on_disk)
        assert on_disk.getvalue() == archive
    for data in (archive, gzip.compress(archive, 1)):
        read_fd, write_fd = os.pipe()
        writer = threading.Thread(target=_write_all, args=(write_fd, data))
        writer.start()
        with ImageService(tmp_path / f"other-{len(data)}") as other, os.fdopen(read_fd, "rb") as pipe_in:
            assert other.load(pipe_in).image_ids == [busybox]
        writer.join()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def test_load_docker_25_style_archive(images: ImageService, busybox: str, tmp_path: Path) -> None:
    """Docker 25+ `docker save` writes an OCI layout and a manifest.json naming files under blobs/."""
    import json
    import tarfile

    oci = io.BytesIO()
    images.save(["busybox"], oci, format="oci")
    layers = [f"blobs/sha256/{d[7:]}" for d in images.config("busybox").rootfs.diff_ids]
    manifest = json.dumps([{"Config": f"blobs/sha256/{busybox[7:]}", "RepoTags": ["busybox:latest"], "Layers": layers}])
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(oci.getvalue())) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        dst.addfile(info, io.BytesIO(manifest.encode()))
    with ImageService(tmp_path / "other") as other:
        result = other.load(io.BytesIO(out.getvalue()))
        assert result.image_ids == [busybox] and result.messages == ["Loaded image: busybox:latest"]


def test_file_errors_are_dockyard_errors(images: ImageService, busybox: str, tmp_path: Path) -> None:
    from dockyard.errors import AlreadyExists, SystemCallError

    with pytest.raises(NotFound, match="no such file or directory"):
        images.load(tmp_path / "absent.tar")
    with pytest.raises(SystemCallError, match=r"create .*/no/such/dir/out\.tar: no such file or directory"):
        images.save(["busybox"], tmp_path / "no" / "such" / "dir" / "out.tar")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(AlreadyExists, match="exists and is not an empty directory"):
        images.save_oci_layout(["busybox"], tmp_path / "full")
    with pytest.raises(NotFound, match="No such image: nothere:latest"):
        images.save(["nothere"], tmp_path / "out.tar")
    assert not (tmp_path / "out.tar").exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_layers_are_unpacked_again(images: ImageService, busybox: str) -> None:
    top = images.rootfs_parent("busybox")
    assert top is not None
    images.snapshotter.remove(top)
    assert images.rootfs_parent("busybox") == top
    assert images.snapshotter.stat(top).kind.value == "committed"
    assert images.inspect("busybox")["Size"] == images.list_images()[0]["Size"]
