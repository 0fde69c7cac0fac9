"""Creating tar layers from an overlay upper dir or from the difference of two trees; export.

Every function here streams: each file is read once, and its bytes are hashed for the diff_id,
compressed, and hashed again for the blob digest on their way to `out` (anything with write(),
such as a content store Writer). Output is deterministic (tarstream.py has the header rules):
entries in Go's filepath.Walk order, hardlinks written once then as links, whiteouts as empty
`.wh.` files, opaque directories followed by a `.wh..wh..opq` entry.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

from dockyard.errors import SystemCallError
from dockyard.layers.apply import WHITEOUT_PREFIX
from dockyard.layers.changes import ChangeKind, changes_between
from dockyard.layers.compression import Compression, Compressor
from dockyard.layers.tarstream import REGTYPE, Entry
from dockyard.layers.walk import DIR_FLAGS, Emitter, HashSink
from dockyard.oci.digest import Digest


@dataclass(frozen=True)
class LayerResult:
    diff_id: Digest  # sha256 of the uncompressed tar
    digest: Digest  # sha256 of the bytes written to `out` (the blob)
    size: int  # bytes written to `out`
    uncompressed_size: int
    compression: Compression

    @property
    def media_type(self) -> str:
        return self.compression.media_type


class _Pipeline:
    """tar bytes -> [diff_id hash] -> compressor -> [blob hash] -> out"""

    def __init__(self, out: Any, compression: Compression) -> None:
        self.compression = compression
        self.blob = HashSink(out, hashed=compression is not Compression.NONE)
        self.compressor = Compressor(self.blob, compression)
        self.tar = HashSink(self.compressor)

    def result(self) -> LayerResult:
        self.compressor.close()
        assert self.tar.hasher is not None
        diff_id = Digest("sha256", self.tar.hasher.hexdigest())
        digest = diff_id if self.blob.hasher is None else Digest("sha256", self.blob.hasher.hexdigest())
        return LayerResult(diff_id, digest, self.blob.count, self.tar.count, self.compression)


def write_layer_from_upper(
    upper: str | os.PathLike[str], out: Any, compression: Compression = Compression.GZIP
) -> LayerResult:
    """Tar an overlay upper dir (which must not be changing), overlay whiteouts as `.wh.` entries."""
    pipe = _Pipeline(out, compression)
    emitter = Emitter(pipe.tar)
    try:
        fd = os.open(os.fspath(upper), DIR_FLAGS)
        try:
            emitter.tree(fd, "", overlay=True)
        finally:
            os.close(fd)
    except OSError as err:
        raise SystemCallError.from_oserror(f"create layer from {upper}", err) from err
    emitter.close()
    return pipe.result()


def write_layer_from_diff(
    old: str | os.PathLike[str], new: str | os.PathLike[str], out: Any, compression: Compression = Compression.GZIP
) -> LayerResult:
    """Tar what changed from tree `old` to tree `new`: changed and added entries, and a `.wh.`
    whiteout (mtime of its new parent directory) for each deleted one."""
    old_s, new_s = os.fspath(old), os.fspath(new)
    pipe = _Pipeline(out, compression)
    emitter = Emitter(pipe.tar)
    try:
        changes = changes_between(old_s, new_s)
        parent_rel: str | None = None
        parent_fd = -1
        try:
            for change in changes:
                rel = change.path[1:]
                parent, _, name = rel.rpartition("/")
                if parent != parent_rel:
                    if parent_fd >= 0:
                        os.close(parent_fd)
                        parent_fd = -1
                    parent_fd = os.open(os.path.join(new_s, parent) if parent else new_s, DIR_FLAGS)
                    parent_rel = parent
                if change.kind is ChangeKind.DELETE:
                    pst = os.fstat(parent_fd)
                    wh = f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name
                    emitter.writer.add(Entry(name=wh, type=REGTYPE, mode=0o600, mtime=int(pst.st_mtime)))
                    continue
                st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                emitter.entry(parent_fd, name, rel, st, overlay=False)
        finally:
            if parent_fd >= 0:
                os.close(parent_fd)
    except OSError as err:
        raise SystemCallError.from_oserror(f"create layer from {old} to {new}", err) from err
    emitter.close()
    return pipe.result()


def export_rootfs(root: str | os.PathLike[str], out: Any) -> None:
    """Write the whole tree under `root` (a mounted container rootfs) as an uncompressed tar, as
    `docker export` does: every entry, no whiteout conversion, the root itself left out."""
    emitter = Emitter(out)
    try:
        fd = os.open(os.fspath(root), DIR_FLAGS)
        try:
            emitter.tree(fd, "", overlay=False)
        finally:
            os.close(fd)
    except OSError as err:
        raise SystemCallError.from_oserror(f"export {root}", err) from err
    emitter.close()


def is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
