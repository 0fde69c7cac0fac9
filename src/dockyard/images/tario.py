"""Tar plumbing for image archives: a streaming writer that copies blobs with sendfile, a reader
wrapper that measures a layer as Docker does while it streams past, and atomic file output.

Facts:
- Docker's image Size is the sum, over the files a layer unpacks to, of st_size of every inode that
  is not a directory, each inode once (moby's `directory.Size` on the overlay2 diff dir): regular
  files count their length, symlinks the length of their target, hard links nothing more,
  whiteouts and devices nothing. `TarSizeCounter` computes the same from the tar headers.
- Go's archive/tar (which wrote `docker save` archives) ends an archive with two zero blocks and
  does not pad to a 10 KiB record as Python's tarfile does; `TarWriter` does the same.
- sendfile(2) copies a blob file to a file or socket without passing through Python; pipes and
  in-memory streams get a 1 MiB copy loop instead.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import SystemCallError

BLOCK = 512
CHUNK = 1 << 20


class TarSizeCounter(io.RawIOBase):
    """A readable wrapper over a (decompressed) tar stream that adds up Docker's layer size of
    what passes through: `size` once the stream has been read to its end."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner
        self.size = 0
        self._header = bytearray()
        self._skip = 0
        self._capture_left = 0
        self._captured = bytearray()
        self._capture_kind = b""
        self._pending: dict[str, bytes] = {}
        self._pad_after = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._inner.read(len(view))
        if not data:
            return 0
        n = len(data)
        view[:n] = data
        self._feed(memoryview(data))
        return n

    def _feed(self, chunk: memoryview) -> None:
        pos, end = 0, len(chunk)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
            elif self._capture_left:
                step = min(self._capture_left, end - pos)
                self._captured += chunk[pos:pos + step]
                self._capture_left -= step
                pos += step
                if not self._capture_left:
                    self._captured_done()
            else:
                step = min(BLOCK - len(self._header), end - pos)
                self._header += chunk[pos:pos + step]
                pos += step
                if len(self._header) == BLOCK:
                    block = bytes(self._header)
                    self._header.clear()
                    self._on_header(block)

    @staticmethod
    def _number(field: bytes) -> int:
        if field and field[0] & 0x80:  # base-256 (GNU) for large values
            value = field[0] & 0x7F
            for b in field[1:]:
                value = (value << 8) | b
            return value
        text = field.split(b"\0", 1)[0].strip(b" \0")
        return int(text, 8) if text else 0

    def _on_header(self, block: bytes) -> None:
        if block.count(0) == BLOCK:
            return  # end-of-archive blocks
        kind = block[156:157]
        try:
            size = self._number(block[124:136])
        except ValueError:
            return  # not a header we understand; the layer reader will refuse the stream
        if kind in (b"x", b"g", b"L", b"K"):
            self._capture_kind = kind
            self._capture_left = size
            self._captured = bytearray()
            self._pad_after = (-size) % BLOCK
            if size == 0:
                self._captured_done()
            return
        pending, self._pending = self._pending, {}
        if "size" in pending:
            with suppress(ValueError):
                size = int(pending["size"])
        if kind in (b"0", b"\0", b"7"):
            self.size += size
        elif kind == b"2":
            target = pending.get("linkpath")
            if target is None:
                target = block[157:257].split(b"\0", 1)[0]
            self.size += len(target)
        if kind not in (b"1", b"2", b"3", b"4", b"5", b"6"):
            self._skip = size + (-size) % BLOCK

    def _captured_done(self) -> None:
        data = bytes(self._captured)
        if self._capture_kind == b"x":
            self._pending.update(_pax_records(data))
        elif self._capture_kind == b"K":
            self._pending["linkpath"] = data.split(b"\0", 1)[0]
        self._skip = self._pad_after


def _pax_records(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0:
            break
        record = data[space + 1:pos + length - 1]  # without the trailing newline
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "replace")] = value
        pos += length
    return out


class TarWriter:
    """Writes a tar archive to a binary stream, entry by entry, USTAR headers with PAX where needed."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._fd: int | None = None
        with suppress(AttributeError, io.UnsupportedOperation, OSError):
            fd = out.fileno()
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode) or stat.S_ISSOCK(mode):
                out.flush()
                self._fd = fd

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            try:
                self._out.write(data)
            except OSError as err:
                raise SystemCallError.from_oserror("write image archive", err) from err
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except OSError as err:
                raise SystemCallError.from_oserror("write image archive", err) from err
            view = view[n:]

    def _header(self, info: tarfile.TarInfo) -> None:
        info.uname = info.gname = "root"
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def add_dir(self, name: str, mtime: int, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name.rstrip("/") + "/")
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, mtime
        self._header(info)

    def add_bytes(self, name: str, data: bytes, mtime: int, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, mtime
        self._header(info)
        self._write(data + b"\0" * ((-len(data)) % BLOCK))

    def add_symlink(self, name: str, target: str, mtime: int) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, mtime
        self._header(info)

    def add_file(self, name: str, path: str, size: int, mtime: int, mode: int = 0o644) -> None:
        """Add the file at `path` (a blob: `size` bytes, never changing) as `name`."""
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, mtime
        self._header(info)
        try:
            with open(path, "rb") as src:
                if self._fd is not None:
                    offset = 0
                    while offset < size:
                        sent = os.sendfile(self._fd, src.fileno(), offset, min(size - offset, 1 << 30))
                        if sent == 0:
                            raise SystemCallError(f"copy {path}: file shorter than {size} bytes", 0)
                        offset += sent
                else:
                    left = size
                    while left:
                        data = src.read(min(CHUNK, left))
                        if not data:
                            raise SystemCallError(f"copy {path}: file shorter than {size} bytes", 0)
                        self._write(data)
                        left -= len(data)
        except OSError as err:
            raise SystemCallError.from_oserror(f"copy {path} into image archive", err) from err
        self._write(b"\0" * ((-size) % BLOCK))

    def close(self) -> None:
        self._write(b"\0" * (2 * BLOCK))
        if self._fd is None:
            self._out.flush()


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A file to write that appears at `path` only when the block ends without error: a temporary
    file beside it, fsynced, renamed over `path`, the directory fsynced. Removed on error."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise SystemCallError.from_oserror(f"create {path}", err) from err
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.rename(tmp, path)
        fsync_dir(path.parent)
    except BaseException as err:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise SystemCallError.from_oserror(f"write {path}", err) from err
        raise


def copy_stream(src: BinaryIO, write: Callable[[bytes], object], limit: int | None = None) -> int:
    """Copy `src` to `write` in 1 MiB chunks (at most `limit` bytes); the number of bytes copied."""
    total = 0
    while limit is None or total < limit:
        data = src.read(CHUNK if limit is None else min(CHUNK, limit - total))
        if not data:
            break
        write(data)
        total += len(data)
    return total
