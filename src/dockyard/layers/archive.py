"""docker cp: archive a path out of a root filesystem, extract a tar into one.

Semantics follow docker's /containers/{id}/archive endpoints:
- A path is taken as absolute inside the root. Its directory part is resolved inside the root
  (symlinks followed, never out of it: openat2 RESOLVE_IN_ROOT); its last component is not
  followed, so a symlink is archived as a symlink and stat reports it, with `link_target` the
  fully resolved path inside the root.
- GET archives the entry under its own base name ("/etc/" -> "etc/...", "/etc/." -> "./..."),
  with the same header rules as layers (tarstream.py).
- PUT extracts into an existing directory (resolved inside the root, symlinks followed); tar names
  are checked as for layers, nothing is written outside the directory, `.wh.` files are plain
  files, and broken or hostile input leaves the tree as it was (the layer applier's undo journal).
  Owners become `chown` (docker: root of the container) unless chown is None (keep the tar's).
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import stat
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from dockyard.errors import InvalidArgument, NotFound, SystemCallError
from dockyard.fsutil.paths import O_PATH, clean, open_in_root, resolve_in_root
from dockyard.layers.apply import Whiteouts, apply_tar
from dockyard.layers.compression import open_decompressed
from dockyard.layers.walk import DIR_FLAGS, Emitter

# Go's os.FileMode type bits
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


def go_file_mode(mode: int) -> int:
    """A st_mode as Go's os.FileMode (what docker puts in ContainerPathStat.mode)."""
    m = mode & 0o777
    if stat.S_ISDIR(mode):
        m |= _GO_DIR
    elif stat.S_ISLNK(mode):
        m |= _GO_SYMLINK
    elif stat.S_ISBLK(mode):
        m |= _GO_DEVICE
    elif stat.S_ISCHR(mode):
        m |= _GO_DEVICE | _GO_CHARDEV
    elif stat.S_ISFIFO(mode):
        m |= _GO_PIPE
    elif stat.S_ISSOCK(mode):
        m |= _GO_SOCKET
    if mode & stat.S_ISUID:
        m |= _GO_SETUID
    if mode & stat.S_ISGID:
        m |= _GO_SETGID
    if mode & stat.S_ISVTX:
        m |= _GO_STICKY
    return m


@dataclass(frozen=True)
class PathStat:
    """Docker's ContainerPathStat. `mode` is a Go os.FileMode (type bits high, permissions low)."""

    name: str
    size: int
    mode: int
    mtime: float  # seconds since the epoch
    link_target: str = ""

    def to_json(self) -> dict[str, Any]:
        when = datetime.datetime.fromtimestamp(self.mtime, datetime.UTC)
        frac = f"{when.microsecond:06d}".rstrip("0")
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"
        return {"name": self.name, "size": self.size, "mode": self.mode, "mtime": stamp,
                "linkTarget": self.link_target}

    def header_value(self) -> str:
        """base64 of the JSON, for the X-Docker-Container-Path-Stat header."""
        return base64.b64encode(json.dumps(self.to_json()).encode()).decode()


def _split(path: str) -> tuple[str, str, str]:
    """(absolute cleaned path, its directory, its base name; "." for a trailing "/.")."""
    if not path:
        raise InvalidArgument("path must not be empty")
    absolute = clean(path)
    if path.endswith("/.") or path in (".", "/"):
        return absolute, absolute, "."
    parent, _, base = absolute.rpartition("/")
    return absolute, parent or "/", base


def _open_dir(root: str, path: str, what: str) -> int:
    try:
        return open_in_root(root, path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {what} in container") from None
    except NotADirectoryError:
        raise InvalidArgument(f"{what}: not a directory") from None
    except OSError as err:
        raise SystemCallError.from_oserror(f"resolve {what} in {root}", err) from err


def _stat(root: str, path: str) -> tuple[PathStat, int, str, os.stat_result]:
    """The stat, plus an open fd of the parent directory and the base name (caller closes)."""
    absolute, parent, base = _split(path)
    dfd = _open_dir(root, parent, path)
    try:
        if base == ".":
            st = os.fstat(dfd)
            name = "/" if absolute == "/" else absolute.rpartition("/")[2]
        else:
            try:
                st = os.stat(base, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound(f"Could not find the file {path} in container") from None
            name = base
        link_target = ""
        if stat.S_ISLNK(st.st_mode):
            rel = os.path.relpath(resolve_in_root(root, absolute), os.path.abspath(root))
            link_target = "/" if rel == "." else "/" + rel
        ps = PathStat(name=name, size=st.st_size, mode=go_file_mode(st.st_mode), mtime=st.st_mtime,
                      link_target=link_target)
        return ps, dfd, base, st
    except BaseException:
        os.close(dfd)
        raise


def stat_path(root: str | os.PathLike[str], path: str) -> PathStat:
    ps, dfd, _, _ = _stat(os.fspath(root), path)
    os.close(dfd)
    return ps


def archive_path(root: str | os.PathLike[str], path: str, out: Any) -> PathStat:
    """Write a tar of `path` (inside `root`) to `out`; returns the stat docker sends in its header."""
    ps, dfd, base, st = _stat(os.fspath(root), path)
    try:
        emitter = Emitter(out)
        if base == ".":
            emitter.entry(dfd, ".", "./", st, overlay=False)
            emitter.tree(dfd, "./", overlay=False)
        else:
            emitter.entry(dfd, base, base, st, overlay=False)
            if stat.S_ISDIR(st.st_mode):
                fd = os.open(base, DIR_FLAGS, dir_fd=dfd)
                try:
                    emitter.tree(fd, base + "/", overlay=False)
                finally:
                    os.close(fd)
        emitter.close()
    except OSError as err:
        raise SystemCallError.from_oserror(f"archive {path}", err) from err
    finally:
        os.close(dfd)
    return ps


def extract_archive(
    root: str | os.PathLike[str],
    path: str,
    stream: BinaryIO,
    *,
    no_overwrite_dir_non_dir: bool = False,
    chown: tuple[int, int] | None = (0, 0),
) -> None:
    """Extract a tar (plain, gzip or zstd) into the directory `path` inside `root`: all or nothing."""
    absolute = clean(path)
    try:
        fd = open_in_root(os.fspath(root), absolute, O_PATH)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    except OSError as err:
        raise SystemCallError.from_oserror(f"resolve {path} in {root}", err) from err
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InvalidArgument(f"extraction point is not a directory: {path}")
        raw, _ = open_decompressed(stream)
        reader = cast(BinaryIO, io.BufferedReader(cast(Any, raw), 1 << 20))
        apply_tar(reader, fd, Whiteouts.KEEP, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, chown=chown)
    finally:
        os.close(fd)
