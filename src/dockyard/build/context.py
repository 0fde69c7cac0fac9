"""The build context: the files COPY and ADD read, with Docker's content checksums.

Two sources, one shape:

    ctx = BuildContext.from_tar(stream, work_dir)           # what POST /build receives
    ctx = BuildContext.from_directory(Path("."))            # what `docker build .` would send
    ctx.dockerfile("Dockerfile")                            # bytes (and drops it from the context
                                                            # when .dockerignore names it)
    ctx.checksum("src/app.py")                              # tarsum v1 of the entry
    ctx.close()                                             # removes what from_tar extracted

`from_tar` extracts the (plain, gzip, bzip2 or xz) tar into a private directory under `work_dir`,
every path resolved inside it, computing each entry's checksum as the daemon's tarsum does while
reading: sha256 over the header fields name, mode, uid, gid, size, typeflag, linkname, uname and
gname (both blanked), devmajor, devminor and the sorted xattrs, then the content. mtimes are not
part of it, so touching a file does not invalidate the cache; changing its bytes, mode or owner
does.

`from_directory` does what the docker CLI does before it sends a context: reads .dockerignore,
keeps the Dockerfile and .dockerignore even when excluded, walks the directory with Docker's
pattern rules (an excluded directory is skipped unless an exception pattern may re-include
something in it) and computes the same checksums as if the files had been tarred by the CLI
(uid/gid 0, mode = permission and set-id bits). Files are read in place, never copied, and
checksums are computed only for the entries a COPY touches.

In both, the daemon's rule follows: the Dockerfile and .dockerignore are removed from the context
when .dockerignore matches them. `write_context_tar` writes a directory as the CLI would send it
(for clients of the API).
"""

from __future__ import annotations

import bisect
import hashlib
import lzma
import os
import secrets
import shutil
import stat
import tarfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.build.dockerignore import MatchInfo, PatternMatcher, go_clean, read_dockerignore
from dockyard.build.tarread import Member, TarStream
from dockyard.errors import InvalidArgument, NotFound, SystemCallError

__all__ = ["BuildContext", "tarsum_header", "write_context_tar"]

_TYPEFLAGS = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4", stat.S_IFDIR: "5",
              stat.S_IFIFO: "6"}
_CHUNK = 1 << 20


def tarsum_header(name: str, mode: int, uid: int, gid: int, size: int, typeflag: str, linkname: str = "",
                  devmajor: int = 0, devminor: int = 0, xattrs: dict[str, bytes] | None = None,
                  uname: str = "", gname: str = "") -> hashlib._Hash:
    """A sha256 primed with tarsum v1's header fields (`WriteV1Header`); add the content and hexdigest."""
    h = hashlib.sha256()
    for key, value in (("name", name), ("mode", str(mode)), ("uid", str(uid)), ("gid", str(gid)),
                       ("size", str(size)), ("typeflag", typeflag), ("linkname", linkname), ("uname", uname),
                       ("gname", gname), ("devmajor", str(devmajor)), ("devminor", str(devminor))):
        h.update(key.encode() + value.encode("utf-8", "surrogateescape"))
    for key in sorted(xattrs or {}):
        h.update(key.encode("utf-8", "surrogateescape") + (xattrs or {})[key])
    return h


@dataclass
class _Entry:
    kind: str  # typeflag: "0" file, "5" dir, "2" symlink, "1" hard link to an earlier entry, ...
    checksum: str = ""  # computed lazily for directory contexts
    linkname: str = ""  # a symlink's target, a hard link's first name
    implicit: bool = False  # a directory not in the context whose contents are (made 0755 by root)
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    dev: tuple[int, int] = (0, 0)
    data: bytes | None = None  # a small file's bytes, until the context is written out
    spill: str = ""  # a large file's temporary copy, until the context is written out
    on_disk: bool = False


_SMALL_FILE = 1 << 20  # files up to this size stay in memory until a COPY needs them...
_MEMORY_BUDGET = 64 << 20  # ...as long as they add up to no more than this


def _rel(path: str) -> str:
    """A context path as Docker cleans it: relative, no leading `/` or `./`, "." for the root."""
    return go_clean("/" + path).lstrip("/") or "."


