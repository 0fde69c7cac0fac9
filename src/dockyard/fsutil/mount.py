"""mount(2) and umount2(2) through ctypes, and the `Mount` record snapshotters hand out.

Facts:
- Python 3.11's `os` has no mount; glibc exports mount and umount2, called here directly (no
  `mount` subprocess).
- The option string of an overlay mount is copied into one page by the kernel: longer than
  PAGE_SIZE - 1 bytes and the mount fails (EINVAL, or the lowerdir list is silently cut on old
  kernels). Long layer chains are therefore mounted with paths relative to their common parent
  directory, from a thread that first unshares its filesystem attributes (CLONE_FS) and chdirs
  there, so the process's own working directory never changes (containerd's mountAt does the same).
- A read-only bind mount takes two calls: MS_BIND, then MS_REMOUNT|MS_BIND|MS_RDONLY.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, SystemCallError

_libc = ctypes.CDLL(None, use_errno=True)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8
CLONE_FS = 0x200
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

_FLAG_OPTIONS = {
    "ro": (MS_RDONLY, True), "rw": (MS_RDONLY, False),
    "nosuid": (MS_NOSUID, True), "suid": (MS_NOSUID, False),
    "nodev": (MS_NODEV, True), "dev": (MS_NODEV, False),
    "noexec": (MS_NOEXEC, True), "exec": (MS_NOEXEC, False),
    "bind": (MS_BIND, True), "rbind": (MS_BIND | MS_REC, True),
}


@dataclass(frozen=True)
class Mount:
    """One mount to make, as containerd's mount.Mount: `mount -t <type> -o <options> <source> <target>`.

    type is "overlay" or "bind"; options mixes flags ("ro", "rbind") and data ("lowerdir=...")."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    def option(self, name: str) -> str | None:
        """The value of a `name=value` option, if present."""
        prefix = name + "="
        for opt in self.options:
            if opt.startswith(prefix):
                return opt[len(prefix):]
        return None

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)) < 0:
        raise SystemCallError(f"mount {source or fstype or 'none'} to {target}", ctypes.get_errno())


def unmount(target: str, flags: int = 0) -> None:
    if _libc.umount2(_b(target), flags) < 0:
        raise SystemCallError(f"unmount {target}", ctypes.get_errno())


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted on `path` (per /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                point = line.split(b" ", 5)[4].decode("unicode_escape", "surrogateescape")
                if point == real:
                    return True
    except OSError:
        return False
    return False


def unmount_all(target: str) -> None:
    """Unmount everything stacked on `target` (nothing mounted is not an error)."""
    for _ in range(64):
        if _libc.umount2(_b(target), UMOUNT_NOFOLLOW) < 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                return
            if err == errno.EBUSY:
                # still in use by someone: detach it so the tree can be removed once they are gone
                _libc.umount2(_b(target), MNT_DETACH | UMOUNT_NOFOLLOW)
                continue
            raise SystemCallError(f"unmount {target}", err)


def _split_options(options: Sequence[str]) -> tuple[int, list[str]]:
    flags = 0
    data: list[str] = []
    for opt in options:
        known = _FLAG_OPTIONS.get(opt)
        if known is None:
            data.append(opt)
        elif known[1]:
            flags |= known[0]
        else:
            flags &= ~known[0]
    return flags, data


def _mount_from(chdir: str, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    """mount(2) from a private thread whose working directory is `chdir`."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if _libc.unshare(CLONE_FS) < 0:
                raise SystemCallError("unshare CLONE_FS", ctypes.get_errno())
            os.chdir(chdir)
            mount(source, target, fstype, flags, data)
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    t = threading.Thread(target=run, name="dockyard-mount")
    t.start()
    t.join()
    if errors:
        raise errors[0]


def _compact_overlay(data: list[str]) -> tuple[str, list[str]]:
    """Rewrite lowerdir/upperdir/workdir as paths relative to their common parent directory."""
    paths: list[str] = []
    for opt in data:
        key, _, value = opt.partition("=")
        if key == "lowerdir":
            paths.extend(value.split(":"))
        elif key in ("upperdir", "workdir"):
            paths.append(value)
    common = os.path.commonpath(paths) if paths else "/"
    if common in paths:
        common = os.path.dirname(common)

    def rel(p: str) -> str:
        return os.path.relpath(p, common)

    out: list[str] = []
    for opt in data:
        key, _, value = opt.partition("=")
        if key == "lowerdir":
            out.append("lowerdir=" + ":".join(rel(p) for p in value.split(":")))
        elif key in ("upperdir", "workdir"):
            out.append(f"{key}={rel(value)}")
        else:
            out.append(opt)
    return common, out


def mount_one(m: Mount, target: str) -> None:
    flags, data = _split_options(m.options)
    if m.type == "bind" or flags & MS_BIND:
        mount(m.source, target, None, flags & (MS_BIND | MS_REC))
        if flags & ~(MS_BIND | MS_REC):
            mount(None, target, None, MS_REMOUNT | MS_BIND | flags)
        return
    joined = ",".join(data)
    if len(joined) < PAGE_SIZE:
        mount(m.source, target, m.type, flags, joined)
        return
    if m.type != "overlay":
        raise InvalidArgument(f"{m.type} mount options are longer than a page ({len(joined)} bytes)")
    chdir, compact = _compact_overlay(data)
    joined = ",".join(compact)
    if len(joined) >= PAGE_SIZE:
        raise InvalidArgument(f"overlay mount options are longer than a page even relative to {chdir}")
    _mount_from(chdir, m.source, os.path.abspath(target), m.type, flags, joined)


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount each of `mounts` on `target`, in order; on failure, undo the ones made."""
    done = 0
    try:
        for m in mounts:
            mount_one(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target, MNT_DETACH)
        raise
