"""Volumes: named and anonymous volumes (the `local` driver) and the mounts of a container.

Public API:
    VolumeStore(data_root, *, in_use=None)                       store.py
        create(name=None, *, driver="local", driver_opts=None, labels=None) -> Volume
        get(name) -> Volume; list_volumes(filters) -> list[Volume]; inspect(name) -> dict
        remove(name, *, force=False); prune(filters) -> PruneReport
        acquire(name, container_id); release(name, container_id); users(name) -> list[str]
        populate(volume, source_dir) -> bool        copy an image's content into a new volume
    Volume, PruneReport                                           store.py
    MountPoint                                                    mounts.py: one mount of a container
    parse_bind(spec) -> MountPoint                                `-v src:dst[:opts]` / HostConfig.Binds
    parse_mount(spec: MountSpec) -> MountPoint                    HostConfig.Mounts
    parse_mount_flag(value: str) -> MountSpec                     a `--mount` flag, as the docker CLI reads it
    parse_tmpfs(dest, options) -> MountPoint                      `--tmpfs dst:opts` / HostConfig.Tmpfs
    plan_mounts(binds=, mounts=, tmpfs=, image_volumes=) -> list[MountPoint]   every mount, checked
    MountSpec, BindOptions, VolumeOptions, TmpfsOptions          spec.py: Docker's mount.Mount
    setup_mounts(points, store, container_id, rootfs) -> list[oci Mount]
                                                                  volumes created/populated, OCI mounts
    copy_tree(src, dst)                                           copy.py: content with owners/modes/xattrs
"""

from __future__ import annotations

from dockyard.volumes.copy import copy_tree
from dockyard.volumes.mounts import (
    MountPoint,
    parse_bind,
    parse_mount,
    parse_tmpfs,
    plan_mounts,
    setup_mounts,
)
from dockyard.volumes.spec import BindOptions, MountSpec, TmpfsOptions, VolumeOptions, parse_mount_flag
from dockyard.volumes.store import PruneReport, Volume, VolumeStore

__all__ = [
    "BindOptions",
    "MountPoint",
    "MountSpec",
    "PruneReport",
    "TmpfsOptions",
    "Volume",
    "VolumeOptions",
    "VolumeStore",
    "copy_tree",
    "parse_bind",
    "parse_mount",
    "parse_mount_flag",
    "parse_tmpfs",
    "plan_mounts",
    "setup_mounts",
]
