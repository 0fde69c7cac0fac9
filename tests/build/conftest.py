"""Fixtures for the builder tests: a private image store with busybox imported (the same tar the
corpus recorder imports into dockerd), a Builder whose RUN containers use a private runtime root
and cgroup parent, and checks that a build leaves nothing behind.

Everything a test makes goes, pass or fail: mounts under its tmp_path are unmounted, the runtime
state and the cgroup parent are removed, tmp_path is deleted.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockyard.build import Builder
from dockyard.images import ImageService
from dockyard.snapshots import Kind
from tests.helpers.dockerd import _remove_cgroup_tree as remove_cgroup_tree
from tests.helpers.dockerd import _unmount_below as unmount_below


@pytest.fixture(scope="session")
def busybox_tar(busybox_rootfs: Path) -> bytes:
    return subprocess.run(["tar", "-C", str(busybox_rootfs), "-c", "."], capture_output=True, check=True).stdout


@dataclass
class Env:
    root: Path
    images: ImageService
    builder: Builder
    runtime_root: Path
    busybox_id: str

    def state(self) -> dict[str, Any]:
        """What a failed build must leave as it found it (images aside: Docker keeps the images of
        the steps that succeeded)."""
        snapshots = sorted((i.key, i.kind.value) for i in self.images.snapshotter.walk())
        with self.images.db.read() as conn:
            leases = conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
        return {"snapshots": snapshots, "leases": leases,
                "blobs": sorted(str(i.digest) for i in self.images.content.walk())}

    def assert_clean(self) -> None:
        """No active or view snapshots, no leases, no runtime state, nothing in the builder's work
        directory, and nothing the garbage collector would remove (every blob and layer is an
        image's)."""
        active = [i.key for i in self.images.snapshotter.walk() if i.kind != Kind.COMMITTED]
        assert active == []
        with self.images.db.read() as conn:
            assert conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
        if self.runtime_root.exists():
            assert [p.name for p in self.runtime_root.iterdir() if not p.name.startswith(".")] == []
        if self.builder.work_root.exists():
            assert list(self.builder.work_root.iterdir()) == []
        result = self.images.gc()
        assert (result.content, result.snapshots) == ([], []), result


@pytest.fixture
def env(tmp_path: Path, busybox_tar: bytes) -> Iterator[Env]:
    cgroup_parent = f"/dockyard-test-build-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "root"
    images = ImageService(root)
    try:
        busybox_id = images.import_rootfs(io.BytesIO(busybox_tar), repo="busybox", changes=['CMD ["sh"]'])
        runtime_root = tmp_path / "runtime"
        builder = Builder(images, runtime_root=str(runtime_root), work_root=root / "builder",
                          cgroup_parent=cgroup_parent)
        yield Env(root, images, builder, runtime_root, busybox_id)
    finally:
        images.close()
        unmount_below(tmp_path)
        try:
            remove_cgroup_tree(cgroup_parent)
        except OSError:
            pass
        shutil.rmtree(tmp_path, ignore_errors=True)
        with open("/proc/self/mountinfo") as f:
            assert not [line for line in f if line.split()[4].startswith(str(tmp_path))]
