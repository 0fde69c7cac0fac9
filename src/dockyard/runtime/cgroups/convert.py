"""Pure conversions from the OCI (cgroup v1 shaped) resource values to what the kernel files take.

No I/O here: every function is a value in, a value (or InvalidArgument) out, so each is tested
on its own. The formulas are runc's (opencontainers/cgroups utils.go, fs2/*.go) so that a
container gets the same kernel values from dockyard as from runc.
"""

from __future__ import annotations

import math

from dockyard.errors import InvalidArgument

DEFAULT_CPU_PERIOD = 100_000  # µs; what cpu.max gets when only a quota is given


def cpu_shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] to cpu.weight [1, 10000], runc's quadratic fit.

    The curve passes through the three points that matter: min (2 -> 1), default
    (1024 -> 100) and max (262144 -> 10000); 0 means unset and stays 0.
    """
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    log = math.log2(shares)
    exponent = (log * log + 125 * log) / 612.0 - 7.0 / 34.0
    return math.ceil(10**exponent)


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """The cpu.max line ("$QUOTA $PERIOD"); None when neither is set.

    A quota of 0 is unset and a negative quota is unlimited, both written "max" when a period
    is given, as runc does; a missing period is the kernel's default, 100000 µs.
    """
    q, p = quota or 0, period or 0
    if q == 0 and p == 0:
        return None
    return f"{q if q > 0 else 'max'} {p or DEFAULT_CPU_PERIOD}"


def memory_value(value: int | None) -> str | None:
    """A v2 memory file value: None/0 is unset, -1 is "max"."""
    if value is None or value == 0:
        return None
    if value == -1:
        return "max"
    return str(value)


def swap_to_v2(swap: int | None, limit: int | None) -> int | None:
    """The OCI memory+swap total to memory.swap.max (swap alone), runc's rules.

    None/0 is unset, -1 is unlimited; otherwise swap.max = total - limit, which needs a limit.
    """
    s, m = swap or 0, limit or 0
    if m == -1 and s == 0:
        # As v1 does: unlimited memory with swap unset means swap unlimited too.
        return -1
    if s in (-1, 0):
        return None if s == 0 else -1
    if m == -1:
        return s
    if m == 0:
        raise InvalidArgument("unable to set swap limit without memory limit")
    if m < 0:
        raise InvalidArgument(f"invalid memory value: {m}")
    if s < m:
        raise InvalidArgument(f"memory+swap limit ({s}) should be >= memory limit ({m})")
    return s - m


def swap_max_value(swap: int | None, limit: int | None) -> str | None:
    """What memory.swap.max gets, or None to leave it: swap == limit writes "0" (no swap)."""
    value = swap_to_v2(swap, limit)
    if value is None:
        return None
    return "max" if value == -1 else str(value)


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] to io.weight [1, 10000], linearly (runc); 0 stays unset."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def pids_max(limit: int) -> str:
    """pids.max: a positive limit as is; 0 or negative is no limit ("max")."""
    return str(limit) if limit > 0 else "max"


# Page sizes as the kernel names hugetlb files: hugetlb.2MB.*, hugetlb.1GB.*, hugetlb.64KB.*.
_SIZE_UNITS = (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10))


def hugepage_size_name(size_bytes: int) -> str:
    """2097152 -> "2MB": the largest unit that divides the size, as the kernel names it."""
    for unit, factor in _SIZE_UNITS:
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor}{unit}"
    return f"{size_bytes}B"


def hugepage_dir_to_name(dirname: str) -> str | None:
    """/sys/kernel/mm/hugepages/hugepages-2048kB -> "2MB"."""
    import re  # off the start path: re (and enum with it) costs ~3 ms to import

    m = re.fullmatch(r"hugepages-(\d+)kB", dirname)
    return hugepage_size_name(int(m.group(1)) * 1024) if m else None


_RANGE = r"(\d+)(?:-(\d+)(?::(\d+)/(\d+))?)?"


def parse_cpu_list(text: str, what: str = "cpus") -> set[int]:
    """A kernel cpu/node list ("0-3,8,10-15:2/4") as a set; malformed text is InvalidArgument."""
    import re  # only for containers that pin cpus or memory nodes

    if text.strip() == "":
        raise InvalidArgument(f"invalid {what} value {text!r}: empty")
    found: set[int] = set()
    for part in text.strip().split(","):
        m = re.fullmatch(_RANGE, part.strip())
        if not m:
            raise InvalidArgument(f"invalid {what} value {text!r}: {part!r} is not N or N-M")
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        if end < start:
            raise InvalidArgument(f"invalid {what} value {text!r}: range {part!r} runs backwards")
        if m.group(3) is not None:
            used, group = int(m.group(3)), int(m.group(4))
            if group == 0 or used == 0 or used > group:
                raise InvalidArgument(f"invalid {what} value {text!r}: bad group {part!r}")
            found.update(n for n in range(start, end + 1) if (n - start) % group < used)
        else:
            found.update(range(start, end + 1))
    return found


def format_cpu_list(values: set[int]) -> str:
    """{0, 1, 2, 5} -> "0-2,5"."""
    out: list[str] = []
    ordered = sorted(values)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def device_line(major: int, minor: int, value: int | str) -> str:
    """"major:minor value", the entry format of blkio.*_device and io.bfq.weight."""
    return f"{major}:{minor} {value}"


def io_max_line(major: int, minor: int, key: str, rate: int) -> str:
    """An io.max entry: "8:0 rbps=1048576"; a rate of 0 removes the limit ("max")."""
    return f"{major}:{minor} {key}={rate if rate > 0 else 'max'}"
