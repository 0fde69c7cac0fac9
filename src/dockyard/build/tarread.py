"""A small streaming tar reader for build contexts: headers parsed by hand (a context has many
small entries and the stdlib's TarInfo machinery was most of a cached build's time), data read
in order, compression (gzip, bzip2, xz) detected by magic as Docker's DecompressStream does.

    for member in TarStream(body):
        data = member.read()            # a regular file's bytes (or copy_to(write) for big ones)

What Go's archive/tar (the daemon's reader) accepts, this accepts: USTAR and GNU headers, PAX
records (path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*), GNU long names and links,
base-256 numbers, and an archive that ends at a header boundary without its zero blocks. A bad
header checksum or data cut short is InvalidArgument.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from dockyard.errors import InvalidArgument

__all__ = ["Member", "TarStream", "open_decompressed"]

_BLOCK = 512
_ZERO = bytes(_BLOCK)
_PREFIX = "failed to read the build context: "


class _Buffered:
    """Large reads from a raw stream that may answer with little at a time (an HTTP body read
    from another thread), with peek; it never closes the stream it reads."""

    def __init__(self, raw: Any, size: int = 1 << 20) -> None:
        self.raw = raw
        self.size = size
        self.buf = b""
        self.pos = 0
        self.eof = False

    def _fill(self, want: int) -> None:
        if len(self.buf) - self.pos >= want or self.eof:
            return
        parts = [self.buf[self.pos:]]
        have = len(parts[0])
        while have < want and not self.eof:
            chunk = self.raw.read(max(self.size, want - have))
            if not chunk:
                self.eof = True
            else:
                parts.append(bytes(chunk))
                have += len(chunk)
        self.buf, self.pos = b"".join(parts), 0

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[self.pos:self.pos + n]

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self.buf[self.pos:]]
            while not self.eof:
                chunk = self.raw.read(self.size)
                if not chunk:
                    self.eof = True
                else:
                    parts.append(bytes(chunk))
            self.buf, self.pos = b"", 0
            return b"".join(parts)
        self._fill(n)
        data = self.buf[self.pos:self.pos + n]
        self.pos += len(data)
        return data

    def readable(self) -> bool:
        return True


def open_decompressed(stream: BinaryIO) -> BinaryIO:
    """`stream`, uncompressed if it starts with a gzip, bzip2 or xz header (read in large chunks)."""
    buffered = _Buffered(stream)
    head = buffered.peek(6)
    if head.startswith(b"\x1f\x8b"):
        return cast(BinaryIO, gzip.GzipFile(fileobj=cast(Any, buffered)))
    if head.startswith(b"BZh"):
        return cast(BinaryIO, bz2.BZ2File(cast(Any, buffered)))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(BinaryIO, lzma.LZMAFile(cast(Any, buffered)))
    return cast(BinaryIO, buffered)


def _number(field_: bytes) -> int:
    if field_ and field_[0] & 0x80:  # GNU base-256
        value = field_[0] & 0x3F
        for b in field_[1:]:
            value = (value << 8) | b
        return -value if field_[0] & 0x40 else value
    text = field_.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise InvalidArgument(_PREFIX + "invalid tar header") from None


def _text(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise InvalidArgument(_PREFIX + "invalid PAX record") from None
        record = data[space + 1:pos + length - 1]
        key, eq, value = record.partition(b"=")
        if length <= 0 or not eq:
            raise InvalidArgument(_PREFIX + "invalid PAX record")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


@dataclass
class Member:
    name: str
    type: str  # the typeflag: "0" file, "1" hard link, "2" symlink, "5" dir, ...
    mode: int  # the whole mode field, type bits included when the writer put them there
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    _stream: TarStream | None = None

    def read(self) -> bytes:
        """A regular file's bytes (once, before the next member)."""
        assert self._stream is not None
        return self._stream._read_data(self.size)

    def copy_to(self, write: Callable[[bytes], object], chunk: int = 1 << 20) -> None:
        assert self._stream is not None
        left = self.size
        while left:
            data = self._stream._read_data(min(chunk, left), partial=True)
            write(data)
            left -= len(data)


