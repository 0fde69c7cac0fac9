"""OCI image layouts and archives written by dockyard, read by skopeo (containers/image), and
layouts written by skopeo, read by dockyard."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.images import ImageService
from tests.images.conftest import store_state

pytestmark = pytest.mark.slow


def skopeo(*args: str) -> bytes:
    result = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _inspect(transport: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(skopeo("inspect", transport))
    return out


def test_skopeo_reads_a_dockyard_layout(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    image = images.resolve("busybox")
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    manifest = (layout / "blobs" / entry["digest"].replace(":", "/")).read_bytes()
    info = _inspect(f"oci:{layout}")
    assert info["Digest"] == entry["digest"]
    assert info["Layers"] == [layer.digest for layer in images.store.manifest(image).layers]
    assert (info["Architecture"], info["Os"], info["RepoTags"]) == ("amd64", "linux", [])
    assert skopeo("inspect", "--raw", f"oci:{layout}") == manifest
    assert skopeo("inspect", "--config", "--raw", f"oci:{layout}") == images.store.read_blob(busybox)
    copy = tmp_path / "copy"
    skopeo("copy", f"oci:{layout}", f"dir:{copy}")
    assert (copy / "manifest.json").read_bytes() == manifest
    for blob in copy.iterdir():
        if blob.name not in ("manifest.json", "version"):
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert (copy / busybox[7:]).read_bytes() == images.store.read_blob(busybox)


def test_skopeo_selects_by_tag_and_reads_archives(images: ImageService, busybox: str, tmp_path: Path) -> None:
    images.tag("busybox", "busybox", "v2")
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    index = json.loads((layout / "index.json").read_text())
    assert sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]) == ["latest", "v2"]
    assert sorted(m["annotations"]["io.containerd.image.name"] for m in index["manifests"]) == [
        "docker.io/library/busybox:latest", "docker.io/library/busybox:v2"]
    digest = index["manifests"][0]["digest"]
    assert _inspect(f"oci:{layout}:v2")["Digest"] == digest
    images.save(["busybox:v2"], tmp_path / "oci.tar", format="oci")
    assert _inspect(f"oci-archive:{tmp_path / 'oci.tar'}:v2")["Digest"] == digest
    images.save(["busybox:v2"], tmp_path / "docker.tar")
    info = _inspect(f"docker-archive:{tmp_path / 'docker.tar'}")
    assert info["Layers"] == images.inspect("busybox")["RootFS"]["Layers"]  # (RepoTags: a registry's tag list)


def test_dockyard_loads_what_skopeo_writes(images: ImageService, busybox: str, tmp_path: Path) -> None:
    images.save(["busybox"], tmp_path / "docker.tar")
    layout = tmp_path / "from-skopeo"
    skopeo("copy", f"docker-archive:{tmp_path / 'docker.tar'}", f"oci:{layout}:latest")
    config_digest = json.loads(skopeo("inspect", "--raw", f"oci:{layout}"))["config"]["digest"]
    with ImageService(tmp_path / "other") as other:
        result = other.load(layout)
        # skopeo rewrites the Docker config as an OCI one (a new id); a bare tag in ref.name names nothing
        assert result.image_ids == [config_digest] and result.messages == [f"Loaded image ID: {config_digest}"]
        assert other.inspect(config_digest)["RootFS"] == images.inspect("busybox")["RootFS"]
        assert other.inspect(config_digest)["Size"] == images.inspect("busybox")["Size"]
        copy = tmp_path / "oci-copy"
        skopeo("copy", f"oci:{layout}:latest", f"oci-archive:{copy}.tar:docker.io/library/copied:1")
        assert other.load(Path(f"{copy}.tar")).messages == ["Loaded image: copied:1"]


def test_multi_platform_index_loads_this_platform(images: ImageService, busybox: str, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images.save_oci_layout(["busybox"], layout)
    [amd64] = json.loads((layout / "index.json").read_text())["manifests"]
    amd64.pop("annotations")
    arm64 = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7,
             "digest": "sha256:" + hashlib.sha256(b"missing").hexdigest(),  # absent: never needed here
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        arm64, {**amd64, "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(index)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": len(index),
         "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"}}]}))
    with ImageService(tmp_path / "other") as other:
        assert other.load(layout).messages == ["Loaded image: multi:1"]
        assert other.resolve("multi:1").id == busybox
        [ref] = other.store.refs_of(busybox)
        assert (ref.target.digest, ref.target.media_type) == (digest, "application/vnd.oci.image.index.v1+json")
        before = store_state(other)
        assert other.gc().content == [] and store_state(other) == before  # the index and its manifest stay
        other.save(["multi:1"], tmp_path / "again.tar")
        layer = other.config(busybox).rootfs.diff_ids[0]
        assert other.remove("multi:1") == [{"Untagged": "multi:1"}, {"Deleted": busybox}, {"Deleted": layer}]
        assert store_state(other)["blobs"] == []
