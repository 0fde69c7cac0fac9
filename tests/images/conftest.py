"""Fixtures for the image tests: an ImageService on a private data root, the busybox rootfs as a
tar (made as tests/helpers/dockerd.import_rootfs makes it, so Docker and dockyard import the very
same bytes), and helpers to craft archives and to snapshot a store's whole state."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.images import ImageService
from tests.helpers.dockerd import _unmount_below as unmount_below


@pytest.fixture(autouse=True)
def _clean_tmp_path(tmp_path: Path) -> Iterator[None]:
    """Whatever a test leaves under its tmp_path (data roots, layouts, mounts) goes, pass or fail."""
    yield
    unmount_below(tmp_path)
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def images(data_root: Path) -> Iterator[ImageService]:
    svc = ImageService(data_root)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs: Path) -> bytes:
    return subprocess.run(["tar", "-C", str(busybox_rootfs), "-c", "."], capture_output=True, check=True).stdout


@pytest.fixture
def busybox(images: ImageService, busybox_tar: bytes) -> str:
    """busybox:latest imported into `images`, CMD ["sh"]; its id."""
    return images.import_rootfs(io.BytesIO(busybox_tar), repo="busybox", changes=['CMD ["sh"]'])


def docker_size(root: Path) -> int:
    """Docker's size of a tree (moby's directory.Size): st_size of every non-directory, each inode once."""
    seen: set[int] = set()
    total = 0
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(top, name))
            if not os.path.isdir(os.path.join(top, name)) or os.path.islink(os.path.join(top, name)):
                if st.st_size and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
    return total


def store_state(svc: ImageService) -> dict[str, Any]:
    """Everything a failed operation must leave as it was."""
    with svc.db.read() as conn:
        tables = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())
                  for t in ("images", "refs", "layers", "leases", "lease_resources")}
    return {
        "blobs": sorted(str(i.digest) for i in svc.content.walk()),
        "snapshots": sorted((i.key, i.kind.value) for i in svc.snapshotter.walk()),
        "ingest": sorted(os.listdir(svc.root / "content" / "ingest")),
        **tables,
    }


def make_tar(entries: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, linkname: str = "", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, linkname, mode, 1_600_000_000
    return info, data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_archive(layers: list[bytes], tags: list[str] | None = None, config: dict[str, Any] | None = None,
                   diff_ids: list[str] | None = None) -> bytes:
    """A docker-archive (manifest.json format) of one image with these layer tars."""
    config = config if config is not None else {
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids if diff_ids is not None else [sha256(layer) for layer in layers]},
        "history": [{"created": "2020-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
        "created": "2020-01-01T00:00:00Z"}
    config_bytes = json.dumps(config).encode()
    names = [f"{i:064x}/layer.tar" for i in range(len(layers))]
    manifest = [{"Config": sha256(config_bytes)[7:] + ".json", "RepoTags": tags or [], "Layers": names}]
    files = [entry(sha256(config_bytes)[7:] + ".json", config_bytes), entry("manifest.json", json.dumps(manifest).encode())]
    files += [entry(name, layer) for name, layer in zip(names, layers, strict=True)]
    return make_tar(files)


def rewrite_tar(data: bytes, change: Callable[[tarfile.TarInfo, bytes], bytes | None]) -> bytes:
    """A copy of the tar `data` with each regular file's content replaced by `change(info, content)`
    (None drops the member)."""
    entries: list[tuple[tarfile.TarInfo, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for info in tf:
            content = tf.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
            new = change(info, content) if info.isreg() else content
            if new is not None:
                entries.append((info, new))
    return make_tar(entries)
