"""The contract every cgroup manager keeps, whatever the hierarchy (v1, v2).

Lifecycle, as the runtime drives it:

    manager = cgroups.new_manager(spec.linux.cgroups_path, container_id)
    manager.create(spec.linux.resources)  # check every value, make the directories, write the
                                          # limits; on any error nothing is left behind
    manager.add(init_pid)                 # move the container's first process in
    ... manager.freeze() / thaw() / pids() / stats() / set(new_resources) ...
    manager.kill_all(signals.SIGKILL)      # kill --all
    manager.destroy()                     # after every process has exited: remove the directories

`create()` without resources only makes the directories (idempotent); `set()` on its own is what
`update` uses on a running container: it checks every value before writing any, but a kernel
refusal midway leaves the earlier writes in place (as runc's does).

Resources.devices: an empty list leaves the device rules as they are (so an `update` that does
not mention devices keeps them); the runtime passes the full list (spec rules plus its defaults)
at create time.

A manager saved in the container's state is rebuilt by `cgroups.load_manager(manager.paths())`, so
later commands (kill --all, pause, delete) find the same directories without re-reading the spec.
"""

from __future__ import annotations

import os

from dockyard.records import record
from dockyard.runtime import signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from dockyard.oci.runtime_spec import Resources


@record(frozen=True)
class Hierarchy:
    """One mounted hierarchy as a container sees it: what to mount at /sys/fs/cgroup/<name>."""

    name: str            # "memory", "cpu,cpuacct", "name=systemd", or "" for the v2 unified hierarchy
    host_mountpoint: str  # /sys/fs/cgroup/memory
    mount_options: str    # what mount(2) takes as data: "memory", "none,name=systemd", "" (cgroup2)
    container_path: str   # the container's cgroup inside that hierarchy: /dockyard/<id>


if TYPE_CHECKING:
    # A typing-only contract: the runtime's start path does not import typing (see dockyard.records).
    class CgroupManager(Protocol):
        version: int  # 1 or 2

        def create(self, resources: Resources | None = None) -> None: ...

        def add(self, pid: int) -> None: ...

        def set(self, resources: Resources) -> None: ...

        def freeze(self) -> None: ...

        def thaw(self) -> None: ...

        def frozen(self) -> bool: ...

        def pids(self) -> list[int]:
            """Every process in the container's cgroup and the cgroups below it."""
            ...

        def kill_all(self, signum: int) -> None:
            """Signal every process in the cgroup (kill --all); see `signal_all`."""
            ...

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


def signal_all(manager: CgroupManager, signum: int, *, can_freeze: bool) -> None:
    """runc's signalAllProcesses: freeze, signal every pid, thaw, so no process forks past us.

    A container that was already paused stays paused, except for SIGKILL: frozen tasks only die
    once thawed. Processes that exit meanwhile are skipped. Waiting for them is the caller's job.
    """
    was_frozen = can_freeze and manager.frozen()
    if can_freeze and not was_frozen:
        manager.freeze()
    try:
        for pid in manager.pids():
            if pid <= 0:
                continue  # a process outside our pid namespace reads as 0
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue
    finally:
        if can_freeze and (not was_frozen or signum == signals.SIGKILL):
            manager.thaw()
