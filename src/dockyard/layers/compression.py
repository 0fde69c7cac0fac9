"""Layer compression: detection by magic number, streaming decompression and compression.

Facts:
- gzip starts 1f 8b, zstd frames 28 b5 2f fd; anything else is taken as an uncompressed tar
  (whose first block is a header, checked by the tar reader).
- A gzip or zstd stream may hold several members/frames back to back (pigz, zstd --long); each is
  decoded in turn. Input that ends inside a member is a truncated layer: InvalidArgument.
- zlib checks the gzip trailer (CRC32 and length) itself; zstd checks its frame checksum when the
  frame carries one.
- Compressed output is deterministic: gzip with mtime 0 and no file name, zstd level 3 without
  the content size, so the same tar always gives the same blob digest.
"""

from __future__ import annotations

import enum
import io
import zlib
from typing import Any, BinaryIO

from dockyard.errors import InvalidArgument

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"

    @property
    def media_type(self) -> str:
        """The OCI layer media type for this compression."""
        base = "application/vnd.oci.image.layer.v1.tar"
        return base if self is Compression.NONE else f"{base}+{self.value}"


def detect_compression(head: bytes) -> Compression:
    if head.startswith(GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError as err:  # pragma: no cover - a declared dependency
        from dockyard.errors import NotImplemented as NotImplementedKind

        raise NotImplementedKind("zstd layers need the zstandard package") from err
    return zstandard


class _Decompressing(io.RawIOBase):
    """A raw reader that inflates a gzip or zstd stream, member after member."""

    def __init__(self, src: BinaryIO, kind: Compression, head: bytes) -> None:
        super().__init__()
        self._src = src
        self._kind = kind
        self._pending = head  # compressed bytes not yet fed
        self._out = b""
        self._eof = False
        self._errors: tuple[type[BaseException], ...] = (zlib.error,)
        if kind is Compression.ZSTD:
            self._errors = (zlib.error, _zstd().ZstdError)
        self._d = self._new()
        self._started = False

    def _new(self) -> Any:
        if self._kind is Compression.GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return _zstd().ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._out and not self._eof:
            data = self._pending or self._src.read(_CHUNK)
            self._pending = b""
            if not data:
                if self._started and not self._d.eof:
                    raise InvalidArgument(f"truncated {self._kind.value} layer: unexpected end of data")
                self._eof = True
                return
            if self._d.eof:  # a new member/frame after a finished one
                self._d = self._new()
            self._started = True
            try:
                self._out = self._d.decompress(data)
            except self._errors as err:
                raise InvalidArgument(f"corrupt {self._kind.value} layer: {err}") from err
            if self._d.eof and self._d.unused_data:
                self._pending = bytes(self._d.unused_data)

    def readinto(self, buffer: Any) -> int:
        self._fill()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        super().close()


def open_decompressed(stream: BinaryIO) -> tuple[BinaryIO, Compression]:
    """Wrap `stream` so reads return the uncompressed tar (a buffered reader: read(n) returns n bytes
    unless the end came); also says which compression it found."""
    head = stream.read(4)
    kind = detect_compression(head)
    if kind is Compression.NONE:
        return io.BufferedReader(_Prefixed(stream, head), _CHUNK), kind
    return io.BufferedReader(_Decompressing(stream, kind, head), _CHUNK), kind


class _Prefixed(io.RawIOBase):
    """`stream` with some already-read bytes put back in front."""

    def __init__(self, src: BinaryIO, head: bytes) -> None:
        super().__init__()
        self._src = src
        self._head = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._src.readinto(buffer)  # type: ignore[attr-defined,no-any-return]

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                out = self._head + self._src.read()
                self._head = b""
                return out
            out = self._head[:size]
            self._head = self._head[size:]
            return out
        return self._src.read(size)


class Compressor:
    """A write-side filter: write() tar bytes, they come out compressed into `sink`."""

    def __init__(self, sink: Any, kind: Compression, level: int | None = None) -> None:
        self._sink = sink
        self.kind = kind
        self._c: Any = None
        if kind is Compression.GZIP:
            self._c = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif kind is Compression.ZSTD:
            z = _zstd()
            self._c = z.ZstdCompressor(level=3 if level is None else level, write_content_size=False).compressobj()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._c is None:
            self._sink.write(data)
        else:
            out = self._c.compress(data)
            if out:
                self._sink.write(out)
        return len(data)

    def close(self) -> None:
        if self._c is not None:
            out = self._c.flush()
            if out:
                self._sink.write(out)
            self._c = None
