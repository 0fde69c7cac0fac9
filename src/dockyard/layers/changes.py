"""Filesystem changes between a container and its image, as `docker diff` lists them.

Two sources:
- changes_from_upper(upper, lowers): an overlay upper dir over its lower dirs (nearest first).
  A 0/0 character device is a deletion (D); an opaque directory deletes every lower entry in it
  that the upper does not have again; an upper entry is C when the lowers have the path, else A.
  A directory that is only there because something below it changed is reported C when a direct
  child was added or deleted or its own metadata differs (docker's rule), and not otherwise.
- changes_between(old, new): two full trees (the copy fallback). Compared by type, mode, owner,
  device number, xattrs, symlink target, and for non-directories size and mtime (docker's
  statDifferent, which does not read file contents); a directory with any change below it is C.

Both return changes in tree order (parents before children, names in byte order); deletions of a
directory are reported once, for the directory. `sorted()` gives docker's path order.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import SystemCallError
from dockyard.layers.walk import DIR_FLAGS, is_opaque, is_whiteout, read_xattrs, sorted_names


class ChangeKind(enum.IntEnum):
    """Docker's numbering: 0 modified, 1 added, 2 deleted."""

    MODIFY = 0
    ADD = 1
    DELETE = 2

    @property
    def letter(self) -> str:
        return "CAD"[self.value]


@dataclass(frozen=True, order=True)
class Change:
    path: str  # absolute inside the rootfs: "/etc/passwd"
    kind: ChangeKind

    def __str__(self) -> str:
        return f"{self.kind.letter} {self.path}"


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _lower_stat(lowers: Sequence[str], rel: str) -> os.stat_result | None:
    """The entry the merged lower layers show at `rel`, if any (nearest layer wins)."""
    for lower in lowers:
        st = _lstat(os.path.join(lower, rel))
        if st is not None:
            return None if is_whiteout(st) else st
    return None


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    if a.st_mtime_ns == b.st_mtime_ns:
        return True
    # one side truncated to seconds by a tar round trip: docker's sameFsTime
    same_sec = a.st_mtime_ns // 1_000_000_000 == b.st_mtime_ns // 1_000_000_000
    return same_sec and (a.st_mtime_ns % 1_000_000_000 == 0 or b.st_mtime_ns % 1_000_000_000 == 0)


def changes_from_upper(upper: str | os.PathLike[str], lowers: Sequence[str | os.PathLike[str]]) -> list[Change]:
    lower_dirs = [os.fspath(p) for p in lowers]
    out: list[Change] = []
    try:
        fd = os.open(os.fspath(upper), DIR_FLAGS)
    except OSError as err:
        raise SystemCallError.from_oserror(f"open upper dir {upper}", err) from err
    try:
        _upper_dir(fd, "", lower_dirs, out, False)
    except OSError as err:
        raise SystemCallError.from_oserror(f"read changes of {upper}", err) from err
    finally:
        os.close(fd)
    return out


def _upper_dir(fd: int, rel: str, lowers: list[str], out: list[Change], added_dir: bool) -> bool:
    """Report the changes below directory `rel`; True when a direct child was added or deleted."""
    names = sorted_names(fd)
    child_added_or_deleted = False
    if not added_dir and is_opaque(fd):
        present = set(names)
        gone: set[str] = set()
        for lower in lowers:
            try:
                gone.update(n for n in os.listdir(os.path.join(lower, rel) if rel else lower) if n not in present)
            except (FileNotFoundError, NotADirectoryError):
                continue
        for name in sorted(gone, key=os.fsencode):
            out.append(Change("/" + (f"{rel}/{name}" if rel else name), ChangeKind.DELETE))
            child_added_or_deleted = True
    for name in names:
        path = f"{rel}/{name}" if rel else name
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if is_whiteout(st):
            if not added_dir:
                out.append(Change("/" + path, ChangeKind.DELETE))
                child_added_or_deleted = True
            continue
        lst = None if added_dir else _lower_stat(lowers, path)
        if stat.S_ISDIR(st.st_mode):
            mark = len(out)
            cfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            try:
                is_new = lst is None or not stat.S_ISDIR(lst.st_mode)
                below = _upper_dir(cfd, path, lowers, out, added_dir or is_new)
                opaque = not is_new and is_opaque(cfd)
            finally:
                os.close(cfd)
            if is_new:
                out.insert(mark, Change("/" + path, ChangeKind.ADD))
                child_added_or_deleted = True
            else:
                assert lst is not None
                differs = (st.st_mode != lst.st_mode or st.st_uid != lst.st_uid or st.st_gid != lst.st_gid
                           or not _same_time(st, lst))
                if differs or below or opaque:
                    out.insert(mark, Change("/" + path, ChangeKind.MODIFY))
        else:
            if lst is None:
                out.append(Change("/" + path, ChangeKind.ADD))
                child_added_or_deleted = True
            else:
                out.append(Change("/" + path, ChangeKind.MODIFY))
    return child_added_or_deleted


