"""The cgroup v1 manager: one directory per mounted hierarchy, plus the unified one in hybrid mode.

Facts:
- Each v1 hierarchy is its own tree; co-mounted controllers ("cpu,cpuacct") share a directory,
  and a named hierarchy (name=systemd) has no controller, only membership. A process is in
  exactly one cgroup per hierarchy, so the container joins every hierarchy dockyard knows.
- A new cpuset cgroup starts with empty cpuset.cpus and cpuset.mems (unless the parent has
  cgroup.clone_children), and no task can join it until both are set: they are copied down from
  the parent at every level dockyard creates (runc's cpusetEnsureParent).
- memory.memsw.limit_in_bytes (memory+swap) must stay >= memory.limit_in_bytes at every
  moment, so raising both writes memsw first and lowering both writes the limit first. A limit
  below current usage fails with EBUSY (the kernel could not reclaim enough).
- memory.kmem.limit_in_bytes still exists on 6.x kernels but writing it has no effect (a
  deprecation warning in the kernel log); it and kmem.tcp are written only where they exist.
- cpu.cfs_period_us and cpu.cfs_quota_us are checked against each other and the parent: a
  write can fail with EINVAL until its partner is written (likewise rt_period/rt_runtime and
  cfs_burst/quota), hence the retry-after in the write plan. The cpu.rt_* files exist only with
  CONFIG_RT_GROUP_SCHED; cpu.idle from 5.15; cpu.cfs_burst_us from 5.14.
- blkio.weight exists with CFQ (gone since 5.0); with bfq the files are blkio.bfq.weight and
  blkio.bfq.weight_device, and there is no leaf weight.
- freezer.state: write FROZEN, then read back until FROZEN (FREEZING in between); a task stuck
  in the kernel can keep it FREEZING, so runc's loop thaws briefly every 50 tries.
  "FROZEN" with freezer.self_freezing 0 means a parent is frozen, not this cgroup.
- memory.oom_control's "oom_kill" counts OOM kills in the cgroup (4.13+).
- In hybrid mode the unified (v2) hierarchy is mounted beside the v1 ones, and controllers that
  no v1 hierarchy holds (hugetlb, on some hosts) are only available there; the container
  joins it too (as runc does), and hugetlb limits go there when no v1 hugetlb is mounted.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time

from dockyard import errors
from dockyard.errors import InvalidArgument, SystemCallError, Unavailable
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime.cgroups import convert, devices, devices_v1, fs, paths, validate
from dockyard.runtime.cgroups.base import Hierarchy, signal_all
from dockyard.runtime.cgroups.fs import Write
from dockyard.runtime.cgroups.v2 import FREEZE_TIMEOUT, V2Manager

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any


class V1Manager:
    version = 1

    def __init__(self, dirs: dict[str, str]) -> None:
        if "devices" not in dirs:
            raise InvalidArgument("a cgroup v1 manager needs a devices cgroup path")
        self._paths = {k: posixpath.normpath(v) for k, v in dirs.items()}
        self._unified: V2Manager | None = None
        if "" in self._paths:
            mount = paths.mount_for(self._paths[""])
            root = mount.mountpoint if mount is not None and mount.version == 2 else paths.CGROUP_ROOT + "/unified"
            self._unified = V2Manager(self._paths[""], root)

    @classmethod
    def new(cls, cgroups_path: str, container_id: str) -> V1Manager:
        return cls(paths.v1_paths(paths.inner_path(cgroups_path, container_id)))

    def _dirs(self) -> list[str]:
        """Each v1 directory once (co-mounted controllers share one), in runc's subsystem order."""
        seen: list[str] = []
        for name in paths.V1_SUBSYSTEMS:
            d = self._paths.get(name)
            if d is not None and d not in seen:
                seen.append(d)
        for name, d in self._paths.items():
            if name and d not in seen:
                seen.append(d)
        return seen

    # --- creating and placing ------------------------------------------------------------------

    def create(self, resources: Resources | None = None) -> None:
        if resources is not None:
            self._check(resources)
        created: list[str] = []
        try:
            for d in self._dirs():
                if d == self._paths.get("cpuset"):
                    created += self._make_cpuset(d)
                else:
                    created += fs.make_dirs(d)
            if self._unified is not None:
                created += self._unified.make()
            if resources is not None:
                self.set(resources)
        except BaseException:
            fs.remove_created(created)
            raise

    def _make_cpuset(self, path: str) -> list[str]:
        mount = paths.mount_for(path)
        top = mount.mountpoint if mount is not None else posixpath.dirname(path)
        levels: list[str] = []
        current = path
        while current != top and current.startswith(top + "/"):
            levels.append(current)
            current = posixpath.dirname(current)
        created: list[str] = []
        for level in reversed(levels):
            if fs.make_dir(level):
                created.append(level)
            parent = posixpath.dirname(level)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not fs.read(level, name).strip():
                    fs.write(level, name, fs.read(parent, name).strip())
        return created

    def add(self, pid: int) -> None:
        for d in self._dirs():
            fs.add_proc(d, pid)
        if self._unified is not None:
            self._unified.add(pid)

    # --- limits --------------------------------------------------------------------------------

    def _need(self, controller: str, what: str) -> str:
        d = self._paths.get(controller)
        if d is None:
            raise errors.NotImplemented(f"cannot set {what}: the {controller} cgroup is not mounted")
        return d

    def _require(self, directory: str, name: str, what: str) -> None:
        if not fs.exists(directory, name):
            raise errors.NotImplemented(f"cannot set {what}: this kernel has no {name}")

    def _hugetlb_unified(self) -> bool:
        if self._unified is None or not self._unified.exists():
            return False
        text = fs.read_optional(self._unified.path, "cgroup.controllers") or ""
        return "hugetlb" in text.split()

    def _check(self, r: Resources) -> None:
        """Everything that can be refused without the container's directories."""
        validate.check(r, 1)
        validate.check_host(r)
        mem, cpu, blk, net = r.memory, r.cpu, r.block_io, r.network
        if mem is not None and any(v not in (None, 0) for v in (mem.limit, mem.reservation, mem.swap, mem.kernel,
                                                                  mem.kernel_tcp, mem.swappiness)):
            self._need("memory", "memory limits")
        if mem is not None and mem.disable_oom_killer:
            self._need("memory", "the OOM killer")
        if cpu is not None:
            if cpu.shares or cpu.quota or cpu.period or cpu.burst is not None or cpu.idle is not None \
                    or cpu.realtime_period or cpu.realtime_runtime:
                self._need("cpu", "cpu limits")
            if cpu.cpus or cpu.mems:
                self._need("cpuset", "cpuset.cpus/cpuset.mems")
        if r.pids_limit is not None:
            self._need("pids", "a pids limit")
        if blk is not None and (blk.weight or blk.leaf_weight or blk.weight_device or blk.throttle_read_bps
                                or blk.throttle_write_bps or blk.throttle_read_iops or blk.throttle_write_iops):
            self._need("blkio", "block I/O limits")
        if r.hugepage_limits and "hugetlb" not in self._paths and self._unified is None:
            raise errors.NotImplemented("cannot set hugepage limits: the hugetlb cgroup is not mounted")
        if net is not None and net.class_id is not None:
            self._need("net_cls", "the network classID")
        if net is not None and net.priorities:
            self._need("net_prio", "network priorities")

    def _plan(self, r: Resources) -> list[Write]:
        """The writes for `r`, in runc's subsystem order; refuses (NotImplemented) knobs this kernel lacks."""
        plan: list[Write] = []
        cpu, mem, blk, net = r.cpu, r.memory, r.block_io, r.network
        if cpu is not None and (cpu.cpus or cpu.mems):
            d = self._paths["cpuset"]
            if cpu.cpus:
                plan.append(Write(d, "cpuset.cpus", cpu.cpus))
            if cpu.mems:
                plan.append(Write(d, "cpuset.mems", cpu.mems))
        if mem is not None and "memory" in self._paths:
            plan += self._memory_plan(self._paths["memory"], r)
        if cpu is not None and "cpu" in self._paths:
            plan += self._cpu_plan(self._paths["cpu"], r)
        if r.pids_limit is not None:
            plan.append(Write(self._paths["pids"], "pids.max", convert.pids_max(r.pids_limit)))
        if blk is not None and "blkio" in self._paths:
            plan += self._blkio_plan(self._paths["blkio"], r)
        if r.hugepage_limits:
            plan += self._hugetlb_plan(r)
        if net is not None and net.class_id is not None:
            plan.append(Write(self._paths["net_cls"], "net_cls.classid", str(net.class_id)))
        if net is not None:
            for prio in net.priorities:
                plan.append(Write(self._paths["net_prio"], "net_prio.ifpriomap", f"{prio.name} {prio.priority}"))
        return plan

    def _memory_plan(self, d: str, r: Resources) -> list[Write]:
        mem = r.memory
        assert mem is not None
        plan: list[Write] = []
        limit, swap = mem.limit or 0, mem.swap or 0
        has_memsw = fs.exists(d, "memory.memsw.limit_in_bytes")
        if limit == -1 and swap == 0 and has_memsw:
            swap = -1  # unlimited memory with swap unset: unlimited swap too (runc)
        if swap not in (0, -1) and not has_memsw:
            raise errors.NotImplemented("cannot set a memory+swap limit: this kernel has no memory.memsw.limit_in_bytes "
                                 "(swap accounting is disabled)")
        limit_write = Write(d, "memory.limit_in_bytes", str(limit), explain=lambda err: self._explain_busy(d, limit, err))
        swap_write = Write(d, "memory.memsw.limit_in_bytes", str(swap), missing_ok=swap == -1)
        if limit and swap:
            current = fs.read_uint(d, "memory.limit_in_bytes")
            # Keep memsw >= limit at every moment: raise memsw first, lower the limit first.
            plan += [swap_write, limit_write] if swap == -1 or current < swap else [limit_write, swap_write]
        elif limit:
            plan.append(limit_write)
        elif swap:
            plan.append(swap_write)
        if mem.reservation:
            plan.append(Write(d, "memory.soft_limit_in_bytes", str(mem.reservation)))
        if mem.kernel:
            plan.append(Write(d, "memory.kmem.limit_in_bytes", str(mem.kernel), missing_ok=True))
        if mem.kernel_tcp:
            plan.append(Write(d, "memory.kmem.tcp.limit_in_bytes", str(mem.kernel_tcp), missing_ok=True))
        if mem.disable_oom_killer:
            plan.append(Write(d, "memory.oom_control", "1"))
        if mem.swappiness is not None and mem.swappiness != -1:
            plan.append(Write(d, "memory.swappiness", str(mem.swappiness)))
        return plan

    @staticmethod
    def _explain_busy(d: str, limit: int, err: SystemCallError) -> SystemCallError:
        if err.errno != errno.EBUSY:
            return err
        usage = fs.read_uint_optional(d, "memory.usage_in_bytes")
        peak = fs.read_uint_optional(d, "memory.max_usage_in_bytes")
        return SystemCallError(f"unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})",
                               errno.EBUSY)

    def _cpu_plan(self, d: str, r: Resources) -> list[Write]:
        cpu = r.cpu
        assert cpu is not None
        plan: list[Write] = []
        if cpu.shares:
            plan.append(Write(d, "cpu.shares", str(cpu.shares)))
        quota = cpu.quota or 0
        if cpu.period:
            plan.append(Write(d, "cpu.cfs_period_us", str(cpu.period), retry_after="cpu.cfs_quota_us" if quota else None))
        if cpu.burst is not None:
            # Kernels before 5.14 have no burst; runc ignores it there.
            plan.append(Write(d, "cpu.cfs_burst_us", str(cpu.burst), missing_ok=True,
                              retry_after="cpu.cfs_quota_us" if quota else None))
        if quota:
            plan.append(Write(d, "cpu.cfs_quota_us", str(quota)))
        if cpu.idle is not None:
            self._require(d, "cpu.idle", "cpu idle")
            plan.append(Write(d, "cpu.idle", str(cpu.idle)))
        if cpu.realtime_period or cpu.realtime_runtime:
            self._require(d, "cpu.rt_runtime_us", "realtime cpu bandwidth")
            if cpu.realtime_period:
                plan.append(Write(d, "cpu.rt_period_us", str(cpu.realtime_period),
                                  retry_after="cpu.rt_runtime_us" if cpu.realtime_runtime else None))
            if cpu.realtime_runtime:
                plan.append(Write(d, "cpu.rt_runtime_us", str(cpu.realtime_runtime)))
        return plan

    def _blkio_plan(self, d: str, r: Resources) -> list[Write]:
        blk = r.block_io
        assert blk is not None
        plan: list[Write] = []
        cfq = fs.exists(d, "blkio.weight")
        weight_file, device_file = ("blkio.weight", "blkio.weight_device") if cfq else \
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        if blk.weight:
            self._require(d, weight_file, "the blkio weight")
            plan.append(Write(d, weight_file, str(blk.weight)))
        if blk.leaf_weight:
            self._require(d, "blkio.leaf_weight", "the blkio leaf weight")
            plan.append(Write(d, "blkio.leaf_weight", str(blk.leaf_weight)))
        for wd in blk.weight_device:
            if wd.weight:
                self._require(d, device_file, "a blkio device weight")
                plan.append(Write(d, device_file, f"{wd.major}:{wd.minor} {wd.weight}"))
            if wd.leaf_weight:
                self._require(d, "blkio.leaf_weight_device", "a blkio device leaf weight")
                plan.append(Write(d, "blkio.leaf_weight_device", f"{wd.major}:{wd.minor} {wd.leaf_weight}"))
        for name, throttles in (("blkio.throttle.read_bps_device", blk.throttle_read_bps),
                                ("blkio.throttle.write_bps_device", blk.throttle_write_bps),
                                ("blkio.throttle.read_iops_device", blk.throttle_read_iops),
                                ("blkio.throttle.write_iops_device", blk.throttle_write_iops)):
            for td in throttles:
                plan.append(Write(d, name, f"{td.major}:{td.minor} {td.rate}"))
        return plan

    def _hugetlb_plan(self, r: Resources) -> list[Write]:
        plan: list[Write] = []
        if "hugetlb" in self._paths:
            d, suffix = self._paths["hugetlb"], "limit_in_bytes"
        elif self._hugetlb_unified():
            assert self._unified is not None
            d, suffix = self._unified.path, "max"
        else:
            raise errors.NotImplemented("cannot set hugepage limits: no hugetlb cgroup is mounted, and the unified "
                                 "hierarchy does not offer the hugetlb controller here")
        for hp in r.hugepage_limits:
            plan.append(Write(d, f"hugetlb.{hp.page_size}.{suffix}", str(hp.limit)))
            plan.append(Write(d, f"hugetlb.{hp.page_size}.rsvd.{suffix}", str(hp.limit), missing_ok=True))
        return plan

    def set(self, resources: Resources) -> None:
        self._check(resources)
        plan = self._plan(resources)
        if resources.devices:
            devices_v1.apply(self._paths["devices"], devices.target(resources.devices))
        fs.apply_writes(plan)

    # --- freezer -------------------------------------------------------------------------------

    def freeze(self) -> None:
        d = self._need("freezer", "the freezer state")
        try:
            for attempt in range(1000):
                if attempt % 50 == 49:
                    # A task stuck in the kernel can keep the cgroup FREEZING; thawing for a
                    # moment lets it reach a point where it can be frozen (runc's loop).
                    fs.write(d, "freezer.state", "THAWED")
                    time.sleep(0.01)
                fs.write(d, "freezer.state", "FROZEN")
                if attempt % 25 == 24:
                    time.sleep(0.00001)
                state = fs.read(d, "freezer.state").strip()
                if state == "FROZEN":
                    return
                if state != "FREEZING":
                    raise Unavailable(f"unexpected freezer state {state} while freezing {d}")
        except BaseException:
            fs.write(d, "freezer.state", "THAWED")
            raise
        fs.write(d, "freezer.state", "THAWED")
        raise Unavailable(f"unable to freeze {d}")

    def thaw(self) -> None:
        d = self._need("freezer", "the freezer state")
        fs.write(d, "freezer.state", "THAWED")

    def frozen(self) -> bool:
        d = self._paths.get("freezer")
        if d is None:
            return False
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            state = (fs.read_optional(d, "freezer.state") or "THAWED").strip()
            if state == "FREEZING" and time.monotonic() < deadline:
                time.sleep(0.001)
                continue
            if state == "FREEZING":
                return True  # stuck on the way: a freeze was asked for, so report paused
            if state != "FROZEN":
                return False
            # FROZEN because a parent is frozen is not this container's pause.
            return (fs.read_optional(d, "freezer.self_freezing") or "1").strip() == "1"

    # --- processes -----------------------------------------------------------------------------

    def pids(self) -> list[int]:
        # The devices hierarchy always exists (we refuse to run without it) and holds every process.
        return fs.all_procs(self._paths["devices"])

    def kill_all(self, signum: int) -> None:
        signal_all(self, signum, can_freeze="freezer" in self._paths and fs.exists(self._paths["freezer"]))

    def stats(self) -> dict[str, Any]:
        from dockyard.runtime.cgroups import stats  # only for `events`/`docker stats`, not on start

        return stats.v1(self._paths)

    def oom_kill_count(self) -> int:
        d = self._paths.get("memory")
        if d is None:
            return 0
        return (fs.read_keyed(d, "memory.oom_control") or {}).get("oom_kill", 0)

    # --- lifetime ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return os.path.isdir(self._paths["devices"])

    def destroy(self) -> None:
        first: SystemCallError | None = None
        for d in self._dirs():
            try:
                fs.remove_tree(d)
            except SystemCallError as err:
                first = first or err  # keep going: remove what can be removed
        if self._unified is not None:
            try:
                self._unified.destroy()
            except SystemCallError as err:
                first = first or err
        if first is not None:
            raise first

    def paths(self) -> dict[str, str]:
        return dict(self._paths)

    def hierarchies(self) -> list[Hierarchy]:
        found: list[Hierarchy] = []
        mounts = paths.mounts()
        unified = paths.mount_for(self._unified.path, mounts) if self._unified is not None else None
        for m in mounts:
            if m.version == 1:
                joined = [c for c in m.controllers if c in self._paths]
                if joined:
                    d = self._paths[joined[0]]
                    found.append(Hierarchy(",".join(m.controllers), m.mountpoint, m.options(),
                                           paths.container_path(d, m)))
            elif self._unified is not None and m == unified:
                found.append(Hierarchy("", m.mountpoint, "", paths.container_path(self._unified.path, m)))
        return found
