"""Paths inside a root filesystem, resolved inside it.

Facts:
- openat2(2) with RESOLVE_IN_ROOT (Linux 5.6+) resolves a path as if `root` were "/": ".." stops at
  the root and absolute symlinks restart from it. RESOLVE_NO_MAGICLINKS refuses /proc/*/fd links.
  glibc has no wrapper, so it goes through syscall(2) (number 437 on x86_64 and aarch64).
- Where openat2 is missing (ENOSYS) the same resolution is done one component at a time in
  `resolve_in_root`, as docker's FollowSymlinkInScope does (at most 255 symlinks).
- The result of `resolve_in_root` is a host path string, fine while nobody changes the tree
  under it; `open_in_root` returns an fd and is what to use on a live container's rootfs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat

from dockyard.errors import InvalidArgument

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_NR_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine(), 437)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
O_PATH = getattr(os, "O_PATH", 0o10000000)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = RESOLVE_IN_ROOT) -> int:
    how = _OpenHow(flags, mode, resolve)
    fd = _libc.syscall(_NR_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def clean(path: str) -> str:
    """Lexically clean an absolute path inside a root: "/a/../../b/./c/" -> "/b/c"."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def resolve_in_root(root: str, path: str) -> str:
    """The host path of `path` inside `root`, every symlink followed inside the root."""
    root = os.path.abspath(root)
    todo = [p for p in path.split("/") if p]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise InvalidArgument(f"{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


def open_in_root(root: str, path: str, flags: int = O_PATH | os.O_DIRECTORY) -> int:
    """An fd for `path` resolved inside `root` (symlinks and ".." cannot leave it)."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rel = path.lstrip("/") or "."
        try:
            return openat2(root_fd, rel, flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError as err:
            if err.errno != errno.ENOSYS:
                raise
        return os.open(resolve_in_root(root, path), flags | os.O_CLOEXEC | os.O_NOFOLLOW)
    finally:
        os.close(root_fd)
