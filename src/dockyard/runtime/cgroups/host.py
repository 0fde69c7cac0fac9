"""Facts about the host the cgroup values are checked against: cpus, memory nodes, huge page sizes.

Facts:
- /sys/devices/system/cpu/online and /sys/devices/system/node/online are cpu lists ("0-1");
  a kernel without NUMA has no node directory, and node 0 is then the only one.
- /sys/kernel/mm/hugepages has one hugepages-<N>kB directory per supported huge page size;
  the hugetlb controller names its files after them (hugetlb.2MB.max).
"""

from __future__ import annotations

import os

from dockyard.runtime.cgroups import convert


def _read_list(path: str, fallback: str) -> set[int]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except OSError:
        text = fallback
    return convert.parse_cpu_list(text or fallback, path)


def online_cpus() -> set[int]:
    return _read_list("/sys/devices/system/cpu/online", "0")


def online_mems() -> set[int]:
    return _read_list("/sys/devices/system/node/online", "0")


def hugepage_sizes() -> list[str]:
    """The huge page sizes this kernel supports, as the hugetlb files name them ("2MB", "1GB")."""
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return []
    sizes = [convert.hugepage_dir_to_name(n) for n in names]
    return sorted((s for s in sizes if s), key=_size_bytes)


def _size_bytes(name: str) -> int:
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    return int(name[:-2]) * units.get(name[-2:], 1)
