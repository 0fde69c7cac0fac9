"""Checks on a Resources record, run before any directory is made or file written.

`check` needs nothing but the record; `check_host` compares it with what this host has (cpus,
memory nodes, huge page sizes).

Ranges are the OCI runtime-spec's and the kernel's (where the kernel would refuse the write with
EINVAL anyway, refusing it here means nothing is half-applied). Messages follow runc's and
Docker's wording where they have one.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime.cgroups import convert, devices, host

# Patterns for re.fullmatch, imported only when a spec has hugepage limits or unified keys.
_PAGE_SIZE = r"\d+(KB|MB|GB)"
_UNIFIED_KEY = r"[a-z_0-9]+\.[A-Za-z_0-9.]+"


def _at_least(value: int | None, low: int, what: str) -> None:
    if value is not None and value < low:
        raise InvalidArgument(f"invalid {what} {value}: must be {low} or more")


def _weight(value: int | None, what: str) -> None:
    # 0 means unset, as in runc.
    if value is not None and value != 0 and not 10 <= value <= 1000:
        raise InvalidArgument(f"invalid {what} {value}: the range is 10 to 1000")


def check(resources: Resources, version: int) -> None:
    """Raise InvalidArgument for any value that no cgroup of `version` (1 or 2) would take."""
    mem = resources.memory
    if mem is not None:
        for name, value in (("memory limit", mem.limit), ("memory reservation", mem.reservation),
                            ("memory+swap limit", mem.swap), ("kernel memory limit", mem.kernel),
                            ("kernel TCP memory limit", mem.kernel_tcp)):
            _at_least(value, -1, name)
        if mem.swappiness is not None and mem.swappiness != -1 and not 0 <= mem.swappiness <= 100:
            raise InvalidArgument(f"invalid memory swappiness value: {mem.swappiness} (valid range is 0-100)")
        limit, swap = mem.limit or 0, mem.swap or 0
        if limit > 0 and swap > 0 and swap < limit:
            raise InvalidArgument(f"memory+swap limit ({swap}) should be >= memory limit ({limit})")
        if version == 2:
            convert.swap_to_v2(mem.swap, mem.limit)  # its own errors (swap without a limit)

    cpu = resources.cpu
    if cpu is not None:
        if cpu.shares is not None and cpu.shares < 0:
            raise InvalidArgument(f"invalid cpu shares {cpu.shares}: must not be negative")
        if version == 1 and cpu.shares:
            # The kernel clamps out-of-range shares silently; runc reads them back and refuses.
            if cpu.shares < 2:
                raise InvalidArgument("the minimum allowed cpu-shares is 2")
            if cpu.shares > 262144:
                raise InvalidArgument("the maximum allowed cpu-shares is 262144")
        if cpu.period and not 1000 <= cpu.period <= 1_000_000:
            raise InvalidArgument(
                f"invalid cpu period {cpu.period}: CPU cfs period can not be less than 1ms (i.e. 1000) "
                "or larger than 1s (i.e. 1000000)")
        if cpu.quota is not None and 0 < cpu.quota < 1000:
            raise InvalidArgument(f"invalid cpu quota {cpu.quota}: CPU cfs quota can not be less than 1ms (i.e. 1000)")
        _at_least(cpu.burst, 0, "cpu burst")
        _at_least(cpu.realtime_period, 0, "cpu realtime period")
        _at_least(cpu.realtime_runtime, -1, "cpu realtime runtime")
        if cpu.idle is not None and cpu.idle not in (0, 1):
            raise InvalidArgument(f"invalid cpu idle {cpu.idle}: must be 0 or 1")
        if cpu.cpus:
            convert.parse_cpu_list(cpu.cpus, "cpuset.cpus")
        if cpu.mems:
            convert.parse_cpu_list(cpu.mems, "cpuset.mems")

    blk = resources.block_io
    if blk is not None:
        _weight(blk.weight, "blkio weight")
        _weight(blk.leaf_weight, "blkio leaf weight")
        for wd in blk.weight_device:
            _at_least(wd.major, 0, "device major")
            _at_least(wd.minor, 0, "device minor")
            _weight(wd.weight, f"blkio weight for device {wd.major}:{wd.minor}")
            _weight(wd.leaf_weight, f"blkio leaf weight for device {wd.major}:{wd.minor}")
        for what, throttles in (("read bps", blk.throttle_read_bps), ("write bps", blk.throttle_write_bps),
                                ("read iops", blk.throttle_read_iops), ("write iops", blk.throttle_write_iops)):
            for td in throttles:
                _at_least(td.major, 0, "device major")
                _at_least(td.minor, 0, "device minor")
                _at_least(td.rate, 0, f"{what} rate for device {td.major}:{td.minor}")

    for hp in resources.hugepage_limits:
        import re

        if not re.fullmatch(_PAGE_SIZE, hp.page_size):
            raise InvalidArgument(f"invalid hugepage size {hp.page_size!r}: expected a size such as 2MB or 1GB")
        _at_least(hp.limit, 0, f"hugepage limit for {hp.page_size}")

    net = resources.network
    if net is not None:
        if net.class_id is not None and not 0 <= net.class_id <= 0xFFFFFFFF:
            raise InvalidArgument(f"invalid network classID {net.class_id}: must fit 32 bits")
        for prio in net.priorities:
            if not prio.name or any(c.isspace() for c in prio.name) or "/" in prio.name:
                raise InvalidArgument(f"invalid interface name {prio.name!r} in network priorities")
            _at_least(prio.priority, 0, f"network priority for {prio.name}")

    devices.target(resources.devices)  # malformed or unsupported device rules

    if resources.unified:
        if version != 2:
            raise InvalidArgument("unified resources require cgroup v2")
        for key in resources.unified:
            import re

            if "/" in key or not re.fullmatch(_UNIFIED_KEY, key):
                raise InvalidArgument(f"unified resource {key!r} must be a file name of the form CONTROLLER.PARAMETER")


def check_host(resources: Resources) -> None:
    """Refuse cpus, memory nodes and huge page sizes this host does not have."""
    cpu = resources.cpu
    if cpu is not None:
        for what, text, online in (("cpuset.cpus", cpu.cpus, host.online_cpus),
                                   ("cpuset.mems", cpu.mems, host.online_mems)):
            if not text:
                continue
            available = online()
            extra = convert.parse_cpu_list(text, what) - available
            if extra:
                raise InvalidArgument(f"invalid {what} {text!r}: {convert.format_cpu_list(extra)} not available "
                                      f"(this host has {convert.format_cpu_list(available)})")
    if resources.hugepage_limits:
        sizes = host.hugepage_sizes()
        for hp in resources.hugepage_limits:
            if hp.page_size not in sizes:
                raise InvalidArgument(f"invalid hugepage size {hp.page_size!r}: this host supports "
                                      f"{', '.join(sizes) or 'no huge pages'}")
