"""The contract every cgroup manager keeps, whatever the hierarchy (v1, v2).

Lifecycle, as the runtime drives it:

    manager = cgroups.new_manager(spec.linux.cgroups_path, container_id)
    manager.create()                 # make the directories (idempotent)
    manager.set(spec.linux.resources) # write limits; invalid values raise before anything runs
    manager.add(init_pid)            # move the container's first process in
    ... manager.freeze() / thaw() / pids() / stats() / set(new_resources) ...
    manager.destroy()                # after every process has exited: remove the directories

A manager saved in the container's state is rebuilt by `cgroups.load_manager(manager.paths())`, so
later commands (kill --all, pause, delete) find the same directories without re-reading the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from dockyard.oci.runtime_spec import Resources


@dataclass(frozen=True)
class Hierarchy:
    """One mounted hierarchy as a container sees it: what to mount at /sys/fs/cgroup/<name>."""

    name: str            # "memory", "cpu", "name=systemd", or "" for the v2 unified hierarchy
    host_mountpoint: str  # /sys/fs/cgroup/memory
    mount_options: str    # what mount(2) takes as data: "memory", "none,name=systemd", "" (cgroup2)
    container_path: str   # the container's cgroup inside that hierarchy: /dockyard/<id>


class CgroupManager(Protocol):
    version: int  # 1 or 2

    def create(self) -> None: ...

    def add(self, pid: int) -> None: ...

    def set(self, resources: Resources) -> None: ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def frozen(self) -> bool: ...

    def pids(self) -> list[int]: ...

    def stats(self) -> dict[str, Any]:
        """Usage in the shape of runc's `events --stats` "data" object (cpu, memory, pids, blkio, hugetlb)."""
        ...

    def oom_kill_count(self) -> int: ...

    def exists(self) -> bool: ...

    def destroy(self) -> None: ...

    def paths(self) -> dict[str, str]:
        """Directory per controller (v1) or {"": dir} (v2); what the state file stores."""
        ...

    def hierarchies(self) -> list[Hierarchy]:
        """What a `cgroup` mount inside the container shows."""
        ...
