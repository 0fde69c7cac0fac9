"""COPY and ADD: which files, their checksum for the cache, and how they land in the image
(moby's builder/dockerfile/copy.go and the archive code under it, for Docker 20.10).

    sources = collect(cmd_name, srcs, dest, tree, fetch_url)   # [Source], with `file:`/`dir:` sums
    summary = sources_checksum(sources)                         # what `#(nop) COPY <sum> in <dest> `
    copy_sources(rootfs, sources, dest, workdir, options)       # into a mounted rootfs

Sources come from a `SourceTree`: the build context (`ContextTree`), an image or stage rootfs for
`COPY --from` or a downloaded URL (`FsTree`, hashed as Docker's lazy source: the tar header of the
file with its real owner and user name, then its bytes), or heredoc bodies.

Semantics kept from Docker:
- sources are relative to the context root (a leading `/` or `./` is dropped); `*`, `?` and
  `[...]` match with filepath.Match against every path of the tree; symlinks in a source path are
  followed inside the tree; an excluded or missing file is `file not found in build context or
  excluded by .dockerignore`;
- several sources need a destination ending in `/`; a relative destination is joined to WORKDIR;
- a directory source copies its contents (not itself); a file goes to `dest/<name>` when dest
  ends in `/` or is a directory, else to `dest`; missing parents are made 0755;
- copied files keep mode and mtime, and are owned by root (or `--chown`'s user and group, looked
  up in the image's /etc/passwd and /etc/group); `COPY --from` without `--chown` keeps owners;
- ADD of a local tar (plain, gzip, bzip2, xz) unpacks it into dest, with the archive's owners;
  ADD of a URL downloads it (file mode 0600, mtime from Last-Modified) and does not unpack it.
BuildKit's `--chmod` sets the mode of everything copied.
"""

from __future__ import annotations

import bz2
import grp
import gzip
import hashlib
import lzma
import os
import pwd
import shutil
import stat
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Protocol, cast

from dockyard.build.context import BuildContext, tarsum_header
from dockyard.build.dockerignore import go_clean, go_match
from dockyard.errors import DockyardError, InvalidArgument, NotFound, SystemCallError
from dockyard.fsutil.paths import resolve_in_root

__all__ = [
    "ContextTree", "CopyOptions", "FsTree", "HeredocTree", "Source", "SourceTree", "check_destination", "collect",
    "copy_sources", "download", "lookup_chown", "normalize_dest", "sources_checksum",
]

_CHUNK = 1 << 20
UNNAMED = "__unnamed__"


class SourceTree(Protocol):
    """Where COPY reads from."""

    def resolve(self, rel: str) -> str: ...
    def exists(self, rel: str) -> bool: ...
    def is_dir(self, rel: str) -> bool: ...
    def walk(self, rel: str = ".") -> Iterator[str]: ...
    def checksum(self, rel: str) -> str: ...
    def host_path(self, rel: str) -> str: ...
    def raw_path(self, rel: str) -> str: ...
    def lstat(self, rel: str) -> os.stat_result: ...


