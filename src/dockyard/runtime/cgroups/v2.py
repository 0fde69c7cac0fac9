"""The cgroup v2 (unified hierarchy) manager.

Facts:
- One hierarchy; a cgroup's cgroup.controllers lists what its parent's cgroup.subtree_control
  hands down, and only those controllers' files exist in it. The root's cgroup.controllers
  is what the kernel has. Enabling ("+memory") in a non-root cgroup that has processes fails
  with EBUSY ("no internal processes"); so does writing a pid into a cgroup that has
  controllers enabled for its children. The root is exempt from both.
- cgroup.type "domain invalid" (a cgroup below a threaded subtree) and "threaded" cgroups
  cannot use domain controllers (memory, io, cpu's weight/max, hugetlb).
- cgroup.freeze (5.2+) freezes the subtree; cgroup.events then reports "frozen 1" once every
  task has stopped. The root cgroup has no cgroup.freeze.
- cgroup.kill (5.14+) SIGKILLs every process in the subtree in one write.
- memory.events' "oom_kill" counts OOM kills in the subtree; memory.swap.* exist only with
  swap accounting; memory.peak from 5.19.
- io.bfq.weight exists when the bfq scheduler is built; it takes the blkio range [1, 1000]
  directly, and per-device entries only when its content is "default N" (not a plain number).
- There are no v2 equivalents for kernel memory limits, swappiness, disabling the OOM killer
  (ignored, as runc does), realtime cpu bandwidth or net_cls/net_prio (refused when asked).
"""

from __future__ import annotations

import errno
import os
import posixpath
import time

from dockyard import errors
from dockyard.errors import Conflict, InvalidArgument, SystemCallError, Unavailable
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime import signals
from dockyard.runtime.cgroups import convert, devices, fs, paths, validate
from dockyard.runtime.cgroups.base import Hierarchy, signal_all
from dockyard.runtime.cgroups.fs import Write

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any

FREEZE_TIMEOUT = 10.0  # seconds, as runc waits

# Controllers whose limits only a "domain" cgroup can take.
_DOMAIN_CONTROLLERS = {"memory", "io", "cpu", "hugetlb"}


