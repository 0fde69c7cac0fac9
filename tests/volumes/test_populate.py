"""A new volume is populated from the image's content at its mount point: the same tree as Docker makes
(the reference dockerd populates one from the same image), and only when the volume is empty."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.oci.runtime_spec import Mount
from dockyard.volumes import VolumeStore, plan_mounts, setup_mounts
from tests.engine.conftest import RefDocker


def _make_tree(root: Path) -> Path:
    app = root / "srv" / "app"
    (app / "sub").mkdir(parents=True)
    (app / "empty").mkdir()
    (app / "file").write_text("hello\n")
    os.chown(app / "file", 1000, 1000)
    os.chmod(app / "file", 0o640)
    os.setxattr(app / "file", "user.note", b"hi")
    os.link(app / "file", app / "hard")
    os.symlink("file", app / "link")
    os.symlink("/nowhere/at/all", app / "dangling")
    os.mkfifo(app / "fifo")
    os.mknod(app / "null", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    (app / "sub" / "deep").write_text("x\n")
    os.chmod(app / "sub" / "deep", 0o4755)
    os.chown(app / "sub", 33, 33)
    os.chmod(app / "sub", 0o750)
    os.chmod(app / "empty", 0o1777)
    for p in (app / "file", app / "sub" / "deep"):
        os.utime(p, ns=(1_577_934_245_000_000_000, 1_577_934_245_123_456_789))
    return app


def _describe(root: Path) -> dict[str, Any]:
    """Every entry below `root`: type, mode, owner, content, link target, device, xattrs, file mtime,
    and which entries are hard links of each other."""
    out: dict[str, Any] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            entry: dict[str, Any] = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(st.st_mode):
                entry["sha"] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
                entry["mtime"] = st.st_mtime_ns
                entry["link_of"] = inodes.setdefault(st.st_ino, rel)
            elif stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if not stat.S_ISLNK(st.st_mode):
                entry["xattrs"] = {k: os.getxattr(full, k) for k in sorted(os.listxattr(full)) if k.startswith("user.")}
            out[rel] = entry
    top = os.lstat(root)
    out["."] = {"mode": oct(top.st_mode), "uid": top.st_uid, "gid": top.st_gid}
    return out


def test_populate_keeps_everything(clean_tmp: Path) -> None:
    rootfs = clean_tmp / "rootfs"
    source = _make_tree(rootfs)
    store = VolumeStore(clean_tmp / "root")
    points = plan_mounts(binds=["data:/srv/app", "/srv/app/sub"], image_volumes=["/srv/app"])
    mounts = setup_mounts(points, store, "c" * 64, rootfs)
    volume = store.get("data")
    assert mounts[0] == Mount("/srv/app", "bind", str(volume.mountpoint), ["rbind"])
    assert _describe(volume.mountpoint) == _describe(source)
    anonymous = Path(mounts[1].source)
    assert _describe(anonymous) == _describe(source / "sub")
    assert store.users("data") == ["c" * 64]


def test_populate_only_when_empty(clean_tmp: Path) -> None:
    rootfs = clean_tmp / "rootfs"
    _make_tree(rootfs)
    store = VolumeStore(clean_tmp / "root")
    volume = store.create("keep")
    (volume.mountpoint / "mine").write_text("user data\n")
    setup_mounts(plan_mounts(binds=["keep:/srv/app"]), store, "c" * 64, rootfs)
    assert sorted(os.listdir(volume.mountpoint)) == ["mine"]
    nocopy = plan_mounts(binds=["fresh:/srv/app:nocopy"])
    setup_mounts(nocopy, store, "c" * 64, rootfs)
    assert os.listdir(store.get("fresh").mountpoint) == []
    missing = plan_mounts(binds=["other:/not/in/image"])
    setup_mounts(missing, store, "c" * 64, rootfs)  # nothing there in the image: nothing to copy, no error
    assert os.listdir(store.get("other").mountpoint) == []


def test_populate_never_leaves_the_rootfs(clean_tmp: Path) -> None:
    """A symlink in the image at the mount path resolves inside the rootfs, not on the host."""
    rootfs = clean_tmp / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "inside").write_text("image file\n")
    os.symlink("/etc", rootfs / "data")
    store = VolumeStore(clean_tmp / "root")
    setup_mounts(plan_mounts(binds=["v1:/data"]), store, "c" * 64, rootfs)
    assert os.listdir(store.get("v1").mountpoint) == ["inside"]


@pytest.mark.docker
def test_same_tree_as_docker(ref_docker: RefDocker, clean_tmp: Path) -> None:
    rootfs = clean_tmp / "rootfs"
    source = _make_tree(rootfs)
    tar = subprocess.run(["tar", "--xattrs", "--xattrs-include=user.*", "-C", str(rootfs), "-c", "."],
                         capture_output=True, check=True).stdout
    imported = ref_docker.docker("import", "-", "populate:test", input=tar)
    assert imported.returncode == 0, imported.stderr.decode()
    try:
        made = ref_docker.docker("create", "--name", "populate", "-v", "popvol:/srv/app", "populate:test", "x")
        assert made.returncode == 0, made.stderr.decode()
        theirs = _describe(ref_docker.data_root / "volumes" / "popvol" / "_data")
    finally:
        ref_docker.docker("rm", "-f", "populate")
        ref_docker.docker("volume", "rm", "-f", "popvol")
        ref_docker.docker("rmi", "populate:test")
    store = VolumeStore(clean_tmp / "root")
    setup_mounts(plan_mounts(binds=["popvol:/srv/app"]), store, "c" * 64, rootfs)
    ours = _describe(store.get("popvol").mountpoint)
    assert ours == theirs
    assert ours == _describe(source)