class ContextTree:
    """The build context as a source tree."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx

    def resolve(self, rel: str) -> str:
        return self.ctx.resolve(rel)

    def exists(self, rel: str) -> bool:
        return self.ctx.exists(self.ctx.resolve(rel))

    def is_dir(self, rel: str) -> bool:
        return self.ctx.is_dir(self.ctx.resolve(rel))

    def walk(self, rel: str = ".") -> Iterator[str]:
        return self.ctx.walk(rel)

    def checksum(self, rel: str) -> str:
        resolved = self.ctx.resolve(rel)
        return self.ctx.checksum(resolved) if self.ctx.exists(resolved) else rel

    def host_path(self, rel: str) -> str:
        return self.ctx.host_path(rel)

    def raw_path(self, rel: str) -> str:
        return self.ctx.raw_path(rel)

    def lstat(self, rel: str) -> os.stat_result:
        return self.ctx.lstat(rel)


_NAMES: dict[tuple[str, int], str] = {}


def _host_name(kind: str, ident: int) -> str:
    """The host's name for a uid/gid (Go's archive/tar looks them up), "" when it has none."""
    key = (kind, ident)
    if key not in _NAMES:
        try:
            _NAMES[key] = pwd.getpwuid(ident).pw_name if kind == "u" else grp.getgrgid(ident).gr_name
        except KeyError:
            _NAMES[key] = ""
    return _NAMES[key]


_TYPE_BITS = (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)
_TYPEFLAG = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4", stat.S_IFDIR: "5",
             stat.S_IFIFO: "6"}


class FsTree:
    """A directory (a mounted image rootfs, a download) as a source tree, hashed lazily as Docker's
    lazySource does."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._sums: dict[str, str] = {}

    def _host(self, rel: str) -> str:
        return resolve_in_root(self.root, go_clean("/" + rel))

    def resolve(self, rel: str) -> str:
        inside = os.path.relpath(self._host(rel), self.root)
        return inside

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self._host(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self._host(rel))

    def walk(self, rel: str = ".") -> Iterator[str]:
        base = self._host(rel)
        start = os.path.relpath(base, self.root)
        return _fs_walk(self.root, "" if start == "." else start)

    def host_path(self, rel: str) -> str:
        return self._host(rel)

    def raw_path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def lstat(self, rel: str) -> os.stat_result:
        return os.lstat(os.path.join(self.root, rel))

    def checksum(self, rel: str) -> str:
        host = self._host(rel)
        rel = os.path.relpath(host, self.root)
        if rel in self._sums:
            return self._sums[rel]
        try:
            st = os.lstat(host)
        except OSError:
            return rel
        fmt = stat.S_IFMT(st.st_mode)
        kind = _TYPEFLAG.get(fmt, "0")
        linkname = os.readlink(host) if fmt == stat.S_IFLNK else ""
        mode = (st.st_mode & 0o7777) | (fmt if fmt in _TYPE_BITS else 0)
        dev = st.st_rdev if fmt in (stat.S_IFCHR, stat.S_IFBLK) else 0
        xattrs: dict[str, bytes] = {}
        try:
            cap = os.getxattr(host, "security.capability", follow_symlinks=False)
            if len(cap) > 3 and cap[3] == 3:  # VFS_CAP_REVISION_3 becomes revision 2 (20 bytes)
                cap = cap[:3] + b"\x02" + cap[4:20]
            xattrs["security.capability"] = cap
        except OSError:
            pass
        h = tarsum_header(rel + "/" if fmt == stat.S_IFDIR else rel, mode, st.st_uid, st.st_gid,
                          st.st_size if fmt == stat.S_IFREG else 0, kind, linkname,
                          os.major(dev) if dev else 0, os.minor(dev) if dev else 0, xattrs,
                          uname=_host_name("u", st.st_uid), gname=_host_name("g", st.st_gid))
        if fmt == stat.S_IFREG and st.st_size:
            with open(host, "rb") as f:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
        self._sums[rel] = h.hexdigest()
        return self._sums[rel]


def _fs_walk(root: str, rel: str) -> Iterator[str]:
    """filepath.Walk below root/rel (not rel itself): lexical order, symlinks not followed."""
    host = os.path.join(root, rel) if rel else root
    try:
        names = sorted(os.listdir(host))
    except (NotADirectoryError, FileNotFoundError):
        return
    for name in names:
        child = f"{rel}/{name}" if rel else name
        yield child
        if stat.S_ISDIR(os.lstat(os.path.join(root, child)).st_mode):
            yield from _fs_walk(root, child)


