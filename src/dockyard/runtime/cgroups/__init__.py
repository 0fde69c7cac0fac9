"""Cgroup managers for v1 (and hybrid) and v2 hosts, behind the one contract in `base`.

    manager = new_manager(spec.linux.cgroups_path, container_id)   # v1 or v2, picked once
    manager = load_manager(state.cgroup_paths)                       # the same, rebuilt later

See base.py for the lifecycle and paths.py for how cgroupsPath is resolved.
"""

from __future__ import annotations

from dockyard.runtime.cgroups.base import Hierarchy
from dockyard.runtime.cgroups.paths import CGROUP_ROOT, cgroup_version

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.cgroups.base import CgroupManager

__all__ = ["CgroupManager", "Hierarchy", "cgroup_version", "load_manager", "new_manager"]


def new_manager(cgroups_path: str, container_id: str) -> CgroupManager:
    """The manager for a container's cgroup: v2 when cgroup2 is mounted at /sys/fs/cgroup, else v1.

    Nothing is created yet; an unusable cgroupsPath or a host without a devices controller is
    refused here.
    """
    # Each manager is imported only where it is used: on a v1 host the v2 code (and its BPF
    # device program) would be import time spent for nothing on every container start.
    if cgroup_version() == 2:
        from dockyard.runtime.cgroups.v2 import V2Manager

        return V2Manager.new(cgroups_path, container_id, CGROUP_ROOT)
    from dockyard.runtime.cgroups.v1 import V1Manager

    return V1Manager.new(cgroups_path, container_id)


def load_manager(paths: dict[str, str]) -> CgroupManager:
    """Rebuild a manager from what `paths()` returned when the container was created."""
    if set(paths) == {""}:
        from dockyard.runtime.cgroups import paths as lookup
        from dockyard.runtime.cgroups.v2 import V2Manager

        mount = lookup.mount_for(paths[""])
        return V2Manager(paths[""], mount.mountpoint if mount is not None else CGROUP_ROOT)
    from dockyard.runtime.cgroups.v1 import V1Manager

    return V1Manager(paths)