class V2Manager:
    version = 2

    def __init__(self, path: str, root: str = paths.CGROUP_ROOT) -> None:
        path, root = posixpath.normpath(path), posixpath.normpath(root)
        if not path.startswith(root.rstrip("/") + "/"):
            raise InvalidArgument(f"cgroup {path} is not below the cgroup2 hierarchy at {root}")
        self._path = path
        self._root = root

    @classmethod
    def new(cls, cgroups_path: str, container_id: str, root: str = paths.CGROUP_ROOT) -> V2Manager:
        """The manager for a spec's cgroupsPath on the cgroup2 hierarchy mounted at `root`."""
        inner = paths.inner_path(cgroups_path, container_id)
        return cls(paths.v2_path(inner, paths.v2_mount(root)), root)

    @property
    def path(self) -> str:
        return self._path

    # --- creating and placing ------------------------------------------------------------------

    def create(self, resources: Resources | None = None) -> None:
        if resources is not None:
            self._check(resources)
        created = self.make(resources)
        try:
            if resources is not None:
                self.set(resources)
        except BaseException:
            fs.remove_created(created)
            raise

    def make(self, resources: Resources | None = None) -> list[str]:
        """Make the directories, handing controllers down on the way; returns what was created.

        Like runc's CreateCgroupPath, every level above the leaf enables all the controllers the
        kernel has; where a level refuses (it holds processes), the leaf simply lacks them, and
        `set` then says so if a limit needs one.
        """
        supported = self._read_list(self._root, "cgroup.controllers")
        levels = [self._root]
        for part in posixpath.relpath(self._path, self._root).split("/"):
            levels.append(posixpath.join(levels[-1], part))
        created: list[str] = []
        try:
            for i, level in enumerate(levels):
                if i > 0:
                    if fs.make_dir(level):
                        created.append(level)
                    self._check_type(level, resources)
                if i < len(levels) - 1:
                    self._enable(level, supported)
        except BaseException:
            fs.remove_created(created)
            raise
        return created

    def _enable(self, level: str, supported: list[str]) -> None:
        have = set(self._read_list(level, "cgroup.subtree_control"))
        missing = [c for c in supported if c not in have]
        if not missing:
            return
        try:
            fs.write(level, "cgroup.subtree_control", " ".join("+" + c for c in missing))
        except SystemCallError:
            for controller in missing:
                try:
                    fs.write(level, "cgroup.subtree_control", "+" + controller)
                except SystemCallError:
                    continue  # not delegated here; `set` names it if a limit needs it

    def _check_type(self, level: str, resources: Resources | None) -> None:
        kind = (fs.read_optional(level, "cgroup.type") or "domain").strip()
        needs_domain = resources is not None and bool(self._needed_controllers(resources) & _DOMAIN_CONTROLLERS)
        if kind == "domain invalid":
            if needs_domain:
                raise Conflict(f"cannot enter cgroup v2 {level} with domain controllers: it is in an invalid state")
            fs.write(level, "cgroup.type", "threaded")
        elif kind in ("threaded", "domain threaded") and needs_domain:
            raise Conflict(f"cannot enter cgroup v2 {level} with domain controllers: it is in {kind} mode")

    def add(self, pid: int) -> None:
        fs.add_proc(self._path, pid)

    # --- limits --------------------------------------------------------------------------------

    def _check(self, resources: Resources) -> None:
        validate.check(resources, 2)
        validate.check_host(resources)
        cpu = resources.cpu
        if cpu is not None and (cpu.realtime_runtime or cpu.realtime_period):
            raise errors.NotImplemented("realtime cpu bandwidth (realtimeRuntime, realtimePeriod) needs cgroup v1")
        net = resources.network
        if net is not None and (net.class_id is not None or net.priorities):
            raise errors.NotImplemented("network classID and priorities need the cgroup v1 net_cls and net_prio controllers")
        if resources.devices:
            from dockyard.runtime.cgroups import devices_bpf  # only where v2 filters devices

            devices_bpf.program(devices.target(resources.devices))

    @staticmethod
    def _needed_controllers(resources: Resources) -> set[str]:
        needed: set[str] = set()
        mem = resources.memory
        if mem is not None and (mem.limit or mem.reservation or mem.swap):
            needed.add("memory")
        cpu = resources.cpu
        if cpu is not None:
            if cpu.shares or cpu.quota or cpu.period or cpu.burst is not None or cpu.idle is not None:
                needed.add("cpu")
            if cpu.cpus or cpu.mems:
                needed.add("cpuset")
        if resources.pids_limit is not None:
            needed.add("pids")
        blk = resources.block_io
        if blk is not None and (blk.weight or blk.weight_device or blk.throttle_read_bps or blk.throttle_write_bps
                                or blk.throttle_read_iops or blk.throttle_write_iops):
            needed.add("io")
        if resources.hugepage_limits:
            needed.add("hugetlb")
        return needed

    def _plan(self, r: Resources) -> tuple[list[Write], list[Write]]:
        """The typed limits' writes, and the unified entries' writes (applied after the devices)."""
        d = self._path
        plan: list[Write] = []
        if r.pids_limit is not None:
            plan.append(Write(d, "pids.max", convert.pids_max(r.pids_limit)))
        mem = r.memory
        if mem is not None and (mem.limit or mem.reservation or mem.swap):
            swap = convert.swap_max_value(mem.swap, mem.limit)
            if swap is not None:
                # Without swap accounting there is no memory.swap.max; "no swap" and "unlimited"
                # then already hold, as runc reasons.
                plan.append(Write(d, "memory.swap.max", swap, missing_ok=swap in ("max", "0")))
            for name, value in (("memory.max", mem.limit), ("memory.low", mem.reservation)):
                text = convert.memory_value(value)
                if text is not None:
                    plan.append(Write(d, name, text))
        blk = r.block_io
        if blk is not None:
            bfq = fs.read_optional(d, "io.bfq.weight")
            if blk.weight:
                if bfq is not None:
                    plan.append(Write(d, "io.bfq.weight", str(blk.weight)))
                else:
                    plan.append(Write(d, "io.weight", str(convert.blkio_weight_to_io_weight(blk.weight))))
            if bfq is not None and not bfq.strip().isdigit():
                # bfq takes per-device weights; without bfq, runc leaves them out, and so do we.
                for wd in blk.weight_device:
                    if wd.weight:
                        plan.append(Write(d, "io.bfq.weight", convert.device_line(wd.major, wd.minor, wd.weight)))
            for key, throttles in (("rbps", blk.throttle_read_bps), ("wbps", blk.throttle_write_bps),
                                   ("riops", blk.throttle_read_iops), ("wiops", blk.throttle_write_iops)):
                for td in throttles:
                    plan.append(Write(d, "io.max", convert.io_max_line(td.major, td.minor, key, td.rate)))
        cpu = r.cpu
        if cpu is not None:
            if cpu.idle is not None:
                plan.append(Write(d, "cpu.idle", str(cpu.idle)))
            weight = convert.cpu_shares_to_weight(cpu.shares or 0)
            if weight:
                plan.append(Write(d, "cpu.weight", str(weight)))
            line = convert.cpu_max(cpu.quota, cpu.period)
            if cpu.burst is not None:
                plan.append(Write(d, "cpu.max.burst", str(cpu.burst), retry_after="cpu.max" if line else None))
            if line is not None:
                plan.append(Write(d, "cpu.max", line))
            if cpu.cpus:
                plan.append(Write(d, "cpuset.cpus", cpu.cpus))
            if cpu.mems:
                plan.append(Write(d, "cpuset.mems", cpu.mems))
        for hp in r.hugepage_limits:
            plan.append(Write(d, f"hugetlb.{hp.page_size}.max", str(hp.limit)))
            plan.append(Write(d, f"hugetlb.{hp.page_size}.rsvd.max", str(hp.limit), missing_ok=True))
        unified: list[Write] = []
        for key, content in r.unified.items():
            # Last, so that they override the typed values, as in runc; one entry per write.
            for entry in content.splitlines() or [content]:
                unified.append(Write(d, key, entry))
        return plan, unified

    def set(self, resources: Resources) -> None:
        self._check(resources)
        available = set(self._read_list(self._path, "cgroup.controllers"))
        missing = self._needed_controllers(resources) - available
        if missing:
            names = ", ".join(sorted(missing))
            raise errors.NotImplemented(
                f"cannot set {names} limits: the {names} controller{'s are' if len(missing) > 1 else ' is'} not "
                f"available in {self._path} (available: {', '.join(sorted(available)) or 'none'})")
        for key in resources.unified:
            if fs.exists(self._path, key):
                continue
            controller = key.split(".", 1)[0]
            if controller != "cgroup" and controller not in available:
                raise errors.NotImplemented(f"unified resource {key!r} can't be set: controller {controller!r} not available "
                                     f"in {self._path}")
            raise InvalidArgument(f"unified resource {key!r} does not exist in {self._path}")
        mem = resources.memory
        if mem is not None and mem.check_before_update:
            self._check_usage(mem.limit, mem.swap)
        typed, unified = self._plan(resources)
        target = devices.target(resources.devices) if resources.devices else None
        fs.apply_writes(typed)
        if target is not None:
            from dockyard.runtime.cgroups import devices_bpf

            devices_bpf.apply(self._path, target)
        fs.apply_writes(unified)

    def _check_usage(self, limit: int | None, swap: int | None) -> None:
        usage = fs.read_uint_optional(self._path, "memory.current")
        if usage is None:
            return
        if swap is not None and swap > 0 and swap <= usage:
            raise Conflict(f"rejecting memory+swap limit {swap} <= usage {usage}")
        if limit is not None and limit > 0 and limit <= usage:
            raise Conflict(f"rejecting memory limit {limit} <= usage {usage}")

    # --- freezer -------------------------------------------------------------------------------

    def _require_freezer(self) -> None:
        if not fs.exists(self._path, "cgroup.freeze"):
            raise errors.NotImplemented(f"cannot freeze {self._path}: no cgroup.freeze (kernel 5.2 or later needed)")

    def freeze(self) -> None:
        self._require_freezer()
        fs.write(self._path, "cgroup.freeze", "1")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while (fs.read_keyed(self._path, "cgroup.events") or {}).get("frozen") != 1:
            if time.monotonic() > deadline:
                fs.write(self._path, "cgroup.freeze", "0")
                raise Unavailable(f"timeout of {FREEZE_TIMEOUT:.0f}s reached waiting for {self._path} to freeze")
            time.sleep(0.01)

    def thaw(self) -> None:
        if fs.exists(self._path, "cgroup.freeze"):
            fs.write(self._path, "cgroup.freeze", "0")

    def frozen(self) -> bool:
        return (fs.read_optional(self._path, "cgroup.freeze") or "0").strip() == "1"

    # --- processes -----------------------------------------------------------------------------

    def pids(self) -> list[int]:
        return fs.all_procs(self._path)

    def kill_all(self, signum: int) -> None:
        """SIGKILL through cgroup.kill where the kernel has it (one write, no race with forks);
        any other signal, or an older kernel, goes through freeze/signal/thaw."""
        if signum == signals.SIGKILL and fs.exists(self._path, "cgroup.kill"):
            fs.write(self._path, "cgroup.kill", "1")
            return
        signal_all(self, signum, can_freeze=fs.exists(self._path, "cgroup.freeze"))

    def stats(self) -> dict[str, Any]:
        from dockyard.runtime.cgroups import stats  # only for `events`/`docker stats`, not on start

        return stats.v2(self._path)

    def oom_kill_count(self) -> int:
        return (fs.read_keyed(self._path, "memory.events") or {}).get("oom_kill", 0)

    # --- lifetime ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return os.path.isdir(self._path)

    def destroy(self) -> None:
        fs.remove_tree(self._path)

    def paths(self) -> dict[str, str]:
        return {"": self._path}

    def hierarchies(self) -> list[Hierarchy]:
        mount = paths.mount_for(self._path)
        if mount is None or mount.version != 2:
            return [Hierarchy("", self._root, "", "/" + posixpath.relpath(self._path, self._root))]
        return [Hierarchy("", mount.mountpoint, "", paths.container_path(self._path, mount))]

    @staticmethod
    def _read_list(directory: str, name: str) -> list[str]:
        text = fs.read_optional(directory, name)
        if text is None:
            raise SystemCallError(f"read {posixpath.join(directory, name)}", errno.ENOENT)
        return text.split()