class HeredocTree:
    """Heredoc bodies (`COPY <<EOF /dst`) as files named after their marker (BuildKit: mode 0644)."""

    def __init__(self, docs: dict[str, bytes], directory: str) -> None:
        self.directory = directory
        self.docs = docs
        for name, data in docs.items():
            path = os.path.join(directory, name)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)

    def resolve(self, rel: str) -> str:
        return rel

    def exists(self, rel: str) -> bool:
        return rel in self.docs

    def is_dir(self, rel: str) -> bool:
        return False

    def walk(self, rel: str = ".") -> Iterator[str]:
        return iter(sorted(self.docs))

    def checksum(self, rel: str) -> str:
        data = self.docs[rel]
        h = tarsum_header(rel, 0o644, 0, 0, len(data), "0")
        h.update(data)
        return h.hexdigest()

    def host_path(self, rel: str) -> str:
        return os.path.join(self.directory, rel)

    def raw_path(self, rel: str) -> str:
        return os.path.join(self.directory, rel)

    def lstat(self, rel: str) -> os.stat_result:
        return os.lstat(os.path.join(self.directory, rel))


@dataclass
class Source:
    tree: SourceTree
    path: str  # as the user named it (cleaned of a leading / and ./)
    checksum: str  # "file:<hex>" or "dir:<hex>"
    is_dir: bool
    decompress: bool = False  # ADD may unpack it (local files only)
    name: str = ""  # the file name it gets in a destination directory


