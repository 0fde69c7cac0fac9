"""Shared fixtures: a busybox root filesystem built from the host's static busybox."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.images.bootstrap import build_busybox_rootfs


@pytest.fixture(scope="session", autouse=True)
def _must_be_root() -> None:
    if os.geteuid() != 0:
        pytest.exit("dockyard's tests make real namespaces, mounts and cgroups: run them as root", returncode=2)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pristine busybox rootfs. Do not write to it: copy it (see `rootfs_copy`)."""
    return build_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def rootfs_copy(busybox_rootfs: Path, tmp_path: Path) -> Iterator[Path]:
    dest = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", str(busybox_rootfs), str(dest)], check=True)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)
