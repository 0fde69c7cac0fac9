"""Hostile and broken input: every failed load says what is wrong and leaves the store exactly as
it was (blobs, snapshots, ingest files, every metadata table), and nothing is written outside it."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.images import ImageService
from tests.images.conftest import docker_archive, entry, make_tar, rewrite_tar, sha256, store_state

GOOD_LAYER = make_tar([entry("hello", b"hello\n"), entry("dir/", kind=tarfile.DIRTYPE, mode=0o755)])


def _expect_failure(images: ImageService, data: bytes | Path, message: str, kind: type[DockyardError] = InvalidArgument) -> None:
    before = store_state(images)
    with pytest.raises(kind) as info:
        images.load(data if isinstance(data, Path) else io.BytesIO(data))
    assert message in str(info.value)
    assert store_state(images) == before


def test_layer_whose_diff_id_does_not_match(images: ImageService, busybox: str) -> None:
    other = make_tar([entry("other", b"x")])
    _expect_failure(images, docker_archive([GOOD_LAYER], diff_ids=[sha256(other)]),
                    f"invalid diffID for layer 0: expected '{sha256(other)}', got '{sha256(GOOD_LAYER)}'")


def test_compressed_layer_whose_diff_id_does_not_match(images: ImageService, busybox: str) -> None:
    other = make_tar([entry("other", b"x")])
    _expect_failure(images, docker_archive([gzip.compress(GOOD_LAYER)], diff_ids=[sha256(other)]),
                    "invalid diffID for layer 0")


HOSTILE_LAYERS = {
    "dotdot": make_tar([entry("../escape-dockyard-test", b"x")]),
    "dotdot-inside": make_tar([entry("a/", kind=tarfile.DIRTYPE, mode=0o755), entry("a/../../escape-dockyard-test", b"x")]),
    "hardlink-out": make_tar([entry("pw", kind=tarfile.LNKTYPE, linkname="../../../../etc/passwd")]),
    "whiteout-out": make_tar([entry("../.wh.escape-dockyard-test", b"")]),
    "truncated-gzip": gzip.compress(GOOD_LAYER + make_tar([entry("big", os.urandom(64 << 10))]))[:20_000],
    "not-a-tar": b"this is not a tar archive at all" * 64,
}


@pytest.mark.parametrize("name", list(HOSTILE_LAYERS))
def test_hostile_layer_on_top_of_a_shared_layer(images: ImageService, busybox: str, busybox_tar: bytes, tmp_path: Path,
                                                name: str) -> None:
    """The bottom layer is busybox's (already unpacked, shared): the failure must not touch it."""
    layer = HOSTILE_LAYERS[name]
    # a compressed layer's diff id is that of the tar inside; the truncated one never gets that far
    diff_id = sha256(GOOD_LAYER) if name == "truncated-gzip" else sha256(layer)
    archive = docker_archive([busybox_tar, layer], tags=["evil:1"], diff_ids=[sha256(busybox_tar), diff_id])
    before = store_state(images)
    with pytest.raises(DockyardError) as info:
        images.load(io.BytesIO(archive))
    assert str(info.value)
    assert store_state(images) == before
    assert not Path("/escape-dockyard-test").exists() and not (images.root.parent / "escape-dockyard-test").exists()
    # busybox still has its layer and still unpacks containers
    images.snapshotter.prepare("after", images.rootfs_parent("busybox"))
    images.snapshotter.remove("after")


def test_symlink_escape_stays_inside(images: ImageService) -> None:
    marker = f"dockyard-escape-{uuid.uuid4().hex[:8]}"
    layer = make_tar([entry("etc", kind=tarfile.SYMTYPE, linkname="/tmp"), entry(f"etc/{marker}", b"x")])
    before = store_state(images)
    try:
        images.load(io.BytesIO(docker_archive([layer], tags=["sym:1"])))
    except DockyardError:
        assert store_state(images) == before
    assert not Path("/tmp", marker).exists()


