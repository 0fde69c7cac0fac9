"""Walking a tree by directory fds (never following symlinks) and turning what it finds into tar
entries, as docker's archive writer does (see tarstream.py for the header format)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from typing import Any

from dockyard.layers import tarstream
from dockyard.layers.apply import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from dockyard.layers.tarstream import Entry, TarWriter

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_SKIP_XATTRS = ("trusted.overlay.", "user.overlay.")


def sorted_names(dir_fd: int) -> list[str]:
    """The names in a directory, in byte order (Go's filepath.Walk order)."""
    return sorted(os.listdir(dir_fd), key=os.fsencode)


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def read_xattrs(dir_fd: int, name: str, fd: int | None = None) -> dict[str, bytes]:
    """The xattrs of an entry worth carrying in a layer (not overlayfs' own)."""
    target: int | str = fd if fd is not None else f"/proc/self/fd/{dir_fd}/{name}"
    try:
        names = os.listxattr(target) if fd is not None else os.listxattr(target, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.ENOENT):
            return {}
        raise
    out: dict[str, bytes] = {}
    for key in names:
        if key.startswith(_SKIP_XATTRS):
            continue
        try:
            out[key] = os.getxattr(target, key) if fd is not None else os.getxattr(target, key, follow_symlinks=False)
        except OSError as err:
            if err.errno in (errno.ENODATA, errno.ENOTSUP):
                continue
            raise
    return out


class HashSink:
    """Counts and (optionally) hashes what passes through to `sink`."""

    def __init__(self, sink: Any, hashed: bool = True) -> None:
        self._sink = sink
        self.hasher = hashlib.sha256() if hashed else None
        self.count = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.hasher is not None:
            self.hasher.update(data)
        self.count += len(data)
        self._sink.write(data)
        return len(data)


class Emitter:
    """Writes filesystem entries as tar entries, remembering hardlinks across the whole archive."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.writer = TarWriter(sink)
        self.links: dict[tuple[int, int], str] = {}
        self.buf = bytearray(_CHUNK)

    def entry(self, dir_fd: int, name: str, tar_name: str, st: os.stat_result, *, overlay: bool) -> None:
        """Write one entry (`name` inside `dir_fd`) as `tar_name`. In overlay mode a 0/0 character device
        becomes a `.wh.` whiteout and an opaque directory gets a `.wh..wh..opq` entry after it."""
        mode = st.st_mode
        e = Entry(name=tar_name, type=tarstream.REGTYPE, mode=stat.S_IMODE(mode), uid=st.st_uid, gid=st.st_gid,
                  mtime=int(st.st_mtime))
        if overlay and is_whiteout(st):
            parent, _, base = tar_name.rpartition("/")
            e.name = f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base
            e.mode = 0o600
            self.writer.add(e)
            return
        if stat.S_ISDIR(mode):
            fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                e.type = tarstream.DIRTYPE
                e.name = tar_name.rstrip("/") + "/"
                e.xattrs = read_xattrs(dir_fd, name, fd)
                self.writer.add(e)
                if overlay and is_opaque(fd):
                    self.writer.add(Entry(name=e.name + WHITEOUT_OPAQUE, type=tarstream.REGTYPE,
                                          mode=e.mode & 0o777, uid=e.uid, gid=e.gid, mtime=0))
            finally:
                os.close(fd)
            return
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key)
            if first is not None:
                e.type = tarstream.LNKTYPE
                e.linkname = first
                e.xattrs = read_xattrs(dir_fd, name) if not stat.S_ISREG(mode) else self._file_xattrs(dir_fd, name)
                self.writer.add(e)
                return
            self.links[key] = tar_name
        if stat.S_ISREG(mode):
            self._file(dir_fd, name, e, st.st_size)
            return
        if stat.S_ISLNK(mode):
            e.type = tarstream.SYMTYPE
            e.linkname = os.readlink(name, dir_fd=dir_fd)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            e.type = tarstream.CHRTYPE if stat.S_ISCHR(mode) else tarstream.BLKTYPE
            e.devmajor, e.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            e.type = tarstream.FIFOTYPE
        else:
            return  # sockets are not archived (as docker)
        e.xattrs = read_xattrs(dir_fd, name)
        self.writer.add(e)

    def _file_xattrs(self, dir_fd: int, name: str) -> dict[str, bytes]:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
        try:
            return read_xattrs(dir_fd, name, fd)
        finally:
            os.close(fd)

    def _file(self, dir_fd: int, name: str, e: Entry, size: int) -> None:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            e.xattrs = read_xattrs(dir_fd, name, fd)
            e.size = size
            self.writer.add(e)
            left = size
            view = memoryview(self.buf)
            while left:
                n = os.readv(fd, [view[:min(left, _CHUNK)]])
                if not n:  # the file shrank while archived: pad to the size announced
                    self.sink.write(bytes(min(left, _CHUNK)))
                    left -= min(left, _CHUNK)
                    continue
                self.sink.write(view[:n])
                left -= n
            self.writer.pad(size)
        finally:
            os.close(fd)

    def tree(self, dir_fd: int, prefix: str, *, overlay: bool) -> None:
        """Every entry below `dir_fd`, depth first, named `prefix` + relative path."""
        for name in sorted_names(dir_fd):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            tar_name = prefix + name
            self.entry(dir_fd, name, tar_name, st, overlay=overlay)
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
                try:
                    self.tree(fd, tar_name + "/", overlay=overlay)
                finally:
                    os.close(fd)

    def close(self) -> None:
        self.writer.close()


def iter_tree(dir_fd: int, rel: str = "") -> Iterator[tuple[int, str, str, os.stat_result]]:
    """(parent fd, name, relative path, lstat) for everything below `dir_fd`, depth first, sorted."""
    for name in sorted_names(dir_fd):
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        path = f"{rel}/{name}" if rel else name
        yield dir_fd, name, path, st
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                yield from iter_tree(fd, path)
            finally:
                os.close(fd)
