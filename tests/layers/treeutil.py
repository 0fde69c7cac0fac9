"""Helpers for layer tests: a full description of a tree, tar builders, and overlay mounts that
are always unmounted."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dockyard.fsutil.mount import Mount, mount_all, unmount_all


def xattrs(path: str) -> dict[str, bytes]:
    try:
        return {n: os.getxattr(path, n, follow_symlinks=False) for n in os.listxattr(path, follow_symlinks=False)}
    except OSError:
        return {}


def tree_state(root: Path, *, times: bool = True) -> dict[str, tuple[Any, ...]]:
    """Everything about a tree that a layer can carry, keyed by relative path ('.' is the root)."""
    out: dict[str, tuple[Any, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        names = ["."] if dirpath == str(root) else []
        for name in names + dirnames + filenames:
            p = dirpath if name == "." else os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            content: Any = None
            if stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(Path(p).read_bytes()).hexdigest()
                if st.st_nlink > 1:
                    content = (content, inodes.setdefault(st.st_ino, rel))
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev if not stat.S_ISDIR(st.st_mode) else 0,
                        st.st_mtime_ns if times else 0, content, tuple(sorted(xattrs(p).items())))
    return out


def make_tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def ti(name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, linkname: str = "",
       mtime: int = 1_600_000_000, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.mtime = mtime
    info.uid, info.gid = uid, gid
    return info


@contextmanager
def overlay(lowers: list[Path], upper: Path, work: Path, target: Path) -> Iterator[Path]:
    """A real overlay mount, unmounted whatever happens."""
    target.mkdir(exist_ok=True)
    opts = [f"lowerdir={':'.join(map(str, lowers))}", f"upperdir={upper}", f"workdir={work}"]
    for name in ("index", "redirect_dir", "metacopy"):
        if os.path.exists(f"/sys/module/overlay/parameters/{name}"):
            opts.append(f"{name}=off")
    mount_all([Mount("overlay", "overlay", tuple(opts))], str(target))
    try:
        yield target
    finally:
        unmount_all(str(target))
