"""Applying a tar layer onto a directory, streamed, with whiteouts, safely.

How it stays inside the target:
- Entry names are cleaned lexically: "./" and empty components dropped; a ".." component or an
  absolute name is refused (InvalidArgument), never re-rooted.
- Every directory on the way to an entry is opened one component at a time with O_NOFOLLOW from
  the target's own fd, so an entry beneath a symlink (one the layer made, or one already in the
  target) is refused instead of followed; files are then made relative to that directory fd.
- A symlink whose relative target climbs above the root is refused in layers from outside
  (load, import); absolute targets are fine, they are read inside the container's root. Layers
  the engine made itself from a container's changes pass `outward_symlinks=True`: a process in
  the container made that link (Docker commits such links too), and nothing here follows a
  symlink anyway. A hardlink must name an entry already in the target, through the same
  no-symlink walk.
- `trusted.overlay.*` xattrs in a layer are dropped: only the applier makes overlay metadata.

How the target is "left as it was" on failure (undo, not staging; a staging copy of a full tree
would cost as much as the layer): the applier keeps a journal. What it creates is recorded
(only the top-most new path); what it would delete or replace is not deleted but renamed into a
private `.dockyard-undo-<random>` directory at the target's root; the metadata of an existing
directory it changes (mode, owner, xattrs, times) is recorded first. On error the journal is
played backwards: new paths removed, renamed ones put back, metadata restored. On success the
undo directory is removed and directory mtimes from the layer are set last (creating children
would change them). Not covered: a crash of the process half-way (the snapshotter discards the
half-made snapshot instead) and writers racing in the same target.

Whiteouts (OCI image spec, layer.md):
- `.wh.<name>` deletes <name> from the layers below; `.wh..wh..opq` hides everything below in its
  directory; other `.wh..wh.*` names are AUFS metadata and skipped. A whiteout never hides what
  the same layer adds.
- Whiteouts.OVERLAY turns them into overlayfs form: a 0/0 character device named <name>, and the
  xattr trusted.overlay.opaque=y on the directory. Whiteouts.DELETE carries them out.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import io
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.errors import DockyardError, InvalidArgument, SystemCallError
from dockyard.layers import tarstream
from dockyard.layers.compression import open_decompressed
from dockyard.layers.tarstream import Entry, TarReader
from dockyard.oci.digest import Digest

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
UNDO_PREFIX = ".dockyard-undo-"
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Whiteouts(enum.Enum):
    """What to do with `.wh.<name>` and `.wh..wh..opq` entries."""

    OVERLAY = "overlay"  # target is an overlay upper dir: make 0/0 char devices and opaque xattrs
    DELETE = "delete"  # target is a full tree: delete what they name
    KEEP = "keep"  # not a layer (docker cp): extract them as ordinary files


@dataclass(frozen=True)
class ApplyResult:
    diff_id: Digest  # sha256 of the uncompressed tar stream
    size: int  # bytes of uncompressed tar read


class _Hashing(io.RawIOBase):
    def __init__(self, src: BinaryIO) -> None:
        super().__init__()
        self._src = src
        self.hasher = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._src.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.hasher.update(memoryview(buffer)[:n])
            self.count += n
        return int(n or 0)


def clean_name(name: str) -> str:
    """A tar entry name as a relative path inside the root ("" for the root itself)."""
    if name.startswith("/"):
        raise InvalidArgument(f"tar entry {name!r}: absolute paths are not allowed in a layer")
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidArgument(f"tar entry {name!r}: path escapes the root ('..')")
        parts.append(part)
    return "/".join(parts)


def _symlink_escapes(rel: str, target: str) -> bool:
    """Whether a relative symlink at `rel` climbs above the root, lexically (docker's breakout check)."""
    if target.startswith("/"):
        return False
    depth = rel.count("/")  # directories above the link inside the root
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _parent_base(rel: str) -> tuple[str, str]:
    parent, _, base = rel.rpartition("/")
    return parent, base


def _join(parent: str, base: str) -> str:
    return f"{parent}/{base}" if parent else base


def _listxattrs(target: int | str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        names = os.listxattr(target, follow_symlinks=False) if isinstance(target, str) else os.listxattr(target)
    except OSError:
        return out
    for name in names:
        try:
            out[name] = (os.getxattr(target, name, follow_symlinks=False) if isinstance(target, str)
                         else os.getxattr(target, name))
        except OSError:
            continue
    return out


class _Applier:
    def __init__(self, target: str | int, whiteouts: Whiteouts, *, no_overwrite_dir_non_dir: bool = False,
                 chown: tuple[int, int] | None = None, outward_symlinks: bool = False) -> None:
        self.target = target
        self.whiteouts = whiteouts
        self.outward_symlinks = outward_symlinks
        self.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir
        self.chown = chown
        try:
            # an int is an fd of a directory already resolved safely (docker cp into a live rootfs)
            self.root_fd = os.open(".", _DIR_FLAGS, dir_fd=target) if isinstance(target, int) else os.open(
                target, _DIR_FLAGS)
        except OSError as err:
            raise SystemCallError.from_oserror(f"open layer target {target}", err) from err
        self.dirs: dict[str, int] = {"": self.root_fd}
        self.touched: set[str] = set()  # paths this layer made or merged into
        self.created: set[str] = set()  # paths this layer made
        self.journal: list[tuple[Any, ...]] = []
        self.dir_seen: set[str] = set()  # pre-existing dirs whose times are journaled
        self.dir_times: list[tuple[str, int]] = []
        self.undo_name: str | None = None
        self.undo_fd = -1
        self.undo_count = 0
        self.buf = bytearray(_CHUNK)

    # -- directories --------------------------------------------------------------------------

    def _forget(self, rel: str) -> None:
        """Drop cached fds of `rel` and everything below it (it moved or went away)."""
        prefix = rel + "/"
        for key in [k for k in self.dirs if k and (k == rel or k.startswith(prefix))]:
            os.close(self.dirs.pop(key))

    def dir_fd(self, rel: str, *, create: bool, entry: str) -> int | None:
        """An fd of directory `rel`, walked without following symlinks; made if missing and `create`
        (else None). Raises InvalidArgument when a component is a symlink or not a directory."""
        fd = self.dirs.get(rel)
        if fd is not None:
            return fd
        parent, base = _parent_base(rel)
        pfd = self.dir_fd(parent, create=create, entry=entry)
        if pfd is None:
            return None
        try:
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        except FileNotFoundError:
            if not create:
                return None
            self._before_change(parent, pfd)
            os.mkdir(base, 0o755, dir_fd=pfd)
            self._created(rel)
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise InvalidArgument(f"tar entry {entry!r}: {rel!r} is a symlink or not a directory"
                                      " (entries beneath a symlink are not allowed)") from None
            raise
        if len(self.dirs) > 4096:
            for key in [k for k in self.dirs if k]:
                os.close(self.dirs.pop(key))
        self.dirs[rel] = fd
        return fd

    # -- journal -------------------------------------------------------------------------------

    def _before_change(self, parent: str, pfd: int) -> None:
        """Journal the times of a pre-existing directory before its contents change."""
        if parent in self.touched or parent in self.dir_seen:
            return
        self.dir_seen.add(parent)
        st = os.fstat(pfd)
        self.journal.append(("times", parent, st.st_atime_ns, st.st_mtime_ns))

    def _created(self, rel: str) -> None:
        parent, _ = _parent_base(rel)
        if parent not in self.created:
            self.journal.append(("created", rel))
        self.created.add(rel)
        self.touched.add(rel)

    def _undo_dir(self) -> int:
        if self.undo_fd < 0:
            self._before_change("", self.root_fd)
            self.undo_name = UNDO_PREFIX + secrets.token_hex(8)
            os.mkdir(self.undo_name, 0o700, dir_fd=self.root_fd)
            self.undo_fd = os.open(self.undo_name, _DIR_FLAGS, dir_fd=self.root_fd)
        return self.undo_fd

    def _set_aside(self, rel: str, pfd: int, base: str) -> None:
        """Move an existing path out of the way (journaled), or delete it if this layer made it."""
        self._forget(rel)
        if rel in self.created:
            _remove_at(pfd, base)
            prefix = rel + "/"
            for paths in (self.touched, self.created):
                paths.difference_update([p for p in paths if p == rel or p.startswith(prefix)])
            return
        parent, _ = _parent_base(rel)
        self._before_change(parent, pfd)
        udir = self._undo_dir()
        self.undo_count += 1
        slot = str(self.undo_count)
        os.rename(base, slot, src_dir_fd=pfd, dst_dir_fd=udir)
        self.journal.append(("moved", rel, slot))

    def _journal_meta(self, rel: str, fd: int) -> None:
        if rel in self.touched:
            return
        st = os.fstat(fd)
        self.journal.append(("meta", rel, st.st_mode, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns,
                             _listxattrs(fd)))

    # -- entries -------------------------------------------------------------------------------

    def add(self, e: Entry, reader: TarReader) -> None:
        rel = clean_name(e.name)
        if rel == "" or (rel.startswith(UNDO_PREFIX) and "/" not in rel):
            if rel == "" and e.type == tarstream.DIRTYPE:
                self._merge_dir("", self.root_fd, e)
                return
            raise InvalidArgument(f"tar entry {e.name!r}: not allowed at the root of a layer")
        parent, base = _parent_base(rel)
        if self.whiteouts is not Whiteouts.KEEP and base.startswith(WHITEOUT_PREFIX):
            if base == WHITEOUT_OPAQUE:
                self._opaque(parent, e)
            elif not base.startswith(WHITEOUT_META_PREFIX):
                name = base[len(WHITEOUT_PREFIX):]
                if name in ("", ".", ".."):
                    raise InvalidArgument(f"tar entry {e.name!r}: invalid whiteout")
                self._whiteout(parent, name, e)
            return
        pfd = self.dir_fd(parent, create=True, entry=e.name)
        assert pfd is not None
        self._before_change(parent, pfd)
        if e.type == tarstream.DIRTYPE:
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    fd = self.dir_fd(rel, create=False, entry=e.name)
                    assert fd is not None
                    self._merge_dir(rel, fd, e)
                    return
                if self.no_overwrite_dir_non_dir:
                    raise InvalidArgument(f"cannot overwrite non-directory {'/' + rel!r} with directory") from None
                self._set_aside(rel, pfd, base)
                os.mkdir(base, 0o700, dir_fd=pfd)
            self._created(rel)
            fd = self.dir_fd(rel, create=False, entry=e.name)
            assert fd is not None
            self._set_meta(fd, e)
            self.dir_times.append((rel, e.mtime))
            return
        try:
            self._make(pfd, base, rel, e, reader)
        except FileExistsError:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            if self.no_overwrite_dir_non_dir and stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"cannot overwrite directory {'/' + rel!r} with non-directory") from None
            self._set_aside(rel, pfd, base)
            self._make(pfd, base, rel, e, reader)

    def _owner(self, e: Entry) -> tuple[int, int]:
        return self.chown if self.chown is not None else (e.uid, e.gid)

    def _make(self, pfd: int, base: str, rel: str, e: Entry, reader: TarReader) -> None:
        kind = e.type
        uid, gid = self._owner(e)
        if kind in (tarstream.REGTYPE, tarstream.AREGTYPE, tarstream.CONTTYPE):
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
            self._created(rel)
            try:
                view = memoryview(self.buf)
                while True:
                    n = reader.readinto(view)
                    if not n:
                        break
                    chunk = view[:n]
                    while chunk:
                        chunk = chunk[os.write(fd, chunk):]
                self._set_meta(fd, e)
                os.utime(fd, ns=(e.mtime * 1_000_000_000, e.mtime * 1_000_000_000))
            finally:
                os.close(fd)
        elif kind == tarstream.SYMTYPE:
            if not self.outward_symlinks and _symlink_escapes(rel, e.linkname):
                raise InvalidArgument(f"tar entry {e.name!r}: symlink target {e.linkname!r} escapes the root")
            os.symlink(e.linkname, base, dir_fd=pfd)
            self._created(rel)
            os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            self._set_xattrs(f"/proc/self/fd/{pfd}/{base}", e)
            os.utime(base, ns=(e.mtime * 1_000_000_000,) * 2, dir_fd=pfd, follow_symlinks=False)
        elif kind == tarstream.LNKTYPE:
            link = clean_name(e.linkname)
            lparent, lbase = _parent_base(link)
            lfd = self.dir_fd(lparent, create=False, entry=e.name) if link else None
            if lfd is None:
                raise InvalidArgument(f"tar entry {e.name!r}: hardlink target {e.linkname!r} not found in the layer")
            try:
                lst = os.stat(lbase, dir_fd=lfd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidArgument(
                    f"tar entry {e.name!r}: hardlink target {e.linkname!r} not found in the layer") from None
            if stat.S_ISDIR(lst.st_mode):
                raise InvalidArgument(f"tar entry {e.name!r}: hardlink to a directory {e.linkname!r}")
            if self.whiteouts is Whiteouts.OVERLAY and stat.S_ISCHR(lst.st_mode) and lst.st_rdev == 0:
                raise InvalidArgument(f"tar entry {e.name!r}: hardlink to a whiteout {e.linkname!r}")
            os.link(lbase, base, src_dir_fd=lfd, dst_dir_fd=pfd, follow_symlinks=False)
            self._created(rel)
        elif kind in (tarstream.CHRTYPE, tarstream.BLKTYPE, tarstream.FIFOTYPE):
            if kind == tarstream.FIFOTYPE:
                os.mkfifo(base, 0o600, dir_fd=pfd)
            else:
                fmt = stat.S_IFCHR if kind == tarstream.CHRTYPE else stat.S_IFBLK
                os.mknod(base, fmt | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=pfd)
            self._created(rel)
            os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(base, e.mode, dir_fd=pfd)
            self._set_xattrs(f"/proc/self/fd/{pfd}/{base}", e)
            os.utime(base, ns=(e.mtime * 1_000_000_000,) * 2, dir_fd=pfd, follow_symlinks=False)
        else:
            raise InvalidArgument(f"tar entry {e.name!r}: unsupported type {kind!r}")

    def _set_meta(self, fd: int, e: Entry) -> None:
        uid, gid = self._owner(e)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, e.mode)  # after chown, which clears set-id bits
        self._set_xattrs(fd, e)  # after chown, which clears security.capability

    def _set_xattrs(self, target: int | str, e: Entry) -> None:
        for name in sorted(e.xattrs):
            if name.startswith(("trusted.overlay.", "user.overlay.")):
                continue
            try:
                if isinstance(target, int):
                    os.setxattr(target, name, e.xattrs[name])
                else:
                    os.setxattr(target, name, e.xattrs[name], follow_symlinks=False)
            except OSError as err:
                # as docker: file systems without xattrs, and user.* on symlinks and devices
                if err.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise

    def _merge_dir(self, rel: str, fd: int, e: Entry) -> None:
        self._journal_meta(rel, fd)
        self.touched.add(rel)
        self._set_meta(fd, e)
        self.dir_times.append((rel, e.mtime))

    def _whiteout(self, parent: str, name: str, e: Entry) -> None:
        rel = _join(parent, name)
        if rel in self.touched:
            return  # a whiteout never hides what its own layer adds
        overlay = self.whiteouts is Whiteouts.OVERLAY
        pfd = self.dir_fd(parent, create=overlay, entry=e.name)
        if pfd is None:
            return
        try:
            os.stat(name, dir_fd=pfd, follow_symlinks=False)
            exists = True
        except FileNotFoundError:
            exists = False
        if exists:
            self._set_aside(rel, pfd, name)
        if overlay:
            self._before_change(parent, pfd)
            os.mknod(name, stat.S_IFCHR, 0, dir_fd=pfd)
            self._created(rel)
            os.chown(name, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, ns=(e.mtime * 1_000_000_000,) * 2, dir_fd=pfd, follow_symlinks=False)

    def _opaque(self, parent: str, e: Entry) -> None:
        overlay = self.whiteouts is Whiteouts.OVERLAY
        pfd = self.dir_fd(parent, create=overlay, entry=e.name)
        if pfd is None:
            return
        self._hide_below(parent, pfd)
        if overlay:
            self._journal_meta(parent, pfd)
            os.setxattr(pfd, OPAQUE_XATTR, b"y")

    def _hide_below(self, rel: str, fd: int) -> None:
        """Set aside what is in directory `rel` that this layer did not add."""
        for name in sorted(os.listdir(fd)):
            child = _join(rel, name)
            if rel == "" and name == self.undo_name:
                continue
            if child in self.touched:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    cfd = self.dir_fd(child, create=False, entry=child)
                    if cfd is not None:
                        self._hide_below(child, cfd)
                continue
            self._set_aside(child, fd, name)

    # -- ending --------------------------------------------------------------------------------

    def finish(self) -> None:
        if self.undo_fd >= 0:
            assert self.undo_name is not None
            os.close(self.undo_fd)
            self.undo_fd = -1
            shutil.rmtree(self.undo_name, dir_fd=self.root_fd)
            for entry in self.journal:  # the undo dir changed the root's times, not the layer
                if entry[0] == "times" and entry[1] == "":
                    os.utime(self.root_fd, ns=(entry[2], entry[3]))
                    break
        for rel, mtime in reversed(self.dir_times):
            fd = self.dir_fd(rel, create=False, entry=rel) if rel else self.root_fd
            if fd is not None:
                os.utime(fd, ns=(mtime * 1_000_000_000,) * 2)

    def rollback(self) -> None:
        for key in [k for k in self.dirs if k]:
            os.close(self.dirs.pop(key))
        for entry in reversed(self.journal):
            try:
                self._undo(entry)
            except OSError:
                continue  # best effort: keep undoing the rest
        if self.undo_fd >= 0:
            assert self.undo_name is not None
            os.close(self.undo_fd)
            self.undo_fd = -1
            try:
                shutil.rmtree(self.undo_name, dir_fd=self.root_fd)
            except OSError:
                pass
            for entry in self.journal:
                if entry[0] == "times" and entry[1] == "":
                    os.utime(self.root_fd, ns=(entry[2], entry[3]))
                    break

    def _open_existing(self, rel: str) -> int | None:
        if not rel:
            return os.dup(self.root_fd)
        fd = self.root_fd
        owned = -1
        try:
            for part in rel.split("/"):
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                if owned >= 0:
                    os.close(owned)
                fd = owned = nfd
        except OSError:
            if owned >= 0:
                os.close(owned)
            return None
        return os.dup(fd) if owned < 0 else owned

    def _undo(self, entry: tuple[Any, ...]) -> None:
        kind, rel = entry[0], entry[1]
        parent, base = _parent_base(rel)
        if kind == "created":
            pfd = self._open_existing(parent)
            if pfd is not None:
                try:
                    _remove_at(pfd, base)
                finally:
                    os.close(pfd)
        elif kind == "moved":
            pfd = self._open_existing(parent)
            if pfd is not None:
                try:
                    _remove_at(pfd, base)
                    os.rename(entry[2], base, src_dir_fd=self.undo_fd, dst_dir_fd=pfd)
                finally:
                    os.close(pfd)
        elif kind in ("times", "meta"):
            fd = self._open_existing(rel)
            if fd is None:
                return
            try:
                if kind == "meta":
                    _, _, mode, uid, gid, atime, mtime, xattrs = entry
                    now = _listxattrs(fd)
                    for name in now:
                        if name not in xattrs:
                            os.removexattr(fd, name)
                    for name, value in xattrs.items():
                        if now.get(name) != value:
                            os.setxattr(fd, name, value)
                    os.fchown(fd, uid, gid)
                    os.fchmod(fd, stat.S_IMODE(mode))
                else:
                    _, _, atime, mtime = entry
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)

    def close(self) -> None:
        for key in [k for k in self.dirs if k]:
            os.close(self.dirs.pop(key))
        if self.undo_fd >= 0:
            os.close(self.undo_fd)
            self.undo_fd = -1
        os.close(self.root_fd)


