"""A strict, streaming tar reader (for applying layers) and a Go-compatible tar writer (for
creating them).

Reader facts:
- Headers are parsed by the stdlib (`tarfile.TarInfo.frombuf`, which checks the checksum); PAX
  ('x', 'g') and GNU long name/link ('L', 'K') records are folded into the next entry here, so the
  reader never seeks and reads every byte exactly once.
- The archive must end with a zero block. Input that stops at a header boundary without one, a bad
  checksum anywhere, or a data section cut short is a broken layer: InvalidArgument. (Python's
  tarfile would take the first two as a normal end.)
- Names are decoded as UTF-8 with surrogateescape, so any byte string survives the round trip.

Writer facts (what makes docker's layer digests reproducible):
- docker builds layers with Go's archive/tar, Format=PAX, mtimes cut to whole seconds and no
  user/group names. Go then writes a plain USTAR header ("ustar\\0" "00") whenever the entry fits
  (long names split into prefix/name), and a PAX header only when it must: xattrs
  (SCHILY.xattr.*), non-ASCII or over-long names, ids or sizes too large for octal. The PAX entry
  is named "<dir>/PaxHeaders.0/<base>", with zero mode, ids and mtime, and sorted records.
- Numeric fields are zero-padded octal with a NUL; the checksum is six octal digits, NUL, space.
- The archive ends with two zero blocks and is not padded to a 10 KiB record.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"

REGTYPE = b"0"
AREGTYPE = b"\0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
CONTTYPE = b"7"
XHDTYPE = b"x"
XGLTYPE = b"g"
GNUTYPE_LONGNAME = b"L"
GNUTYPE_LONGLINK = b"K"
XATTR_PREFIX = "SCHILY.xattr."


@dataclass
class Entry:
    """One tar entry, after PAX/GNU records were applied."""

    name: str
    type: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)

    def is_dir(self) -> bool:
        return self.type == DIRTYPE


def _fsencode(s: str) -> bytes:
    return s.encode(_ENCODING, _ERRORS)


def _parse_pax(data: bytes, where: str) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos:pos + 1] == b"\0":  # padding some writers leave
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise InvalidArgument(f"invalid tar layer: bad PAX record in {where}")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise InvalidArgument(f"invalid tar layer: bad PAX record length in {where}") from None
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1:end] != b"\n":
            raise InvalidArgument(f"invalid tar layer: bad PAX record in {where}")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise InvalidArgument(f"invalid tar layer: bad PAX record in {where}")
        records[key.decode(_ENCODING, _ERRORS)] = value
        pos = end
    return records


class TarReader:
    """Iterate entries of an uncompressed tar stream; read each regular file's data before moving on."""

    def __init__(self, stream: Any) -> None:
        self._f = stream
        self._remaining = 0  # data bytes of the current entry not yet read
        self._padding = 0
        self._global: dict[str, bytes] = {}
        self.done = False

    def _read_exact(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise InvalidArgument("truncated tar layer: unexpected end of data")
        return bytes(data)

    def _skip_rest(self) -> None:
        while self._remaining:
            chunk = self._f.read(min(self._remaining, 1 << 20))
            if not chunk:
                raise InvalidArgument("truncated tar layer: unexpected end of data")
            self._remaining -= len(chunk)
        if self._padding:
            self._read_exact(self._padding)
            self._padding = 0

    def readinto(self, view: memoryview) -> int:
        """Read file data of the current entry into `view`; 0 at the end of the entry."""
        if not self._remaining:
            return 0
        want = min(len(view), self._remaining)
        n = self._f.readinto(view[:want])
        if not n:
            raise InvalidArgument("truncated tar layer: unexpected end of data")
        self._remaining -= n
        return int(n)

    def next(self) -> Entry | None:
        self._skip_rest()
        if self.done:
            return None
        local: dict[str, bytes] = {}
        longname: str | None = None
        longlink: str | None = None
        while True:
            buf = self._f.read(BLOCK)
            if len(buf) == 0:
                raise InvalidArgument("truncated tar layer: missing end-of-archive blocks")
            if len(buf) != BLOCK:
                raise InvalidArgument("truncated tar layer: unexpected end of data in a header")
            if buf == _ZERO_BLOCK:
                self.done = True
                return None
            try:
                info = tarfile.TarInfo.frombuf(buf, _ENCODING, _ERRORS)
            except tarfile.TarError as err:
                raise InvalidArgument(f"invalid tar layer: {err}") from None
            kind = info.type
            if kind in (XHDTYPE, XGLTYPE, GNUTYPE_LONGNAME, GNUTYPE_LONGLINK):
                if info.size > 1 << 20:
                    raise InvalidArgument("invalid tar layer: oversized extended header")
                data = self._read_exact(info.size)
                pad = -info.size % BLOCK
                if pad:
                    self._read_exact(pad)
                if kind == XHDTYPE:
                    local.update(_parse_pax(data, info.name))
                elif kind == XGLTYPE:
                    self._global.update(_parse_pax(data, info.name))
                elif kind == GNUTYPE_LONGNAME:
                    longname = data.rstrip(b"\0").decode(_ENCODING, _ERRORS)
                else:
                    longlink = data.rstrip(b"\0").decode(_ENCODING, _ERRORS)
                continue
            break
        records = {**self._global, **local}
        entry = Entry(
            name=info.name, type=kind, mode=info.mode & 0o7777, uid=info.uid, gid=info.gid, size=info.size,
            mtime=int(info.mtime), linkname=info.linkname, devmajor=info.devmajor, devminor=info.devminor,
        )
        if longname is not None:
            entry.name = longname
        if longlink is not None:
            entry.linkname = longlink
        for key, value in records.items():
            try:
                if key == "path":
                    entry.name = value.decode(_ENCODING, _ERRORS)
                elif key == "linkpath":
                    entry.linkname = value.decode(_ENCODING, _ERRORS)
                elif key == "size":
                    entry.size = int(value)
                elif key == "uid":
                    entry.uid = int(value)
                elif key == "gid":
                    entry.gid = int(value)
                elif key == "mtime":
                    entry.mtime = int(float(value))
                elif key.startswith(XATTR_PREFIX):
                    entry.xattrs[key[len(XATTR_PREFIX):]] = value
                elif key.startswith("GNU.sparse"):
                    raise InvalidArgument(f"{entry.name}: sparse files are not supported in layers")
            except ValueError:
                raise InvalidArgument(f"invalid tar layer: bad PAX {key} value for {entry.name}") from None
        if entry.size < 0:
            raise InvalidArgument(f"invalid tar layer: negative size for {entry.name}")
        # Header-only types carry no data, whatever the size field says (as Go's reader has it).
        self._remaining = 0 if kind in (DIRTYPE, SYMTYPE, LNKTYPE, CHRTYPE, BLKTYPE, FIFOTYPE) else entry.size
        self._padding = -self._remaining % BLOCK
        if kind == AREGTYPE and entry.name.endswith("/"):
            entry.type = DIRTYPE
        return entry


# ---------------------------------------------------------------------------------------------
# Writer


def _octal(value: int, width: int) -> bytes | None:
    """Go's formatOctal: zero-padded, NUL-terminated; None if it does not fit."""
    if value < 0 or value >= 8 ** (width - 1):
        return None
    return b"%0*o\0" % (width - 1, value)


def _is_ascii(b: bytes) -> bool:
    return b.isascii() and b"\0" not in b


def _to_ascii(b: bytes) -> bytes:
    return bytes(c for c in b if 0 < c < 0x80)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    length = len(name)
    if length <= 100 or not _is_ascii(name):
        return None
    if length > 156:
        length = 156
    elif name[length - 1:length] == b"/":
        length -= 1
    i = name.rfind(b"/", 0, length)
    nlen = len(name) - i - 1
    if i <= 0 or nlen > 100 or nlen == 0 or i > 155:
        return None
    return name[:i], name[i + 1:]


def _put(block: bytearray, offset: int, width: int, value: bytes) -> None:
    value = value[:width]
    block[offset:offset + len(value)] = value


def _finish(block: bytearray) -> bytes:
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b"        "
    chksum = sum(block)
    block[148:155] = b"%06o\0" % chksum
    block[155] = 0x20
    return bytes(block)


def _pax_record(key: bytes, value: bytes) -> bytes:
    size = len(key) + len(value) + 3
    size += len(str(size))
    record = b"%d %s=%s\n" % (size, key, value)
    if len(record) != size:
        size = len(record)
        record = b"%d %s=%s\n" % (size, key, value)
    return record


def _pad(n: int) -> bytes:
    return bytes(-n % BLOCK)


def encode_header(e: Entry) -> bytes:
    """The header block(s) for `e`, as Go's archive/tar writes a Format=PAX header for docker."""
    name = _fsencode(e.name)
    link = _fsencode(e.linkname)
    pax: dict[bytes, bytes] = {}
    ustar_ok = True
    prefix = b""
    if not _is_ascii(name) or len(name) > 100:
        pax[b"path"] = name
        split = _split_ustar(name)
        if split is None:
            ustar_ok = False
        else:
            prefix, _ = split
    if not _is_ascii(link) or len(link) > 100:
        pax[b"linkpath"] = link
        ustar_ok = False
    numbers = {b"uid": (e.uid, 8), b"gid": (e.gid, 8), b"size": (e.size, 12), b"mtime": (e.mtime, 12)}
    for key, (value, width) in numbers.items():
        if _octal(value, width) is None:
            pax[key] = str(value).encode()
            ustar_ok = False
    if e.xattrs:
        for k, v in e.xattrs.items():
            pax[(XATTR_PREFIX + k).encode(_ENCODING, _ERRORS)] = v
        ustar_ok = False

    def main_block(name_field: bytes, prefix_field: bytes, link_field: bytes) -> bytes:
        block = bytearray(BLOCK)
        _put(block, 0, 100, name_field)
        if len(name_field) > 100 and block[99:100] == b"/":
            n = len(name_field[:99].rstrip(b"/"))
            block[n] = 0
        _put(block, 100, 8, _octal(e.mode, 8) or b"0000000\0")
        _put(block, 108, 8, _octal(e.uid, 8) or b"0000000\0")
        _put(block, 116, 8, _octal(e.gid, 8) or b"0000000\0")
        _put(block, 124, 12, _octal(e.size, 12) or b"00000000000\0")
        _put(block, 136, 12, _octal(e.mtime, 12) or b"00000000000\0")
        block[156:157] = e.type
        _put(block, 157, 100, link_field)
        _put(block, 329, 8, _octal(e.devmajor, 8) or b"0000000\0")
        _put(block, 337, 8, _octal(e.devminor, 8) or b"0000000\0")
        _put(block, 345, 155, prefix_field)
        return _finish(block)

    if ustar_ok:
        short_name = name if not prefix else name[len(prefix) + 1:]
        return main_block(short_name, prefix, link)
    records = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
    d, _, base = name.rpartition(b"/") if not name.endswith(b"/") else (name.rstrip(b"/"), b"", b"")
    pax_name = b"/".join(p for p in (d, b"PaxHeaders.0", base) if p)
    pax_name = _to_ascii(pax_name)[:100].rstrip(b"/")
    pblock = bytearray(BLOCK)
    _put(pblock, 0, 100, pax_name)
    _put(pblock, 100, 8, b"0000000\0")
    _put(pblock, 108, 8, b"0000000\0")
    _put(pblock, 116, 8, b"0000000\0")
    _put(pblock, 124, 12, _octal(len(records), 12) or b"")
    _put(pblock, 136, 12, b"00000000000\0")
    pblock[156:157] = XHDTYPE
    head = _finish(pblock) + records + _pad(len(records))
    return head + main_block(_to_ascii(name), b"", _to_ascii(link))


class TarWriter:
    """Writes entries to `sink` (anything with write()). File data is passed by the caller."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    def add(self, e: Entry) -> None:
        self._sink.write(encode_header(e))

    def pad(self, size: int) -> None:
        if size % BLOCK:
            self._sink.write(_pad(size))

    def close(self) -> None:
        self._sink.write(bytes(2 * BLOCK))
