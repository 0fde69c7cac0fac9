"""The copy snapshotter, for where overlayfs cannot be mounted (containerd's "native").

prepare() and view() copy the parent's whole tree (contents, hardlinks, owners, modes, xattrs,
nanosecond times; see fsutil/copy.py) into the new snapshot's fs; every mount is a bind mount of
that fs (read-only for views). Commit changes only metadata. Costly in space and time, but it
works on any file system; the layer differ compares the snapshot with its parent tree.
"""

from __future__ import annotations

import os

from dockyard.fsutil.copy import copy_tree
from dockyard.fsutil.mount import Mount
from dockyard.snapshots.base import Kind
from dockyard.snapshots.metadata import SnapshotStore


class CopySnapshotter(SnapshotStore):
    def _populate(self, staging: str, parent_fs: str | None, kind: Kind) -> None:
        if parent_fs is not None:
            copy_tree(parent_fs, os.path.join(staging, "fs"))

    def _mounts(self, snapshot_id: int, kind: Kind, parent_ids: list[int]) -> list[Mount]:
        mode = "rw" if kind is Kind.ACTIVE else "ro"
        return [Mount("bind", self.fs_path(snapshot_id), (mode, "rbind"))]