def _remove_at(dir_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def apply_tar(
    tar: BinaryIO,
    target: str | int,
    whiteouts: Whiteouts,
    *,
    no_overwrite_dir_non_dir: bool = False,
    chown: tuple[int, int] | None = None,
    outward_symlinks: bool = False,
) -> None:
    """Unpack an uncompressed tar stream into `target` (all or nothing); the engine of apply_layer."""
    applier = _Applier(target, whiteouts, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, chown=chown,
                       outward_symlinks=outward_symlinks)
    try:
        reader = TarReader(tar)
        while (e := reader.next()) is not None:
            applier.add(e, reader)
        while tar.read(_CHUNK):  # to the end of the stream: a truncated compressed tail fails here
            pass
        applier.finish()
    except BaseException as exc:
        applier.rollback()
        if isinstance(exc, DockyardError):
            raise
        if isinstance(exc, OSError):
            raise SystemCallError.from_oserror(f"apply layer to {target}", exc) from exc
        raise
    finally:
        applier.close()


def apply_layer(stream: BinaryIO, target: str | os.PathLike[str], *, whiteouts: Whiteouts = Whiteouts.DELETE,
                outward_symlinks: bool = False) -> ApplyResult:
    """Unpack a layer (gzip, zstd or plain tar) into `target`, computing its diff_id as it streams.

    Raises InvalidArgument for hostile or broken input; the target is then as it was."""
    raw, _ = open_decompressed(stream)
    hashing = _Hashing(raw)
    reader = io.BufferedReader(hashing, _CHUNK)
    # reads to the end: the diff_id covers it all
    apply_tar(reader, os.fspath(target), whiteouts, outward_symlinks=outward_symlinks)
    return ApplyResult(Digest("sha256", hashing.hasher.hexdigest()), hashing.count)
