"""The content store contract: blobs addressed by their digest, written once, verified, immutable.

Lifecycle of a blob (containerd's Ingester + Provider + Manager, in one Protocol):

    with store.writer(expected=digest, size=n) as w:     # a private ingest file
        for chunk in source:
            w.write(chunk)                                 # hashed as it is written
        info = w.commit()                                  # size and digest checked, fsync, rename
    # leaving the `with` without commit() (or with an exception) discards the ingest file

    store.exists(digest); store.info(digest)             # Info(digest, size, created)
    with store.open(digest) as f: f.read()               # a plain read-only file
    with store.open(digest, verify=True) as f: ...       # re-hashed as read; a blob that changed on disk
                                                         # raises InvalidArgument at EOF
    store.walk(); store.delete(digest)

Rules every implementation keeps:
- A blob appears under its digest only after its bytes were hashed and matched: a mismatch in size or
  digest raises InvalidArgument naming the expected and actual values and leaves nothing behind.
- Commit is atomic: readers see the whole blob or none. Two writers of the same blob may race; both
  commits succeed and one blob remains (the second finds it already there and drops its own copy).
- The store holds bytes only. Which blobs are still wanted (labels, references, leases, GC) is the
  images subsystem's business, kept in its own metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Protocol

from dockyard.oci.digest import Digest


@dataclass(frozen=True)
class Info:
    """What the store knows of one committed blob."""

    digest: Digest
    size: int
    created: float  # seconds since the epoch, when the blob was committed


class Writer(Protocol):
    """One ingest in progress: write bytes, then commit() or abort(). A context manager that aborts
    unless committed. File-like enough (write/flush) to be handed to gzip, tarfile or shutil."""

    @property
    def offset(self) -> int:
        """Bytes written so far."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def flush(self) -> None: ...

    def digest(self, algorithm: str = "sha256") -> Digest:
        """The digest of what was written so far (sha256, or the expected digest's algorithm)."""
        ...

    def commit(self, expected: Digest | None = None, size: int | None = None) -> Info:
        """Verify (against these or the values given to `writer()`), fsync and publish the blob.
        Raises InvalidArgument on a mismatch, after removing the ingest file."""
        ...

    def abort(self) -> None:
        """Drop the ingest file. Safe to call twice, and after commit (then it does nothing)."""
        ...

    def __enter__(self) -> Writer: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Store(Protocol):
    """A content-addressable blob store."""

    def writer(self, expected: Digest | None = None, size: int | None = None) -> Writer:
        """Start an ingest. `expected` picks the hash algorithm (sha256 by default; sha512 accepted)
        and is checked at commit, as is `size`."""
        ...

    def write_stream(self, stream: BinaryIO, expected: Digest | None = None, size: int | None = None) -> Info:
        """Copy a whole stream in (one pass, hashed while copied) and commit it."""
        ...

    def write_bytes(self, data: bytes, expected: Digest | None = None) -> Info: ...

    def info(self, digest: Digest) -> Info:
        """Raises NotFound if the blob is not in the store."""
        ...

    def exists(self, digest: Digest) -> bool: ...

    def open(self, digest: Digest, verify: bool = False) -> BinaryIO:
        """A readable binary file of the blob. NotFound if absent. With verify=True the bytes are hashed
        as they are read and a mismatch raises InvalidArgument when the end is reached."""
        ...

    def read_bytes(self, digest: Digest, verify: bool = True) -> bytes:
        """The whole blob, for small ones (manifests, configs); verified by default."""
        ...

    def path(self, digest: Digest) -> str:
        """Where the blob lives on disk, for sendfile-style copies. NotFound if absent. Never write to it."""
        ...

    def delete(self, digest: Digest) -> None:
        """Remove a blob. NotFound if absent."""
        ...

    def walk(self) -> Iterator[Info]:
        """Every committed blob, in no particular order."""
        ...