def test_blob_whose_digest_does_not_match(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    layer = images.config("busybox").rootfs.diff_ids[0].split(":")[1]
    blob = layout / "blobs" / "sha256" / layer
    data = bytearray(blob.read_bytes())
    data[600] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with ImageService(tmp_path / "other") as other:
        other.import_rootfs(io.BytesIO(GOOD_LAYER), repo="keep")
        _expect_failure(other, layout, f"sha256:{layer}")


def test_manifest_naming_a_missing_blob(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    layer = images.config("busybox").rootfs.diff_ids[0]
    (layout / "blobs" / "sha256" / layer.split(":")[1]).unlink()
    with ImageService(tmp_path / "other") as other:
        other.import_rootfs(io.BytesIO(GOOD_LAYER), repo="keep")
        _expect_failure(other, layout, f"names a missing blob {layer}")
        # the same layout as a tar (oci-archive)
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tf:
            tf.add(layout, arcname=".")
        _expect_failure(other, data.getvalue(), f"names a missing blob {layer}")


def test_descriptor_size_that_does_not_match(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["size"] += 1
    (layout / "index.json").write_text(json.dumps(index))
    with ImageService(tmp_path / "other") as other:
        _expect_failure(other, layout, "size")


def test_index_without_this_platform(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    index = json.loads((layout / "index.json").read_text())
    entry = {k: v for k, v in index["manifests"][0].items() if k != "annotations"}
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{**entry, "platform": {"architecture": "s390x", "os": "linux"}}]}
    data = json.dumps(inner).encode()
    (layout / "blobs" / "sha256" / sha256(data)[7:]).write_bytes(data)
    index["manifests"] = [{"mediaType": inner["mediaType"], "digest": sha256(data), "size": len(data)}]
    (layout / "index.json").write_text(json.dumps(index))
    with ImageService(tmp_path / "other") as other:
        _expect_failure(other, layout, "no matching manifest for linux/amd64 in the manifest list entries", NotFound)


ARCHIVE_ERRORS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "config-outside": (lambda a: rewrite_tar(a, lambda i, d: d.replace(b'"Config": "', b'"Config": "../../../etc/')
                                             if i.name == "manifest.json" else d), "points outside the archive"),
    "missing-layer": (lambda a: rewrite_tar(a, lambda i, d: None if i.name.endswith("layer.tar") else d),
                      "the archive has no file"),
    "manifest-not-json": (lambda a: rewrite_tar(a, lambda i, d: b"[{" if i.name == "manifest.json" else d),
                          "manifest.json: not valid JSON"),
    "no-manifest": (lambda a: rewrite_tar(a, lambda i, d: None if i.name == "manifest.json" else d),
                    "neither manifest.json (docker save) nor index.json"),
    "truncated": (lambda a: a[: len(a) // 2], "not a readable tar archive"),
    "garbage": (lambda a: os.urandom(4096), "not a readable tar archive"),
    "layers-mismatch": (lambda a: rewrite_tar(a, lambda i, d: d.replace(b'"Layers": [', b'"Layers": ["x/layer.tar", ')
                                              if i.name == "manifest.json" else d), "layers length mismatch"),
    "config-no-rootfs": (lambda a: rewrite_tar(a, lambda i, d: d.replace(b'"rootfs"', b'"rootfz"')
                                               if i.name.endswith(".json") and i.name != "manifest.json" else d),
                         "rootfs: is required"),
    "windows": (lambda a: rewrite_tar(a, lambda i, d: d.replace(b'"os": "linux"', b'"os": "windows"')
                                      if i.name.endswith(".json") and i.name != "manifest.json" else d),
                "cannot load windows image on linux"),
    "bad-tag": (lambda a: rewrite_tar(a, lambda i, d: d.replace(b'"good:1"', b'"Bad:1"') if i.name == "manifest.json" else d),
                "repository name must be lowercase"),
}


@pytest.mark.parametrize("name", list(ARCHIVE_ERRORS))
def test_broken_docker_archive(images: ImageService, busybox: str, name: str) -> None:
    change, message = ARCHIVE_ERRORS[name]
    good = docker_archive([GOOD_LAYER], tags=["good:1"])
    images.load(io.BytesIO(good))  # the unbroken archive loads
    images.remove("good:1")
    _expect_failure(images, change(good), message)


def test_one_bad_image_fails_the_whole_archive(images: ImageService, busybox: str) -> None:
    good = docker_archive([GOOD_LAYER], tags=["good:1"])
    bad = docker_archive([make_tar([entry("x", b"x")])], tags=["bad:1"], diff_ids=[sha256(b"nope")])
    with tarfile.open(fileobj=io.BytesIO(good)) as g, tarfile.open(fileobj=io.BytesIO(bad)) as b:
        members = {m.name: (m, g.extractfile(m).read()) for m in g}  # type: ignore[union-attr]
        for m in b:
            data = b.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "manifest.json":
                data = json.dumps(json.loads(members["manifest.json"][1]) + json.loads(data)).encode()
            elif m.name.endswith("/layer.tar"):
                m.name = "b" + m.name[1:]
            members[m.name] = (m, data)
        manifest = json.loads(members["manifest.json"][1])
        manifest[1]["Layers"] = ["b" + p[1:] for p in manifest[1]["Layers"]]
        members["manifest.json"] = (members["manifest.json"][0], json.dumps(manifest).encode())
    _expect_failure(images, make_tar(list(members.values())), "invalid diffID for layer 0")
    with pytest.raises(NotFound):
        images.resolve("good:1")


def test_oversized_metadata_file(images: ImageService, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.images import archive

    monkeypatch.setattr(archive, "SMALL_FILE_LIMIT", 100)
    _expect_failure(images, docker_archive([GOOD_LAYER]), "too large")