class BuildContext:
    """A build context: the paths in `entries`, their files under `root`.

    A context read from a tar keeps small files in memory and writes the tree out (`root`) only
    when a COPY or ADD first reads from it, so a build served from its cache never writes the
    context to disk. Paths are resolved against the entries (symlinks followed inside the
    context, `..` stopping at its root), not against the disk."""

    def __init__(self, root: Path, *, owned: bool, entries: dict[str, _Entry], from_directory: bool,
                 work: Path | None = None) -> None:
        self.root = root
        self.owned = owned
        self._entries = entries
        self._sorted: list[str] | None = None
        self._from_directory = from_directory
        self._work = work  # from_tar: the private directory holding root/ and spill/
        self._in_memory = 0
        self._materialized = from_directory

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_tar(cls, stream: BinaryIO, work_dir: Path) -> BuildContext:
        """Read a context tar (any compression); its files are written under a new directory in
        `work_dir` when first needed."""
        work = Path(work_dir) / f"context-{secrets.token_hex(8)}"
        try:
            work.mkdir(parents=True, mode=0o700)
        except OSError as err:
            raise SystemCallError.from_oserror(f"mkdir {work}", err) from None
        ctx = cls(work / "root", owned=True, entries={}, from_directory=False, work=work)
        try:
            ctx._read_tar(stream)
            ctx._add_implicit_parents()
        except BaseException:
            ctx.close()
            raise
        return ctx

    @classmethod
    def from_directory(cls, directory: Path, dockerfile: str = "Dockerfile") -> BuildContext:
        """The directory as the docker CLI would send it (.dockerignore applied); `dockerfile` is
        the Dockerfile's path inside it, kept even when excluded."""
        directory = Path(directory).resolve()
        if not directory.is_dir():
            raise NotFound(f"unable to prepare context: path {str(directory)!r} not found")
        patterns = _cli_patterns(directory, dockerfile)
        ctx = cls(directory, owned=False, entries={}, from_directory=True)
        for rel, kind, linkname in _walk_included(directory, PatternMatcher(patterns)):
            ctx._entries[rel] = _Entry(kind, linkname=linkname, on_disk=True)
        ctx._add_implicit_parents()
        return ctx

    def _add_implicit_parents(self) -> None:
        """Directories the context lacks but some of its paths are in (an excluded directory
        with an exception below it): Docker's extraction makes them, and COPY sees them, with no
        checksum of their own (Docker hashes their name instead)."""
        for rel in list(self._entries):
            parent = rel.rpartition("/")[0]
            while parent and parent not in self._entries:
                self._entries[parent] = _Entry("5", checksum=parent, implicit=True, mode=0o755)
                parent = parent.rpartition("/")[0]
        self._sorted = None

    def close(self) -> None:
        if self.owned and self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self.owned = False

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading a tar ------------------------------------------------------------------------

    def _read_tar(self, stream: BinaryIO) -> None:
        try:
            for member in TarStream(stream):
                self._read_member(member)
        except (OSError, EOFError, lzma.LZMAError) as err:
            raise InvalidArgument(f"failed to read the build context: {err}") from None

    def _read_member(self, m: Member) -> None:
        kind = "0" if m.type == "7" else m.type
        if kind not in ("0", "1", "2", "3", "4", "5", "6"):
            return  # other entry types carry nothing a build can use
        plain = go_clean(m.name)
        if plain == ".." or plain.startswith("../"):
            raise InvalidArgument(f"failed to read the build context: {m.name!r} is outside of the context")
        name = _rel(m.name)
        h = tarsum_header(m.name, m.mode, m.uid, m.gid, m.size, kind, m.linkname, m.devmajor, m.devminor, m.xattrs)
        if name == ".":
            self._entries.setdefault(".", _Entry("5", h.hexdigest(), mode=m.mode & 0o7777))
            return
        parent, _, base = name.rpartition("/")
        rel = f"{self.resolve(parent)}/{base}" if parent else base
        rel = rel.removeprefix("./")
        entry = _Entry(kind, mode=m.mode & 0o7777, uid=m.uid, gid=m.gid, mtime=m.mtime,
                       dev=(m.devmajor, m.devminor), linkname=m.linkname)
        if kind == "1":
            target = _rel(m.linkname)
            if target not in self._entries or self._entries[target].kind not in ("0", "1"):
                raise InvalidArgument(f"failed to read the build context: hard link {m.name!r} to "
                                      f"{m.linkname!r}, which is not a file in the context")
            entry.linkname = target
        elif kind == "0":
            if m.size <= _SMALL_FILE and self._in_memory + m.size <= _MEMORY_BUDGET:
                data = m.read()
                h.update(data)
                entry.data = data
                self._in_memory += len(data)
            else:
                assert self._work is not None
                spill_dir = self._work / "spill"
                spill_dir.mkdir(exist_ok=True)
                entry.spill = str(spill_dir / secrets.token_hex(8))
                with open(entry.spill, "wb") as out:
                    def write(chunk: bytes) -> None:
                        h.update(chunk)
                        out.write(chunk)

                    m.copy_to(write)
        entry.checksum = h.hexdigest()
        old = self._entries.get(rel)
        if old is not None and old.kind == "5" and kind != "5":
            self.remove(rel)
        if old is not None and old.kind == "5" and kind == "5":
            old.mode, old.uid, old.gid, old.mtime, old.checksum = entry.mode, entry.uid, entry.gid, entry.mtime, \
                entry.checksum
            return
        self._entries[rel] = entry
        self._sorted = None

    def materialize(self) -> None:
        """Write the context's files under `root` (once; a directory context is there already)."""
        if self._materialized:
            return
        self._materialized = True
        try:
            self.root.mkdir(mode=0o755, exist_ok=True)
            dirs: list[tuple[str, _Entry]] = []
            for rel in _walk_order(list(self._entries)):
                entry = self._entries[rel]
                target = os.path.join(self.root, rel)
                if entry.kind == "5":
                    if not os.path.isdir(target):
                        os.mkdir(target, 0o700)
                    os.lchown(target, entry.uid, entry.gid)
                    dirs.append((target, entry))
                    continue
                os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                if entry.kind == "0":
                    if entry.spill:
                        os.rename(entry.spill, target)
                        entry.spill = ""
                    else:
                        with open(target, "wb") as f:
                            f.write(entry.data or b"")
                        entry.data = None
                elif entry.kind == "2":
                    os.symlink(entry.linkname, target)
                elif entry.kind == "1":
                    os.link(os.path.join(self.root, entry.linkname), target, follow_symlinks=False)
                    continue
                else:
                    fmt = {"3": stat.S_IFCHR, "4": stat.S_IFBLK, "6": stat.S_IFIFO}[entry.kind]
                    os.mknod(target, fmt | entry.mode, os.makedev(*entry.dev))
                os.lchown(target, entry.uid, entry.gid)
                if entry.kind != "2":
                    os.chmod(target, entry.mode)
                os.utime(target, (entry.mtime, entry.mtime), follow_symlinks=False)
            for target, entry in reversed(dirs):
                os.chmod(target, entry.mode)
                os.utime(target, (entry.mtime, entry.mtime), follow_symlinks=False)
        except OSError as err:
            raise SystemCallError.from_oserror(f"write the build context to {self.root}", err) from None
        self._in_memory = 0

    # --- the Dockerfile -----------------------------------------------------------------------

    def dockerfile(self, name: str = "Dockerfile") -> tuple[str, bytes]:
        """(the name found, the contents) of the Dockerfile at `name` in the context (`dockerfile`
        as a fallback for the default name); it and .dockerignore then leave the context when
        .dockerignore matches them."""
        rel = _rel(name)
        found = self._read_file(rel)
        if found is None and name == "Dockerfile":
            rel = "dockerfile"
            found = self._read_file(rel)
        if found is None:
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
        if not found:
            raise InvalidArgument(f"the Dockerfile ({name if rel != 'dockerfile' else rel}) cannot be empty")
        ignore = self._read_file(".dockerignore")
        if ignore is not None:
            matcher = PatternMatcher(read_dockerignore(ignore))
            for path in (".dockerignore", rel):
                if matcher.matches(path):
                    self.remove(path)
        return rel, found

    def _read_file(self, rel: str) -> bytes | None:
        resolved = self.resolve(rel)
        entry = self._entries.get(resolved)
        if entry is None or entry.kind not in ("0", "1"):
            return None
        if entry.kind == "1":
            entry = self._entries.get(entry.linkname, entry)
        if entry.data is not None:
            return entry.data
        path = entry.spill or os.path.join(self.root, resolved)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def remove(self, rel: str) -> None:
        """Drop a path (and what is below it) from the context."""
        rel = _rel(rel)
        for key in [k for k in self._entries if k == rel or k.startswith(rel + "/")]:
            entry = self._entries.pop(key)
            if entry.spill:
                with suppress(OSError):
                    os.unlink(entry.spill)
            if entry.data is not None:
                self._in_memory -= len(entry.data)
        self._sorted = None
        if self.owned and self._materialized:
            _remove(os.path.join(self.root, rel))

    # --- lookups for COPY/ADD -----------------------------------------------------------------

    def resolve(self, rel: str) -> str:
        """The context path `rel` names once symlinks are followed inside the context ("." for
        the root); it need not exist."""
        todo = [p for p in _rel(rel).split("/") if p not in ("", ".")]
        done: list[str] = []
        links = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            entry = self._entries.get("/".join([*done, part]))
            if entry is not None and entry.kind == "2":
                links += 1
                if links > 255:
                    raise InvalidArgument(f"{rel}: too many levels of symbolic links")
                target = entry.linkname
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p not in ("", ".")] + todo
                continue
            done.append(part)
        return "/".join(done) or "."

    def host_path(self, rel: str) -> str:
        """The host path of a context path, symlinks followed inside the context (the context is
        written out first)."""
        self.materialize()
        resolved = self.resolve(rel)
        return str(self.root) if resolved == "." else os.path.join(self.root, resolved)

    def raw_path(self, rel: str) -> str:
        """The host path of a context path as it is (not resolved)."""
        self.materialize()
        return os.path.join(self.root, rel) if rel != "." else str(self.root)

    def exists(self, rel: str) -> bool:
        rel = _rel(rel)
        return rel == "." or rel in self._entries

    def lstat(self, rel: str) -> os.stat_result:
        """The metadata a copy of `rel` gets (an implicit directory: 0755, root, now)."""
        rel = _rel(rel)
        entry = self._entries.get(rel)
        if entry is not None and entry.implicit:
            now = int(time.time())
            return os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 1, 0, 0, 0, now, now, now))
        self.materialize()
        return os.lstat(os.path.join(self.root, rel))

    def is_file(self, rel: str) -> bool:
        """A regular file (or a hard link to one)."""
        rel = _rel(rel)
        return rel in self._entries and self._entries[rel].kind in ("0", "1")

    def is_dir(self, rel: str) -> bool:
        rel = _rel(rel)
        return rel == "." or (rel in self._entries and self._entries[rel].kind == "5")

    def kind(self, rel: str) -> str:
        rel = _rel(rel)
        return "5" if rel == "." else self._entries[rel].kind

    def _keys(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._entries)
        return self._sorted

    def walk(self, rel: str = ".") -> Iterator[str]:
        """Every visible path below `rel` (not `rel` itself), in filepath.Walk's order."""
        rel = _rel(rel)
        if rel == ".":
            yield from _walk_order(self._keys())
            return
        keys = self._keys()
        prefix = rel + "/"
        start = bisect.bisect_left(keys, prefix)
        below = []
        for key in keys[start:]:
            if not key.startswith(prefix):
                break
            below.append(key)
        yield from _walk_order(below)

    def checksum(self, rel: str) -> str:
        """The tarsum of a visible path (the path itself when it has none, as Docker falls back)."""
        rel = _rel(rel)
        entry = self._entries.get(rel)
        if entry is None:
            return rel
        if not entry.checksum:
            entry.checksum = self._directory_checksum(rel, entry)
        return entry.checksum

    def _directory_checksum(self, rel: str, entry: _Entry) -> str:
        host = os.path.join(self.root, rel)
        st = os.lstat(host)
        kind = entry.kind
        size = 0
        linkname = entry.linkname
        if kind == "2":
            linkname = os.readlink(host)
        if kind == "0":
            size = st.st_size
        name = rel + "/" if kind == "5" else rel
        xattrs: dict[str, bytes] = {}
        if kind in ("0", "5"):
            try:
                xattrs["security.capability"] = os.getxattr(host, "security.capability", follow_symlinks=False)
            except OSError:
                pass
        dev = st.st_rdev if kind in ("3", "4") else 0
        h = tarsum_header(name, st.st_mode & 0o7777, 0, 0, size, kind, linkname,
                          os.major(dev) if dev else 0, os.minor(dev) if dev else 0, xattrs)
        if kind == "0":
            with open(host, "rb") as f:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
        return h.hexdigest()


