"""Usage figures in the shape of runc's `events --stats` "data" object (types/events.go).

    {"cpu": {"usage": {"total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user"},
             "throttling": {"periods", "throttledPeriods", "throttledTime"}},
     "memory": {"cache", "usage": {"limit", "usage", "max", "failcnt"}, "swap": {...},
                "kernel": {...}, "kernelTCP": {...}, "raw": {memory.stat}},
     "pids": {"current", "limit"},
     "blkio": {"ioServiceBytesRecursive": [{"major", "minor", "op", "value"}], ...},
     "hugetlb": {"2MB": {"usage", "max", "failcnt"}}}

Times are nanoseconds, sizes bytes. Every key is always present (runc omits zero values when
it encodes; the caller may do the same). An unlimited limit is 2**64-1 as in runc; a pids limit
of "max" is 0, as in runc.

Facts:
- v1 cpuacct.usage and cpuacct.usage_percpu are nanoseconds; cpuacct.stat is USER_HZ ticks;
  cpuacct.usage_all has per-cpu user and system nanoseconds. cpu.stat's throttled_time is ns.
- v2 cpu.stat is always there (usage_usec, user_usec, system_usec; nr_periods, nr_throttled,
  throttled_usec with the cpu controller); there is no per-cpu usage.
- v1 memory: usage_in_bytes, max_usage_in_bytes, failcnt, limit_in_bytes for memory, memsw,
  kmem, kmem.tcp (memsw only with swap accounting). v2: memory.current, memory.max,
  memory.peak (5.19+), memory.swap.current/max; memory.stat's "file" is runc's "cache".
- v2 io.stat lines: "8:0 rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..".
"""

from __future__ import annotations

import os

from dockyard.runtime.cgroups import fs, host

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any


def empty() -> dict[str, Any]:
    entry = {"limit": 0, "usage": 0, "max": 0, "failcnt": 0}
    return {
        "cpu": {
            "usage": {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [], "kernel": 0, "user": 0},
            "throttling": {"periods": 0, "throttledPeriods": 0, "throttledTime": 0},
        },
        "memory": {"cache": 0, "usage": dict(entry), "swap": dict(entry), "kernel": dict(entry),
                   "kernelTCP": dict(entry), "raw": {}},
        "pids": {"current": 0, "limit": 0},
        "blkio": {"ioServiceBytesRecursive": [], "ioServicedRecursive": [], "ioQueueRecursive": [],
                  "ioServiceTimeRecursive": [], "ioWaitTimeRecursive": [], "ioMergedRecursive": [],
                  "ioTimeRecursive": [], "sectorsRecursive": []},
        "hugetlb": {},
    }


def _numbers(text: str | None) -> list[int]:
    return [int(v) for v in (text or "").split()]


# --- cgroup v1 ---------------------------------------------------------------------------------

def _v1_cpu(out: dict[str, Any], cpuacct: str | None, cpu: str | None) -> None:
    usage = out["cpu"]["usage"]
    if cpuacct:
        usage["total"] = fs.read_uint_optional(cpuacct, "cpuacct.usage") or 0
        usage["percpu"] = _numbers(fs.read_optional(cpuacct, "cpuacct.usage_percpu"))
        table = fs.read_optional(cpuacct, "cpuacct.usage_all")
        if table:
            rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
            usage["percpu_user"] = [int(r[1]) for r in rows if len(r) == 3]
            usage["percpu_kernel"] = [int(r[2]) for r in rows if len(r) == 3]
        ticks = fs.read_keyed(cpuacct, "cpuacct.stat") or {}
        hz = os.sysconf("SC_CLK_TCK")
        usage["user"] = ticks.get("user", 0) * 1_000_000_000 // hz
        usage["kernel"] = ticks.get("system", 0) * 1_000_000_000 // hz
    if cpu:
        stat = fs.read_keyed(cpu, "cpu.stat") or {}
        out["cpu"]["throttling"] = {"periods": stat.get("nr_periods", 0),
                                    "throttledPeriods": stat.get("nr_throttled", 0),
                                    "throttledTime": stat.get("throttled_time", 0)}