def _has_wildcards(name: str) -> bool:
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?[":
            return True
        i += 1
    return False


def _hash_list(prefix: str, items: list[str]) -> str:
    return f"{prefix}:" + hashlib.sha256(",".join(items).encode()).hexdigest()


def _calc(tree: SourceTree, orig: str, allow_wildcards: bool, from_context: bool) -> list[Source]:
    orig = orig.removeprefix("/").removeprefix("./")
    if allow_wildcards and _has_wildcards(orig):
        out: list[Source] = []
        for rel in tree.walk("."):
            if go_match(orig, rel):
                out.extend(_calc(tree, rel, False, from_context))
        return out
    rel = go_clean("/" + orig).lstrip("/") or "."
    if rel != "." and not tree.exists(rel):
        if from_context:
            raise NotFound(f"file not found in build context or excluded by .dockerignore: stat {orig}: "
                           "file does not exist")
        raise NotFound(f"stat {orig}: file does not exist")
    resolved = tree.resolve(rel)
    if not tree.is_dir(rel):
        return [Source(tree, orig, "file:" + tree.checksum(rel), False, name=os.path.basename(rel))]
    # Docker's walkSource hashes the directory itself too (unless it is the root) and all below it
    below = [resolved] if resolved != "." else []
    sums = sorted(tree.checksum(sub) for sub in [*below, *tree.walk(resolved)])
    return [Source(tree, orig, _hash_list("dir", sums), True, name=os.path.basename(rel))]


def collect(cmd_name: str, sources: list[str], dest: str, tree: SourceTree | None,
            fetch_url: Callable[[str], tuple[FsTree, str]] | None = None,
            heredocs: HeredocTree | None = None, from_context: bool = True) -> list[Source]:
    """The sources of one COPY/ADD, in order, with their checksums."""
    out: list[Source] = []
    for orig in sources:
        if heredocs is not None and heredocs.exists(orig):
            out.append(Source(heredocs, orig, "file:" + heredocs.checksum(orig), False, name=orig))
            continue
        if _is_url(orig):
            if fetch_url is None:
                raise InvalidArgument("source can't be a URL for COPY")
            remote, name = fetch_url(orig)
            if not name:
                if dest.endswith("/"):
                    raise InvalidArgument(f"cannot determine filename for source {orig}")
                name = UNNAMED
            out.append(Source(remote, name, remote.checksum(name), False, name=name))  # no "file:" for URLs
            continue
        if tree is None:
            raise InvalidArgument("missing build context")
        for found in _calc(tree, orig, True, from_context):
            found.decompress = cmd_name == "ADD"
            out.append(found)
    if not out:
        raise InvalidArgument("no source files were specified")
    return out


def check_destination(cmd_name: str, sources: list[Source], dest: str) -> None:
    if len(sources) > 1 and not dest.endswith("/"):
        raise InvalidArgument(f"When using {cmd_name} with more than one source file, the destination must be "
                              "a directory and end with a /")


def sources_checksum(sources: list[Source]) -> str:
    if len(sources) == 1:
        return sources[0].checksum
    return _hash_list("multi", [s.checksum for s in sources])


def _is_url(text: str) -> bool:
    return text.startswith("http://") or text.startswith("https://")


# --- downloads -----------------------------------------------------------------------------------


def download(url: str, work_dir: str) -> tuple[FsTree, str, str]:
    """ADD <url>: fetch it into a new directory; (tree, file name or "", the directory to remove)."""
    parsed = urllib.parse.urlparse(url)
    tmp = tempfile.mkdtemp(prefix="docker-remote", dir=work_dir)
    try:
        try:
            response = urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as err:
            raise InvalidArgument(f"failed to GET {url} with status {err.code} {err.reason}: "
                                  f"{err.read(4096).decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as err:
            raise InvalidArgument(f"Get {url!r}: {getattr(err, 'reason', err)}") from None
        with response:
            name = ""
            path = parsed.path
            if path and not path.endswith("/"):
                name = os.path.basename(path)
            if not name:
                disposition = response.headers.get("Content-Disposition", "")
                for part in disposition.split(";"):
                    key, _, value = part.strip().partition("=")
                    if key.lower() == "filename":
                        value = value.strip('"')
                        if value and not value.endswith("/"):
                            name = os.path.basename(value)
            target = os.path.join(tmp, name or UNNAMED)
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(response, out, _CHUNK)
            mtime = 0.0
            modified = response.headers.get("Last-Modified")
            if modified:
                try:
                    mtime = parsedate_to_datetime(modified).timestamp()
                except (TypeError, ValueError):
                    mtime = 0.0
            os.utime(target, (mtime, mtime))
        return FsTree(tmp), name, tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- into the rootfs -------------------------------------------------------------------------------


@dataclass
class CopyOptions:
    uid: int = 0
    gid: int = 0
    chown: bool = True  # False: keep the sources' owners (COPY --from without --chown)
    chmod: int | None = None  # BuildKit's --chmod


@dataclass
class _Copier:
    root: str
    options: CopyOptions
    copied: list[str] = field(default_factory=list)

    def mkdir_all(self, host_path: str) -> None:
        """Make the missing directories of a resolved path, 0755 and owned by the copy's owner."""
        missing: list[str] = []
        path = host_path
        while not os.path.lexists(path):
            missing.append(path)
            path = os.path.dirname(path)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise SystemCallError(f"mkdir {missing[-1] if missing else path}", 20)
        for p in reversed(missing):
            os.mkdir(p, 0o755)
            os.chmod(p, 0o755)
            os.lchown(p, self.options.uid, self.options.gid)

    def finish(self, path: str, is_link: bool) -> None:
        self.copied.append(path)
        if self.options.chown:
            os.lchown(path, self.options.uid, self.options.gid)
        if self.options.chmod is not None and not is_link:
            os.chmod(path, self.options.chmod)

    def copy_file(self, src: str, dst: str, st: os.stat_result) -> None:
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            else:
                os.unlink(dst)
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with open(src, "rb") as f:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    os.write(fd, chunk)
            os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
        os.utime(dst, (int(st.st_mtime), int(st.st_mtime)), follow_symlinks=False)
        self.finish(dst, False)

    def copy_tree(self, tree: SourceTree, src_rel: str, dst: str) -> None:
        """The contents of the directory src_rel under dst (made if missing)."""
        if not os.path.isdir(dst):
            missing: list[str] = []
            path = dst
            while not os.path.lexists(path):
                missing.append(path)
                path = os.path.dirname(path)
            if not missing or not os.path.isdir(path):
                raise SystemCallError(f"mkdir {dst}", 20 if os.path.lexists(dst) else 2)
            for p in reversed(missing):
                os.mkdir(p, 0o755)
                os.chmod(p, 0o755)
                os.lchown(p, 0, 0)
            if self.options.chown:
                os.lchown(dst, self.options.uid, self.options.gid)
        links: dict[tuple[int, int], str] = {}
        dirs: list[tuple[str, int]] = []
        for rel in tree.walk(src_rel):
            inner = os.path.relpath(rel, src_rel) if src_rel != "." else rel
            src = tree.raw_path(rel)
            target = os.path.join(dst, inner)
            st = tree.lstat(rel)
            fmt = stat.S_IFMT(st.st_mode)
            if os.path.lexists(target) and not (fmt == stat.S_IFDIR and os.path.isdir(target)
                                                and not os.path.islink(target)):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
            if fmt == stat.S_IFDIR:
                if not os.path.isdir(target):
                    os.mkdir(target, 0o700)
                os.lchown(target, st.st_uid, st.st_gid)
                os.chmod(target, stat.S_IMODE(st.st_mode))
                dirs.append((target, int(st.st_mtime)))
                self.finish(target, False)
            elif fmt == stat.S_IFREG:
                if st.st_nlink > 1:
                    first = links.setdefault((st.st_dev, st.st_ino), target)
                    if first != target:
                        os.link(first, target)
                        self.copied.append(target)
                        continue
                self.copy_file(src, target, st)
            elif fmt == stat.S_IFLNK:
                os.symlink(os.readlink(src), target)
                os.lchown(target, st.st_uid, st.st_gid)
                os.utime(target, (int(st.st_mtime), int(st.st_mtime)), follow_symlinks=False)
                self.finish(target, True)
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
                os.mknod(target, fmt | stat.S_IMODE(st.st_mode), st.st_rdev)
                os.lchown(target, st.st_uid, st.st_gid)
                os.chmod(target, stat.S_IMODE(st.st_mode))
                os.utime(target, (int(st.st_mtime), int(st.st_mtime)))
                self.finish(target, False)
        for path, mtime in dirs:
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def lookup_chown(rootfs: str, chown: str) -> tuple[int, int]:
    """`--chown=user[:group]` as uid and gid: numbers as they are, names from the image's
    /etc/passwd and /etc/group (Docker's parseChownFlag)."""
    parts = chown.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"invalid chown string format: {chown}")
    user, group = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return _lookup(rootfs, "/etc/passwd", user, "user"), _lookup(rootfs, "/etc/group", group, "group")


def _lookup(rootfs: str, path: str, name: str, what: str) -> int:
    try:
        return int(name, 10)
    except ValueError:
        pass
    try:
        with open(resolve_in_root(rootfs, path), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: can't find "
                              f"{'uid' if what == 'user' else 'gid'} for {what} {name}: open {path}: "
                              "no such file or directory") from None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            try:
                return int(fields[2])
            except ValueError:
                continue
    raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: can't find "
                          f"{'uid' if what == 'user' else 'gid'} for {what} {name}: no such {what}: {name}")


