"""The snapshotter contract: copy-on-write filesystem trees, stacked by parent.

A snapshot is a directory tree identified by a key. There are three kinds:

    ACTIVE      writable; made by prepare(key, parent); becomes COMMITTED by commit(name, key)
    VIEW        read-only; made by view(key, parent); can only be removed
    COMMITTED   read-only, immutable; can be the parent of other snapshots

Snapshotters return mounts, they never mount anything themselves; the caller mounts them where it
wants (`dockyard.fsutil.mount.mount_all`, which handles overlay option strings longer than a page)
and unmounts them before `remove()`. Worked example, unpacking a two-layer image and running it:

    s.prepare("extract-1", None)                 -> [Mount(type="bind", source=.../1/fs, ("rw","rbind"))]
    apply_layer_to_mounts(layer1, s.mounts("extract-1"))
    s.commit("chain-1", "extract-1")             # "extract-1" is gone, "chain-1" is COMMITTED
    s.prepare("extract-2", "chain-1"); apply_layer_to_mounts(layer2, ...); s.commit("chain-2", "extract-2")
    mounts = s.prepare("container-abc", "chain-2")   # overlay: lowerdir=2/fs:1/fs, upperdir, workdir
    mount_all(mounts, rootfs) ... run ... unmount_all(rootfs)
    s.commit("committed-image-layer", "container-abc")  # or s.remove("container-abc")

Errors: an unknown key or parent is NotFound; a key that exists is AlreadyExists; a parent that is
not COMMITTED, committing a non-ACTIVE snapshot, or removing a snapshot that has children is
Conflict. Every operation either completes or leaves the snapshotter as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.fsutil.mount import Mount


class Kind(enum.Enum):
    VIEW = "view"
    ACTIVE = "active"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Info:
    key: str  # the key (ACTIVE, VIEW) or name (COMMITTED)
    kind: Kind
    parent: str | None  # the parent's name, if any
    labels: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0  # seconds since the epoch
    updated: float = 0.0


@dataclass(frozen=True)
class Usage:
    size: int  # bytes used by this snapshot's own layer (not its parents)
    inodes: int


class Snapshotter(Protocol):
    """A store of snapshots. Implementations: OverlaySnapshotter, CopySnapshotter."""

    def stat(self, key: str) -> Info:
        """NotFound if there is no snapshot with this key or name."""
        ...

    def update_labels(self, key: str, labels: Mapping[str, str]) -> Info:
        """Replace the snapshot's labels (an empty value removes a label)."""
        ...

    def usage(self, key: str) -> Usage:
        """Disk usage of the snapshot's own layer. Computed at commit for COMMITTED snapshots,
        measured now for ACTIVE ones."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an ACTIVE or VIEW snapshot (as prepare/view returned them)."""
        ...

    def prepare(self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None) -> list[Mount]:
        """Make a writable snapshot on top of `parent` (a COMMITTED snapshot's name) and return its
        mounts. Nothing of it is visible under `key` until it is complete."""
        ...

    def view(self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None) -> list[Mount]:
        """Make a read-only snapshot of `parent` and return its (read-only) mounts."""
        ...

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> Info:
        """Turn the ACTIVE snapshot `key` into the COMMITTED snapshot `name`. `key` must be unmounted
        (its content must not change any more); it no longer exists afterwards."""
        ...

    def remove(self, key: str) -> None:
        """Remove a snapshot (which must be unmounted and have no children)."""
        ...

    def walk(self) -> Iterator[Info]:
        """Every snapshot, parents before their children."""
        ...

    def parents(self, key: str) -> list[str]:
        """The chain of parent names of a snapshot, nearest first."""
        ...

    def cleanup(self) -> None:
        """Remove directories left behind by a crash (half-made or half-removed snapshots)."""
        ...

    def close(self) -> None: ...

