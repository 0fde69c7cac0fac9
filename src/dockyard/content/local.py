"""The local content store: one file per blob.

On disk, under `root`:

    blobs/sha256/<64 hex>        committed blobs, read-only (0444), never modified in place
    blobs/sha512/<128 hex>
    ingest/<random>.part         writes in progress, one private file per writer

A writer hashes every byte as it is written, then on commit checks size and digest, fsyncs the
file, renames it into blobs/ and fsyncs the directory. Two writers of the same blob never share an
ingest file, so they cannot corrupt each other; whichever renames second replaces an identical file
(or, seeing it there, simply drops its own). Ingest files left by a crash are removed by
`clean_ingest()`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import secrets
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, BinaryIO

from dockyard.content.store import Info
from dockyard.errors import InvalidArgument, NotFound, SystemCallError
from dockyard.oci.digest import SHA256, Digest, is_supported

_CHUNK = 1 << 20


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalWriter:
    """A single ingest: a private temporary file plus running hashes."""

    def __init__(self, store: LocalStore, expected: Digest | None, size: int | None) -> None:
        self._store = store
        self._expected = expected
        self._size = size
        self._hashers: dict[str, Any] = {SHA256: hashlib.sha256()}
        if expected is not None and expected.algorithm not in self._hashers:
            self._hashers[expected.algorithm] = hashlib.new(expected.algorithm)
        self._offset = 0
        self._done = False
        self._path = os.path.join(store.ingest_dir, f"{secrets.token_hex(16)}.part")
        try:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise SystemCallError.from_oserror(f"create ingest file {self._path}", err) from err

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._done:
            raise InvalidArgument("write to a content writer that is already committed or aborted")
        view = memoryview(data)
        for h in self._hashers.values():
            h.update(view)
        total = len(view)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as err:
            self.abort()
            raise SystemCallError.from_oserror(f"write ingest file {self._path}", err) from err
        self._offset += total
        if self._size is not None and self._offset > self._size:
            self.abort()
            raise InvalidArgument(f"content is larger than the expected size {self._size}")
        return total

    def flush(self) -> None:
        pass

    def digest(self, algorithm: str = SHA256) -> Digest:
        h = self._hashers.get(algorithm)
        if h is None:
            raise InvalidArgument(f"this writer does not compute {algorithm}")
        return Digest(algorithm, h.copy().hexdigest())

    def commit(self, expected: Digest | None = None, size: int | None = None) -> Info:
        if self._done:
            raise InvalidArgument("commit of a content writer that is already committed or aborted")
        expected = expected or self._expected
        size = self._size if size is None else size
        if size is not None and size != self._offset:
            self.abort()
            raise InvalidArgument(f"unexpected commit size {self._offset}, expected {size}")
        if expected is not None:
            h = self._hashers.get(expected.algorithm)
            if h is None:
                self.abort()
                raise InvalidArgument(f"cannot verify {expected}: this writer was started for sha256 only")
            actual = Digest(expected.algorithm, h.hexdigest())
            if actual != expected:
                self.abort()
                raise InvalidArgument(f"unexpected commit digest {actual}, expected {expected}")
        else:
            actual = Digest(SHA256, self._hashers[SHA256].hexdigest())
        target = self._store.blob_path(actual)
        try:
            os.fchmod(self._fd, 0o444)
            os.fsync(self._fd)
            os.close(self._fd)
            self._done = True
            if os.path.exists(target):
                # Someone else committed the same bytes first: theirs is as good as ours.
                os.unlink(self._path)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.rename(self._path, target)
                _fsync_dir(os.path.dirname(target))
            st = os.stat(target)
        except OSError as err:
            self._done = True
            self._discard()
            raise SystemCallError.from_oserror(f"commit blob {actual}", err) from err
        return Info(actual, st.st_size, st.st_mtime)

    def _discard(self) -> None:
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        os.close(self._fd)
        self._discard()

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class VerifyingReader(io.RawIOBase):
    """Reads a blob file and hashes what it reads; at EOF the digest must match."""

    def __init__(self, fileobj: BinaryIO, expected: Digest, size: int) -> None:
        super().__init__()
        self._f = fileobj
        self._expected = expected
        self._h = expected.hasher()
        self._size = size
        self._seen = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._f.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._h.update(memoryview(buffer)[:n])
            self._seen += n
        elif not self._checked:
            self._checked = True
            actual = Digest(self._expected.algorithm, self._h.hexdigest())
            if actual != self._expected or self._seen != self._size:
                raise InvalidArgument(f"blob {self._expected} is corrupt: its content hashes to {actual}")
        return int(n or 0)

    def close(self) -> None:
        self._f.close()
        super().close()


class LocalStore:
    """Content store rooted at a directory (created if missing)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self.blobs_dir = os.path.join(self.root, "blobs")
        self.ingest_dir = os.path.join(self.root, "ingest")
        for d in (self.blobs_dir, self.ingest_dir):
            os.makedirs(d, exist_ok=True)

    def blob_path(self, digest: Digest) -> str:
        return os.path.join(self.blobs_dir, digest.algorithm, digest.hex)

    def writer(self, expected: Digest | None = None, size: int | None = None) -> LocalWriter:
        return LocalWriter(self, expected, size)

    def write_stream(self, stream: BinaryIO, expected: Digest | None = None, size: int | None = None) -> Info:
        with self.writer(expected, size) as w:
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while True:
                n = stream.readinto(view)  # type: ignore[attr-defined]
                if not n:
                    break
                w.write(view[:n])
            return w.commit()

    def write_bytes(self, data: bytes, expected: Digest | None = None) -> Info:
        with self.writer(expected, len(data) if expected is not None else None) as w:
            w.write(data)
            return w.commit()

    def info(self, digest: Digest) -> Info:
        try:
            st = os.stat(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        except OSError as err:
            raise SystemCallError.from_oserror(f"stat blob {digest}", err) from err
        return Info(digest, st.st_size, st.st_mtime)

    def exists(self, digest: Digest) -> bool:
        return os.path.exists(self.blob_path(digest))

    def path(self, digest: Digest) -> str:
        p = self.blob_path(digest)
        if not os.path.exists(p):
            raise NotFound(f"content {digest}: not found")
        return p

    def open(self, digest: Digest, verify: bool = False) -> BinaryIO:
        try:
            f = open(self.blob_path(digest), "rb", buffering=0)
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        except OSError as err:
            raise SystemCallError.from_oserror(f"open blob {digest}", err) from err
        if not verify:
            return io.BufferedReader(f, _CHUNK)
        size = os.fstat(f.fileno()).st_size
        return io.BufferedReader(VerifyingReader(f, digest, size), _CHUNK)

    def read_bytes(self, digest: Digest, verify: bool = True) -> bytes:
        with self.open(digest, verify=verify) as f:
            return f.read()

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        except OSError as err:
            raise SystemCallError.from_oserror(f"delete blob {digest}", err) from err

    def walk(self) -> Iterator[Info]:
        for algorithm in sorted(os.listdir(self.blobs_dir)):
            if not is_supported(algorithm):
                continue
            d = os.path.join(self.blobs_dir, algorithm)
            with os.scandir(d) as it:
                for entry in it:
                    try:
                        digest = Digest(algorithm, entry.name)
                        st = entry.stat(follow_symlinks=False)
                    except (InvalidArgument, FileNotFoundError):
                        continue
                    yield Info(digest, st.st_size, st.st_mtime)

    def clean_ingest(self, older_than: float = 0.0) -> int:
        """Remove ingest files not modified for `older_than` seconds (all of them with 0: only call that
        when no writer can be running). Returns how many were removed."""
        now = time.time()
        removed = 0
        with os.scandir(self.ingest_dir) as it:
            for entry in it:
                try:
                    if now - entry.stat().st_mtime >= older_than:
                        os.unlink(entry.path)
                        removed += 1
                except OSError as err:
                    if err.errno != errno.ENOENT:
                        raise SystemCallError.from_oserror(f"remove ingest file {entry.path}", err) from err
        return removed