def _walk_order(keys: list[str]) -> Iterator[str]:
    """Sorted paths in filepath.Walk's order (a directory's entries by name, depth first):
    "a", "a/b", "a-c" rather than the plain sort's "a", "a-c", "a/b"."""
    return iter(sorted(keys, key=lambda k: k.split("/")))


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


# --- what the docker CLI sends ---------------------------------------------------------------------


def _cli_patterns(directory: Path, dockerfile: str) -> list[str]:
    """The .dockerignore patterns plus the CLI's exceptions for the Dockerfile and .dockerignore."""
    try:
        data = (directory / ".dockerignore").read_bytes()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise SystemCallError.from_oserror(f"read {directory / '.dockerignore'}", err) from None
    patterns = read_dockerignore(data)
    matcher = PatternMatcher(patterns)
    if matcher.matches(".dockerignore"):
        patterns.append("!.dockerignore")
    name = _rel(dockerfile)
    if matcher.matches(name):
        patterns.append("!" + name)
    return patterns


def _walk_included(directory: Path, matcher: PatternMatcher) -> Iterator[tuple[str, str, str]]:
    """(relative path, typeflag, link target) of what the CLI's TarWithOptions would put in the
    context; a regular file seen before under another name is a hard link ("1") to it."""
    seen: dict[tuple[int, int], str] = {}
    stack: list[tuple[str, MatchInfo | None]] = [("", None)]
    while stack:
        rel_dir, info = stack.pop()
        host_dir = os.path.join(directory, rel_dir) if rel_dir else str(directory)
        try:
            names = sorted(os.listdir(host_dir))
        except OSError as err:
            raise SystemCallError.from_oserror(f"can't stat '{host_dir}'", err) from None
        subdirs: list[tuple[str, MatchInfo | None]] = []
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            st = os.lstat(os.path.join(host_dir, name))
            is_dir = stat.S_ISDIR(st.st_mode)
            skip, child_info = matcher.matches_using_parent(rel, info)
            if skip:
                if is_dir and matcher.exclusions and matcher.may_include_below(rel):
                    subdirs.append((rel, child_info))
                continue
            kind = _TYPEFLAGS.get(stat.S_IFMT(st.st_mode))
            if kind is None:
                continue  # sockets are not archived
            linkname = ""
            if kind == "0" and st.st_nlink > 1:
                first = seen.setdefault((st.st_dev, st.st_ino), rel)
                if first != rel:
                    kind, linkname = "1", first
            elif kind == "2":
                linkname = os.readlink(os.path.join(host_dir, name))
            yield rel, kind, linkname
            if is_dir:
                subdirs.append((rel, child_info))
        stack.extend(reversed(subdirs))


def write_context_tar(directory: Path, out: BinaryIO, dockerfile: str = "Dockerfile") -> None:
    """Tar `directory` as the docker CLI sends a context: .dockerignore applied (the Dockerfile and
    .dockerignore kept), uid/gid 0, no user names, permission bits only, whole-second mtimes."""
    matcher = PatternMatcher(_cli_patterns(Path(directory), dockerfile))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for rel, kind, linkname in _walk_included(Path(directory), matcher):
            host = os.path.join(directory, rel)
            st = os.lstat(host)
            info = tarfile.TarInfo(rel)
            info.mode = st.st_mode & 0o7777
            info.mtime = int(st.st_mtime)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = kind.encode()
            if kind == "1":
                info.linkname = linkname
                tf.addfile(info)
                continue
            if kind == "2":
                info.linkname = linkname
            if kind in ("3", "4"):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            if kind == "0":
                info.size = st.st_size
                with open(host, "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