def normalize_dest(workdir: str, dest: str) -> str:
    """moby's normalizeDest: relative destinations are joined to WORKDIR, a trailing / kept."""
    if dest.startswith("/"):
        return dest
    joined = go_clean("/" + "/".join(p for p in (workdir.strip("/"), dest) if p))
    return joined + "/" if dest.endswith("/") and joined != "/" else joined


def copy_sources(rootfs: str, sources: list[Source], dest: str, options: CopyOptions) -> None:
    """Copy the sources into the mounted root filesystem `rootfs` at `dest` (already joined to
    WORKDIR, a trailing `/` meaning a directory)."""
    copier = _Copier(rootfs, options)
    try:
        for source in sources:
            dest_host = resolve_in_root(rootfs, dest)
            if source.is_dir:
                src_rel = source.tree.resolve(go_clean("/" + source.path).lstrip("/") or ".")
                copier.copy_tree(source.tree, src_rel, dest_host)
                continue
            src_host = source.tree.host_path(go_clean("/" + source.path).lstrip("/") or ".")
            if source.decompress and _is_archive(src_host):
                _untar(src_host, dest_host, copier)
                continue
            if dest.endswith("/") or os.path.isdir(dest_host):
                dest_host = os.path.join(dest_host, source.name)
            copier.mkdir_all(os.path.dirname(dest_host))
            st = os.stat(src_host)
            copier.copy_file(src_host, dest_host, st)
    except DockyardError:
        raise
    except OSError as err:
        raise SystemCallError.from_oserror("failed to copy files", err) from None