def _v1_memory_entry(path: str, prefix: str) -> dict[str, int]:
    return {"limit": fs.read_uint_optional(path, f"{prefix}.limit_in_bytes") or 0,
            "usage": fs.read_uint_optional(path, f"{prefix}.usage_in_bytes") or 0,
            "max": fs.read_uint_optional(path, f"{prefix}.max_usage_in_bytes") or 0,
            "failcnt": fs.read_uint_optional(path, f"{prefix}.failcnt") or 0}


def _v1_memory(out: dict[str, Any], path: str) -> None:
    mem = out["memory"]
    raw = fs.read_keyed(path, "memory.stat") or {}
    mem["raw"] = raw
    mem["cache"] = raw.get("cache", 0)
    mem["usage"] = _v1_memory_entry(path, "memory")
    mem["swap"] = _v1_memory_entry(path, "memory.memsw")
    mem["kernel"] = _v1_memory_entry(path, "memory.kmem")
    mem["kernelTCP"] = _v1_memory_entry(path, "memory.kmem.tcp")


def _pids(out: dict[str, Any], path: str) -> None:
    current = fs.read_uint_optional(path, "pids.current")
    if current is None:
        # No pids controller (v2 without it delegated): count the processes, as runc does.
        out["pids"] = {"current": len(fs.procs(path)), "limit": 0}
        return
    limit = fs.read_uint_optional(path, "pids.max") or 0
    out["pids"] = {"current": current, "limit": 0 if limit == fs.UNLIMITED else limit}


def _blkio_entries(path: str, name: str) -> list[dict[str, Any]] | None:
    text = fs.read_optional(path, name)
    if text is None:
        return None
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        fields = line.replace(":", " ").split()
        if len(fields) == 2 and fields[0] == "Total":
            continue
        if len(fields) not in (3, 4):
            continue
        op, value = (fields[2], fields[3]) if len(fields) == 4 else ("", fields[2])
        entries.append({"major": int(fields[0]), "minor": int(fields[1]), "op": op, "value": int(value)})
    return entries


# runc's order: the first group whose first file has entries supplies the figures.
_BLKIO_GROUPS = (
    (("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive")),
    (("blkio.sectors_recursive", "sectorsRecursive"), ("blkio.io_service_time_recursive", "ioServiceTimeRecursive"),
     ("blkio.io_wait_time_recursive", "ioWaitTimeRecursive"), ("blkio.io_merged_recursive", "ioMergedRecursive"),
     ("blkio.io_queued_recursive", "ioQueueRecursive"), ("blkio.time_recursive", "ioTimeRecursive"),
     ("blkio.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.io_service_bytes_recursive", "ioServiceBytesRecursive")),
    (("blkio.throttle.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive")),
    (("blkio.throttle.io_serviced", "ioServicedRecursive"),
     ("blkio.throttle.io_service_bytes", "ioServiceBytesRecursive")),
)


def _v1_blkio(out: dict[str, Any], path: str) -> None:
    for group in _BLKIO_GROUPS:
        first = _blkio_entries(path, group[0][0])
        if not first:
            continue
        for name, key in group:
            out["blkio"][key] = _blkio_entries(path, name) or []
        return


def _v1_hugetlb(out: dict[str, Any], path: str) -> None:
    for size in host.hugepage_sizes():
        prefix = f"hugetlb.{size}"
        usage = fs.read_uint_optional(path, f"{prefix}.usage_in_bytes")
        if usage is None:
            continue
        out["hugetlb"][size] = {"usage": usage,
                                "max": fs.read_uint_optional(path, f"{prefix}.max_usage_in_bytes") or 0,
                                "failcnt": fs.read_uint_optional(path, f"{prefix}.failcnt") or 0}


