"""Offline base images: busybox from the host's static busybox (for real), and Debian's clear
refusal when there is no mirror on this host (it never reaches for the network)."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from dockyard.errors import Unavailable
from dockyard.images import ImageService, bootstrap_busybox, bootstrap_debian
from dockyard.images import bootstrap as bootstrap_module
from dockyard.snapshots import mount_all, unmount_all
from tests.images.conftest import docker_size, store_state


def test_bootstrap_busybox(images: ImageService, busybox_rootfs: Path) -> None:
    image_id = bootstrap_busybox(images)
    info = images.inspect("busybox:latest")
    assert info["Id"] == image_id and info["Config"]["Cmd"] == ["sh"] and info["RepoTags"] == ["busybox:latest"]
    assert info["Size"] == docker_size(busybox_rootfs)
    # the same host busybox gives the same layer again
    again = bootstrap_busybox(images)
    assert images.config(again).rootfs.diff_ids == images.config(image_id).rootfs.diff_ids
    images.snapshotter.prepare("run", images.rootfs_parent("busybox"))
    try:
        with tempfile.TemporaryDirectory() as mnt:
            mount_all(images.snapshotter.mounts("run"), mnt)
            try:
                out = subprocess.run(["chroot", mnt, "/bin/sh", "-c", "id -un; ls /bin/ls"], capture_output=True,
                                     text=True, check=True).stdout
            finally:
                unmount_all(mnt)
        assert out == "root\n/bin/ls\n"
    finally:
        images.snapshotter.remove("run")


def test_bootstrap_debian_fails_fast_without_a_local_mirror(images: ImageService, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_DEBIAN_MIRROR", raising=False)
    monkeypatch.setattr(bootstrap_module, "LOCAL_MIRROR_CANDIDATES", (str(tmp_path / "no-mirror"),))
    before = store_state(images)
    start = time.monotonic()
    with pytest.raises(Unavailable, match=r"no local Debian mirror with dists/bookworm/Release found \(looked in "
                                          rf"{tmp_path / 'no-mirror'}\); dockyard never downloads"):
        bootstrap_debian(images)
    with pytest.raises(Unavailable, match=re.escape("refusing mirror http://deb.debian.org/debian: dockyard bootstraps offline")):
        bootstrap_debian(images, mirror="http://deb.debian.org/debian")
    assert time.monotonic() - start < 2
    assert store_state(images) == before
