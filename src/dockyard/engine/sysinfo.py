"""What this host's cgroups can limit, as moby's pkg/sysinfo finds out (by the files a cgroup has).

Docker checks a create request against this (`verifyPlatformContainerResources`): a limit the host
cannot apply is discarded with a warning (blkio weight without CFQ/BFQ weights, for one), so inspect
then shows it as unset. `SysInfo.probe()` reads it once; tests may build one by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["SysInfo", "host_sysinfo"]


@dataclass(frozen=True)
class SysInfo:
    memory_limit: bool = True
    swap_limit: bool = True
    memory_reservation: bool = True
    oom_kill_disable: bool = True
    memory_swappiness: bool = True
    kernel_memory: bool = True
    kernel_memory_tcp: bool = True
    cpu_shares: bool = True
    cpu_cfs: bool = True
    cpu_realtime: bool = True
    blkio_weight: bool = True
    blkio_weight_device: bool = True
    blkio_read_bps_device: bool = True
    blkio_write_bps_device: bool = True
    blkio_read_iops_device: bool = True
    blkio_write_iops_device: bool = True
    cpuset: bool = True
    pids_limit: bool = True
    cgroup_v2: bool = False

    @classmethod
    def probe(cls, root: Path = Path("/sys/fs/cgroup")) -> SysInfo:
        if (root / "cgroup.controllers").exists():
            try:
                controllers = set((root / "cgroup.controllers").read_text().split())
            except OSError:
                controllers = set()
            memory = "memory" in controllers
            io = "io" in controllers
            return cls(
                memory_limit=memory, swap_limit=memory, memory_reservation=memory, oom_kill_disable=False,
                memory_swappiness=False, kernel_memory=False, kernel_memory_tcp=False,
                cpu_shares="cpu" in controllers, cpu_cfs="cpu" in controllers, cpu_realtime=False,
                blkio_weight=io, blkio_weight_device=io, blkio_read_bps_device=io, blkio_write_bps_device=io,
                blkio_read_iops_device=io, blkio_write_iops_device=io, cpuset="cpuset" in controllers,
                pids_limit="pids" in controllers, cgroup_v2=True,
            )

        def has(controller: str, name: str) -> bool:
            return os.path.exists(root / controller / name)

        return cls(
            memory_limit=(root / "memory").is_dir(),
            swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
            memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
            oom_kill_disable=has("memory", "memory.oom_control"),
            memory_swappiness=has("memory", "memory.swappiness"),
            kernel_memory=has("memory", "memory.kmem.limit_in_bytes"),
            kernel_memory_tcp=has("memory", "memory.kmem.tcp.limit_in_bytes"),
            cpu_shares=has("cpu", "cpu.shares"),
            cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
            cpu_realtime=has("cpu", "cpu.rt_period_us"),
            blkio_weight=has("blkio", "blkio.weight"),
            blkio_weight_device=has("blkio", "blkio.weight_device"),
            blkio_read_bps_device=has("blkio", "blkio.throttle.read_bps_device"),
            blkio_write_bps_device=has("blkio", "blkio.throttle.write_bps_device"),
            blkio_read_iops_device=has("blkio", "blkio.throttle.read_iops_device"),
            blkio_write_iops_device=has("blkio", "blkio.throttle.write_iops_device"),
            cpuset=(root / "cpuset").is_dir(),
            pids_limit=(root / "pids").is_dir(),
        )


@cache
def host_sysinfo() -> SysInfo:
    return SysInfo.probe()
