"""A container's mounts: `-v`, `--mount`, `--tmpfs` and the image's VOLUMEs, checked as Docker checks them.

`parse_bind`, `parse_mount` and `parse_tmpfs` turn one user spec into a `MountPoint` and raise
InvalidArgument with Docker's messages (`invalid mount config for type "bind": bind source path does
not exist: /nope`, `invalid volume specification: 'x'`, `invalid mode: y`, ...). `plan_mounts` does the
whole container (Binds, Mounts, Tmpfs, then the image's Volumes not already covered, as anonymous
volumes; duplicate destinations are refused: `Duplicate mount point: /data`). `setup_mounts` creates
the volumes a plan needs, populates new ones from the image, and returns OCI mounts in Docker's order
(sorted by destination depth) with Docker's options (`rbind`, `ro`, propagation `rprivate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.oci.runtime_spec import Mount
from dockyard.volumes.spec import MountSpec

if TYPE_CHECKING:
    from dockyard.volumes.store import VolumeStore

__all__ = ["MountPoint", "parse_bind", "parse_mount", "parse_tmpfs", "plan_mounts", "setup_mounts"]


@dataclass
class MountPoint:
    """Docker's `MountPoint` (what inspect shows under `Mounts`, and what the container keeps)."""

    type: str  # "bind" | "volume" | "tmpfs"
    destination: str
    source: str = ""  # host path for bind; filled from the volume for volume mounts
    name: str = ""  # volume name
    driver: str = ""
    rw: bool = True
    mode: str = ""  # the options as the user wrote them ("ro,z")
    propagation: str = ""
    copy_data: bool = True  # populate a new volume from the image (volume-nocopy turns it off)
    non_recursive: bool = False
    tmpfs_options: str = ""  # tmpfs data: "size=65536k,mode=1777"
    spec: MountSpec = field(default_factory=MountSpec)
    create_source: bool = False  # `-v /host/dir:...`: Docker creates a missing bind source

    def to_json(self) -> dict[str, Any]:
        """Docker's inspect `Mounts[]` entry: Type, Name, Source, Destination, Driver, Mode, RW, Propagation."""
        raise NotImplementedError


def parse_bind(spec: str) -> MountPoint:
    """One `HostConfig.Binds` entry: `src:dst[:opts]` (src a host path or a volume name) or `dst`."""
    raise NotImplementedError


def parse_mount(spec: MountSpec) -> MountPoint:
    """One `HostConfig.Mounts` entry."""
    raise NotImplementedError


def parse_tmpfs(destination: str, options: str) -> MountPoint:
    """One `HostConfig.Tmpfs` entry (`--tmpfs /run:size=1m,mode=755`)."""
    raise NotImplementedError


def plan_mounts(*, binds: Sequence[str] = (), mounts: Sequence[MountSpec] = (), tmpfs: Mapping[str, str] | None = None,
                image_volumes: Sequence[str] = (), volume_driver: str = "") -> list[MountPoint]:
    """Every mount of a container (HostConfig.Binds, .Mounts, .Tmpfs, .VolumeDriver and the merged
    Config.Volumes), checked (bind sources must exist for `--mount`; `-v` creates
    them at setup), duplicates refused, the image's Volumes added as anonymous volumes."""
    raise NotImplementedError


def setup_mounts(points: Sequence[MountPoint], store: VolumeStore, container_id: str, rootfs: Path) -> list[Mount]:
    """Create (or find) the volumes of `points`, acquire them for `container_id`, populate new ones from
    `rootfs`, create missing `-v` bind sources, and return the OCI mounts."""
    raise NotImplementedError