def _differs(a: os.stat_result, b: os.stat_result, a_path: str, b_path: str) -> bool:
    if a.st_mode != b.st_mode or a.st_uid != b.st_uid or a.st_gid != b.st_gid or a.st_rdev != b.st_rdev:
        return True
    if not stat.S_ISDIR(a.st_mode) and (a.st_size != b.st_size or not _same_time(a, b)):
        return True
    if stat.S_ISLNK(a.st_mode) and os.readlink(a_path) != os.readlink(b_path):
        return True
    da, _, na = a_path.rpartition("/")
    db, _, nb = b_path.rpartition("/")
    xa = _xattrs_at(da, na)
    xb = _xattrs_at(db, nb)
    return xa != xb


def _xattrs_at(directory: str, name: str) -> dict[str, bytes]:
    fd = os.open(directory or "/", DIR_FLAGS)
    try:
        return read_xattrs(fd, name)
    finally:
        os.close(fd)


def changes_between(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> list[Change]:
    out: list[Change] = []
    try:
        _between(os.fspath(old), os.fspath(new), "", out)
    except OSError as err:
        raise SystemCallError.from_oserror(f"compare {old} with {new}", err) from err
    return out


def _all_added(new_root: str, rel: str, out: list[Change]) -> None:
    for name in sorted_names_path(os.path.join(new_root, rel)):
        path = f"{rel}/{name}"
        out.append(Change("/" + path, ChangeKind.ADD))
        if stat.S_ISDIR(os.lstat(os.path.join(new_root, path)).st_mode):
            _all_added(new_root, path, out)


def sorted_names_path(path: str) -> list[str]:
    return sorted(os.listdir(path), key=os.fsencode)


def _between(old_root: str, new_root: str, rel: str, out: list[Change]) -> bool:
    """Changes below `rel`; True if there were any."""
    old_dir = os.path.join(old_root, rel) if rel else old_root
    new_dir = os.path.join(new_root, rel) if rel else new_root
    old_names = set(os.listdir(old_dir))
    new_names = sorted_names_path(new_dir)
    start = len(out)
    for name in sorted(old_names.union(new_names), key=os.fsencode):
        path = f"{rel}/{name}" if rel else name
        if name not in old_names:
            out.append(Change("/" + path, ChangeKind.ADD))
            if stat.S_ISDIR(os.lstat(os.path.join(new_root, path)).st_mode):
                _all_added(new_root, path, out)
            continue
        if name not in new_names:
            out.append(Change("/" + path, ChangeKind.DELETE))
            continue
        a = os.lstat(os.path.join(old_root, path))
        b = os.lstat(os.path.join(new_root, path))
        if stat.S_ISDIR(a.st_mode) and stat.S_ISDIR(b.st_mode):
            mark = len(out)
            below = _between(old_root, new_root, path, out)
            if below or _differs(a, b, os.path.join(old_root, path), os.path.join(new_root, path)):
                out.insert(mark, Change("/" + path, ChangeKind.MODIFY))
            continue
        if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
            # a different kind of file: the old one is gone and a new one is there
            out.append(Change("/" + path, ChangeKind.MODIFY))
            if stat.S_ISDIR(b.st_mode):
                _all_added(new_root, path, out)
            continue
        if _differs(a, b, os.path.join(old_root, path), os.path.join(new_root, path)):
            out.append(Change("/" + path, ChangeKind.MODIFY))
    return len(out) > start
