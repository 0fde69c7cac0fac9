"""Typed image records: checked parsing, and the byte-exact encoding image ids depend on.

The two configs under data/ were written by Docker 20.10 (`docker import`, then `docker commit`
after `docker run`); their sha256 is the image id Docker gave them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.images.archive import v1_layer_ids
from dockyard.oci import gojson
from dockyard.oci import media_types as mt
from dockyard.oci.image_spec import (
    ContainerConfig,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    Timestamp,
    chain_ids,
    check_digest,
)

DATA = Path(__file__).parent / "data"
IMPORT_ID = "sha256:5ee9fd52ae2ae2f0fd1719b0715d81c1b72c98561a56237cc820f374d6fba7da"
COMMIT_ID = "sha256:58645d4d04c2a88168e7b416bb7d4e6a844be503406ea4a11df4294e099d0849"
D = "sha256:" + "0" * 64


def _config(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize(("name", "image_id"), [("docker-20.10-import-config.json", IMPORT_ID),
                                                ("docker-20.10-commit-config.json", COMMIT_ID)])
def test_docker_config_reencodes_byte_for_byte(name: str, image_id: str) -> None:
    data = _config(name)
    assert "sha256:" + hashlib.sha256(data).hexdigest() == image_id
    config = ImageConfig.from_bytes(data)
    assert config.to_bytes() == data


def test_docker_config_fields() -> None:
    config = ImageConfig.from_bytes(_config("docker-20.10-commit-config.json"))
    assert config.architecture == "amd64" and config.os == "linux"
    assert config.container == "fcb8c6a6b64ce56a74aa566b4d19c430df27075441ec49fa5eadb4ffe467b820"
    assert config.config is not None and config.config.cmd == ["sh", "-c", "echo x > /second"]
    assert config.config.labels == {"a": "b"} and config.config.volumes is None and config.config.network_disabled
    assert [h.comment for h in config.history] == ["Imported from -", "add hello", ""]
    assert config.history[1].author == "me <me@x>"
    assert config.created is not None and config.created.rfc3339nano() == "2026-11-27T21:01:22.209949312Z"
    assert len(config.rootfs.diff_ids) == 3


def test_v1_layer_ids_match_docker_save() -> None:
    # the layer directory names `docker save` gave these images
    assert v1_layer_ids(ImageConfig.from_bytes(_config("docker-20.10-import-config.json"))) == [
        "1ecd6fe0d1ae440e5a28ebd8915a04b8d015355465961acae57544623f6ad0ac"]
    assert v1_layer_ids(ImageConfig.from_bytes(_config("docker-20.10-commit-config.json"))) == [
        "e051d285429fa20c721ca6dbdddeb741b69ab03935ad8535027324ad75b86dcf",
        "8918b4e84e3529fb9a17a7c85c25f3ee4669b53c00a5820e1d9856fbd40176f7",
        "6b1f9f72eec1b17088609b1ec9c2ceaf6dceca75b5c9c74d5cbe45274c1649f8"]


def test_gojson_escapes_as_go() -> None:
    assert gojson.dumps({"a": "<&>", "b": [1, True, None], "c": "\u2028\x01\n\t\"\\é"}) == (
        b'{"a":"\\u003c\\u0026\\u003e","b":[1,true,null],"c":"\\u2028\\u0001\\n\\t\\"\\\\' + "é".encode() + b'"}')
    assert gojson.dumps("\b\f") == b'"\\u0008\\u000c"'
    assert list(gojson.go_map({"b": 1, "B": 2, "a": 3, "os.version": 4, "os": 5})) == ["B", "a", "b", "os", "os.version"]


def test_timestamps() -> None:
    t = Timestamp.parse("2026-11-27T21:01:22.209949312Z")
    assert t.rfc3339nano() == "2026-11-27T21:01:22.209949312Z" and t.unix() == 1795813282
    assert Timestamp.parse("2020-01-01T00:00:00.500+02:00").rfc3339nano() == "2020-01-01T00:00:00.5+02:00"
    assert Timestamp.parse("2020-01-01T00:00:00.500+02:00").unix() == Timestamp.parse("2019-12-31T22:00:00Z").unix()
    assert Timestamp.parse("2020-01-01T00:00:00.1234567891Z").rfc3339nano() == "2020-01-01T00:00:00.123456789Z"
    assert Timestamp.zero().rfc3339nano() == "0001-01-01T00:00:00Z" and Timestamp.zero().unix() == -62135596800
    with pytest.raises(InvalidArgument, match="not an RFC 3339 time"):
        Timestamp.parse("yesterday")
    with pytest.raises(InvalidArgument):
        Timestamp.parse("2020-13-01T00:00:00Z")


def test_container_config_keeps_null_apart_from_empty() -> None:
    c = ContainerConfig.read({"env": [], "CMD": "sh", "Labels": {}, "ExposedPorts": {"80/tcp": {}}}, "config")
    assert c.env == [] and c.cmd == ["sh"] and c.labels == {} and c.exposed_ports == ["80/tcp"]
    out = c.to_json()
    assert out["Env"] == [] and out["Entrypoint"] is None and out["Labels"] == {} and out["ExposedPorts"] == {"80/tcp": {}}
    assert list(out)[:7] == ["Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts"]
    with pytest.raises(InvalidArgument, match=r"^config\.Env: expected a list of strings$"):
        ContainerConfig.read({"Env": [1]}, "config")


CONFIG_ERRORS = {
    b"{": "not valid JSON",
    b"[]": "image config: expected an object",
    b"{}": "image config.rootfs: is required",
    b'{"rootfs":{"type":"other"}}': "image config.rootfs.type: 'other' is not supported",
    b'{"rootfs":{"type":"layers","diff_ids":["sha256:abc"]}}': "image config.rootfs.diff_ids[0]: invalid checksum digest length",
    b'{"rootfs":{"type":"layers"},"created":"soon"}': "image config.created: 'soon' is not an RFC 3339 time",
    b'{"rootfs":{"type":"layers"},"history":[{"created_by":"x"}]}': "names 1 layers but rootfs has 0",
    b'{"rootfs":{"type":"layers"},"config":{"Cmd":[1]}}': "image config.config.Cmd: expected a list of strings",
}


@pytest.mark.parametrize("data", list(CONFIG_ERRORS))
def test_config_errors_name_the_field(data: bytes) -> None:
    with pytest.raises(InvalidArgument) as info:
        ImageConfig.from_bytes(data)
    assert CONFIG_ERRORS[data] in str(info.value)


def test_manifest_round_trip_and_errors() -> None:
    m = Manifest(Descriptor(mt.OCI_CONFIG, D, 10), [Descriptor(mt.OCI_LAYER_GZIP, D, 20)], annotations={"k": "v"})
    data = m.to_bytes()
    assert json.loads(data) == {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                "config": {"mediaType": mt.OCI_CONFIG, "digest": D, "size": 10},
                                "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": 20}],
                                "annotations": {"k": "v"}}
    assert Manifest.from_bytes(data) == m
    docker = Manifest(Descriptor(mt.DOCKER_CONFIG, D, 1), [], mt.DOCKER_MANIFEST).to_bytes()
    assert docker.startswith(b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
                             b'"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest"')
    with pytest.raises(InvalidArgument, match=r"manifest\.config\.digest: invalid checksum digest format"):
        Manifest.from_bytes(b'{"schemaVersion":2,"config":{"mediaType":"x","digest":"nope","size":1},"layers":[]}')
    with pytest.raises(InvalidArgument, match=r"manifest\.schemaVersion: unsupported schema version 1"):
        Manifest.from_bytes(b'{"schemaVersion":1}')
    with pytest.raises(InvalidArgument, match="an index, not a manifest"):
        Manifest.from_bytes(b'{"schemaVersion":2,"manifests":[]}')
    with pytest.raises(InvalidArgument, match=r"size: must not be negative"):
        Manifest.from_bytes(b'{"schemaVersion":2,"config":{"mediaType":"x","digest":"' + D.encode() + b'","size":-1}}')
    with pytest.raises(InvalidArgument, match="but the descriptor says"):
        Manifest.from_bytes(docker, mt.OCI_MANIFEST)


def test_index_platform_selection() -> None:
    def entry(arch: str, variant: str = "", os: str = "linux") -> Descriptor:
        return Descriptor(mt.OCI_MANIFEST, "sha256:" + hashlib.sha256(f"{os}{arch}{variant}".encode()).hexdigest(), 1,
                          platform=Platform(arch, os, variant))

    arm7, arm6, amd64, arm64, win = entry("arm", "v7"), entry("arm", "v6"), entry("amd64"), entry("arm64", "v8"), entry("amd64", os="windows")
    index = Index([win, arm6, arm7, arm64, amd64])
    assert index.select(Platform("amd64", "linux")) == amd64
    assert index.select(Platform("x86_64", "linux")) == amd64
    assert index.select(Platform("aarch64", "linux")) == arm64
    assert index.select(Platform("arm", "linux", "v6")) == arm6
    assert index.select(Platform("armhf", "linux")) == arm7
    assert index.select(Platform("riscv64", "linux")) is None
    assert Index([win]).select(Platform("amd64", "linux")) is None
    data = index.to_bytes()
    assert Index.from_bytes(data).manifests == index.manifests
    with pytest.raises(InvalidArgument, match=r"index\.manifests: is required"):
        Index.from_bytes(b'{"schemaVersion":2}')


def test_chain_ids_and_digests() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]
    assert check_digest("sha512:" + "f" * 128)
    for bad in ("sha256", "sha256:", ":abc", "sha256:" + "g" * 64, "SHA256:" + "a" * 64):
        with pytest.raises(InvalidArgument):
            check_digest(bad)