# --- ADD of a local archive ----------------------------------------------------------------------


@contextmanager
def _open_decompressed(path: str) -> Iterator[BinaryIO]:
    """The file's bytes, gunzipped, bunzipped or unxz'd when its magic says so."""
    with open(path, "rb") as f:
        head = f.read(6)
        f.seek(0)
        if head.startswith(b"\x1f\x8b"):
            with gzip.GzipFile(fileobj=f) as g:
                yield cast(BinaryIO, g)
        elif head.startswith(b"BZh"):
            with bz2.BZ2File(f) as b:
                yield cast(BinaryIO, b)
        elif head.startswith(b"\xfd7zXZ\x00"):
            with lzma.LZMAFile(f) as x:
                yield cast(BinaryIO, x)
        else:
            yield f


def _is_archive(path: str) -> bool:
    """Docker's isArchivePath: (decompressed) data whose first tar header reads."""
    try:
        with _open_decompressed(path) as f:
            block = f.read(512)
    except (OSError, EOFError, lzma.LZMAError):
        return False
    if len(block) < 512 or block == bytes(512):
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _untar(archive: str, dest: str, copier: _Copier) -> None:
    saved = copier.options
    copier.options = CopyOptions(chown=False)
    try:
        if not os.path.isdir(dest):
            copier.options = CopyOptions(uid=0, gid=0, chown=False)
            copier.mkdir_all(dest)
        dirs: list[tuple[str, int]] = []
        with _open_decompressed(archive) as f, tarfile.open(fileobj=f, mode="r|") as tf:
            for m in tf:
                rel = go_clean("/" + m.name).lstrip("/")
                if not rel:
                    continue
                parent, _, base = rel.rpartition("/")
                parent_host = resolve_in_root(dest, parent) if parent else dest
                if not os.path.isdir(parent_host):
                    copier.mkdir_all(parent_host)
                target = os.path.join(parent_host, base)
                if os.path.lexists(target) and not (m.isdir() and os.path.isdir(target)):
                    if os.path.isdir(target) and not os.path.islink(target):
                        shutil.rmtree(target)
                    else:
                        os.unlink(target)
                if m.isdir():
                    if not os.path.isdir(target):
                        os.mkdir(target, 0o700)
                    dirs.append((target, int(m.mtime)))
                elif m.isreg():
                    src = tf.extractfile(m)
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        if src is not None:
                            shutil.copyfileobj(src, out, _CHUNK)
                elif m.issym():
                    os.symlink(m.linkname, target)
                elif m.islnk():
                    os.link(resolve_in_root(dest, m.linkname), target, follow_symlinks=False)
                elif m.ischr() or m.isblk() or m.isfifo():
                    fmt = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
                    os.mknod(target, fmt | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
                else:
                    continue
                if not m.islnk():
                    os.lchown(target, m.uid, m.gid)
                if not m.issym() and not m.islnk():
                    os.chmod(target, m.mode & 0o7777)
                if not m.isdir():
                    os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)
                copier.copied.append(target)
        for path, mtime in reversed(dirs):
            os.utime(path, (mtime, mtime), follow_symlinks=False)
    except tarfile.TarError as err:
        raise InvalidArgument(f"failed to copy files: {err}") from None
    finally:
        copier.options = saved
