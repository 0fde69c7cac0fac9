"""Named and anonymous volumes of the `local` driver, as Docker's volume service keeps them.

On disk, under the data root:

    volumes/<name>/_data        the volume's content (what containers mount)
    volumes/<name>/volume.json  its record: {"Name", "Driver", "CreatedAt", "Labels", "Options",
                                "Anonymous", "Populated"}, written temp-then-rename

The metadata database (metadata/db.py) belongs to the images subsystem and has no volumes table; a
volume is a directory with its own small record, so `rm -rf volumes/<name>` is a consistent delete
and a crash mid-create leaves a directory without `volume.json`, which `VolumeStore` ignores and
cleans up.

Which containers use a volume is the engine's knowledge: `acquire`/`release` keep references in
memory for the daemon's lifetime, and the optional `in_use(name) -> [container ids]` callback lets the
engine answer from its own records (so references survive a daemon restart without a second copy).
A volume in use cannot be removed: `remove x: volume is in use - [<id>]` (Conflict).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PruneReport", "Volume", "VolumeStore"]


@dataclass
class Volume:
    name: str
    mountpoint: Path
    driver: str = "local"
    created_ns: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    populated: bool = False

    def to_json(self, usage: tuple[int, int] | None = None) -> dict[str, Any]:
        """Docker's inspect shape: CreatedAt, Driver, Labels, Mountpoint, Name, Options, Scope
        (and UsageData {Size, RefCount} when `usage` is given, for `system df`)."""
        raise NotImplementedError


@dataclass
class PruneReport:
    volumes_deleted: list[str] = field(default_factory=list)
    space_reclaimed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"VolumesDeleted": self.volumes_deleted or None, "SpaceReclaimed": self.space_reclaimed}


class VolumeStore:
    def __init__(self, data_root: Path, *, in_use: Callable[[str], list[str]] | None = None) -> None:
        raise NotImplementedError

    def create(self, name: str | None = None, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None) -> Volume:
        """Create a volume, or return the existing one of that name (Docker's create is idempotent).
        No name: an anonymous volume with 64 random hex digits. InvalidArgument for a bad name
        (`create x/y: "x/y" includes invalid characters for a local volume name, only
        "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute
        path`) or an unknown driver/option."""
        raise NotImplementedError

    def get(self, name: str) -> Volume:
        """NotFound `get x: no such volume`."""
        raise NotImplementedError

    def list_volumes(self, filters: Mapping[str, list[str]] | None = None) -> list[Volume]:
        """Filters: name (substring), driver, label (`k` or `k=v`), dangling (true/false)."""
        raise NotImplementedError

    def inspect(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def remove(self, name: str, *, force: bool = False) -> None:
        """Conflict `remove x: volume is in use - [<id>, ...]` while used; with force a missing volume
        is not an error (but one in use still is)."""
        raise NotImplementedError

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> PruneReport:
        """Remove unused volumes. As Docker 23+, only anonymous ones unless filter `all=true`;
        `label`/`label!` filters."""
        raise NotImplementedError

    def acquire(self, name: str, container_id: str) -> None:
        raise NotImplementedError

    def release(self, name: str, container_id: str) -> None:
        raise NotImplementedError

    def users(self, name: str) -> list[str]:
        """The ids of containers using the volume (references and the `in_use` callback)."""
        raise NotImplementedError

    def size(self, name: str) -> int:
        """Bytes used by the volume's content (for `system df`)."""
        raise NotImplementedError

    def populate(self, volume: Volume, source: Path) -> bool:
        """Copy `source` (the image's content at the mount path) into a volume that was never
        populated and is empty, once; returns whether it copied. Ownership, modes, xattrs, times
        and special files are kept (`copy.copy_tree`)."""
        raise NotImplementedError