def v1(paths: dict[str, str]) -> dict[str, Any]:
    out = empty()
    _v1_cpu(out, paths.get("cpuacct"), paths.get("cpu"))
    if "memory" in paths:
        _v1_memory(out, paths["memory"])
    if "pids" in paths:
        _pids(out, paths["pids"])
    if "blkio" in paths:
        _v1_blkio(out, paths["blkio"])
    if "hugetlb" in paths:
        _v1_hugetlb(out, paths["hugetlb"])
    elif "" in paths:
        v2_hugetlb(out, paths[""])  # hybrid: hugetlb lives on the unified hierarchy
    return out


# --- cgroup v2 ---------------------------------------------------------------------------------

def _v2_cpu(out: dict[str, Any], path: str) -> None:
    stat = fs.read_keyed(path, "cpu.stat") or {}
    out["cpu"]["usage"].update(total=stat.get("usage_usec", 0) * 1000, user=stat.get("user_usec", 0) * 1000,
                               kernel=stat.get("system_usec", 0) * 1000)
    out["cpu"]["throttling"] = {"periods": stat.get("nr_periods", 0), "throttledPeriods": stat.get("nr_throttled", 0),
                                "throttledTime": stat.get("throttled_usec", 0) * 1000}


def _v2_memory(out: dict[str, Any], path: str) -> None:
    raw = fs.read_keyed(path, "memory.stat")
    if raw is None:
        return  # no memory controller here
    mem = out["memory"]
    mem["raw"] = raw
    mem["cache"] = raw.get("file", 0)
    usage = {"limit": fs.read_uint_optional(path, "memory.max") or 0,
             "usage": fs.read_uint_optional(path, "memory.current") or 0,
             "max": fs.read_uint_optional(path, "memory.peak") or 0,
             "failcnt": 0}
    mem["usage"] = usage
    swap_only = fs.read_uint_optional(path, "memory.swap.current")
    if swap_only is not None:
        swap_limit = fs.read_uint_optional(path, "memory.swap.max") or 0
        # runc reports v1's memory+swap figures: add memory to swap unless either is unlimited.
        limit = fs.UNLIMITED if fs.UNLIMITED in (swap_limit, usage["limit"]) else swap_limit + usage["limit"]
        mem["swap"] = {"limit": limit, "usage": swap_only + usage["usage"], "max": 0, "failcnt": 0}


_IO_KEYS = {"rbytes": ("ioServiceBytesRecursive", "Read"), "wbytes": ("ioServiceBytesRecursive", "Write"),
            "rios": ("ioServicedRecursive", "Read"), "wios": ("ioServicedRecursive", "Write")}


def _v2_io(out: dict[str, Any], path: str) -> None:
    text = fs.read_optional(path, "io.stat")
    for line in (text or "").splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        major, minor = (int(v) for v in fields[0].split(":", 1))
        for item in fields[1:]:
            key, _, value = item.partition("=")
            if key in _IO_KEYS:
                table, op = _IO_KEYS[key]
                out["blkio"][table].append({"major": major, "minor": minor, "op": op, "value": int(value)})


def v2_hugetlb(out: dict[str, Any], path: str) -> None:
    for size in host.hugepage_sizes():
        prefix = f"hugetlb.{size}"
        usage = fs.read_uint_optional(path, f"{prefix}.rsvd.current")
        if usage is None:
            usage = fs.read_uint_optional(path, f"{prefix}.current")
        if usage is None:
            continue  # no hugetlb controller here
        events = fs.read_keyed(path, f"{prefix}.events") or {}
        out["hugetlb"][size] = {"usage": usage, "max": 0, "failcnt": events.get("max", 0)}


def v2(path: str) -> dict[str, Any]:
    out = empty()
    _v2_cpu(out, path)
    _v2_memory(out, path)
    _pids(out, path)
    _v2_io(out, path)
    v2_hugetlb(out, path)
    return out