class TarStream:
    def __init__(self, stream: BinaryIO) -> None:
        self._f = open_decompressed(stream)
        self._unread = 0  # data of the current member not read yet
        self._pad = 0
        self._global: dict[str, bytes] = {}

    def _read(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise InvalidArgument(_PREFIX + "unexpected EOF")
        return bytes(data)

    def _read_data(self, n: int, partial: bool = False) -> bytes:
        n = min(n, self._unread)
        data = self._read(n)
        self._unread -= n
        return data

    def _skip(self) -> bool:
        """Skip the rest of the current member; False when the archive ended right after its
        data (no padding, no end blocks: what the docker CLI sends for `-f -`, and what Go's
        reader takes as the end)."""
        while self._unread:
            self._read_data(min(self._unread, 1 << 20), partial=True)
        if self._pad:
            pad, self._pad = self._pad, 0
            data = self._f.read(pad)
            if not data:
                return False
            if len(data) != pad:
                raise InvalidArgument(_PREFIX + "unexpected EOF")
        return True

    def __iter__(self) -> Iterator[Member]:
        while True:
            member = self._next()
            if member is None:
                return
            yield member

    def _next(self) -> Member | None:
        if not self._skip():
            return None
        local: dict[str, bytes] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            block = self._f.read(_BLOCK)
            if not block or block == _ZERO:
                return None
            if len(block) != _BLOCK:
                raise InvalidArgument(_PREFIX + "unexpected EOF")
            stored = _number(block[148:156])
            checksum = sum(block[:148]) + 256 + sum(block[156:])
            if stored != checksum and stored != sum((b - 256 if b > 127 else b) for b in block[:148]) + 256 + \
                    sum((b - 256 if b > 127 else b) for b in block[156:]):
                raise InvalidArgument(_PREFIX + "archive/tar: invalid tar header")
            kind = chr(block[156]) if block[156] else "0"
            size = _number(block[124:136])
            if kind in ("x", "g", "L", "K"):
                if size > 1 << 20:
                    raise InvalidArgument(_PREFIX + "oversized extended header")
                data = self._read(size)
                pad = -size % _BLOCK
                if pad:
                    self._read(pad)
                if kind == "x":
                    local.update(_pax(data))
                elif kind == "g":
                    self._global.update(_pax(data))
                elif kind == "L":
                    long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                else:
                    long_link = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                continue
            break
        name = _text(block[0:100])
        if block[257:262] == b"ustar":
            prefix = _text(block[345:500]) if block[257:263] == b"ustar\0" else ""
            if prefix:
                name = prefix + "/" + name
        member = Member(name=name, type=kind, mode=_number(block[100:108]), uid=_number(block[108:116]),
                        gid=_number(block[116:124]), size=size, mtime=_number(block[136:148]),
                        linkname=_text(block[157:257]), devmajor=_number(block[329:337]),
                        devminor=_number(block[337:345]), _stream=self)
        if long_name is not None:
            member.name = long_name
        if long_link is not None:
            member.linkname = long_link
        for key, value in {**self._global, **local}.items():
            try:
                if key == "path":
                    member.name = value.decode("utf-8", "surrogateescape")
                elif key == "linkpath":
                    member.linkname = value.decode("utf-8", "surrogateescape")
                elif key == "size":
                    member.size = int(value)
                elif key == "uid":
                    member.uid = int(value)
                elif key == "gid":
                    member.gid = int(value)
                elif key == "mtime":
                    member.mtime = int(float(value))
                elif key.startswith("SCHILY.xattr."):
                    member.xattrs[key[len("SCHILY.xattr."):]] = value
            except ValueError:
                raise InvalidArgument(_PREFIX + f"invalid PAX {key} record") from None
        if member.type == "0" and member.name.endswith("/"):
            member.type = "5"
        has_data = member.type in ("0", "7")
        self._unread = member.size if has_data else 0
        self._pad = -self._unread % _BLOCK
        return member
