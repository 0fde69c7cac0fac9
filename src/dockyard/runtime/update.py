"""The resources `update` applies: `--resources file|-` (what dockerd sends on stdin) or flags."""

from __future__ import annotations

import json
import sys

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.runtime_spec import CPU, BlockIO, Memory, Resources
from dockyard.runtime.units import parse_size

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any


def resources_from_flags(flags: dict[str, Any]) -> Resources:
    source = flags.get("resources")
    if source:
        return _read_resources(source)
    memory = Memory()
    cpu = CPU()
    resources = Resources()
    for flag, attr in (("memory", "limit"), ("memory-swap", "swap"), ("memory-reservation", "reservation"),
                       ("kernel-memory", "kernel"), ("kernel-memory-tcp", "kernel_tcp")):
        if flags.get(flag):
            setattr(memory, attr, parse_size(flags[flag]))
            resources.memory = memory
    for flag, attr in (("cpu-shares", "shares"), ("cpu-quota", "quota"), ("cpu-period", "period"),
                       ("cpu-rt-runtime", "realtime_runtime"), ("cpu-rt-period", "realtime_period")):
        if flags.get(flag):
            setattr(cpu, attr, _number(flags[flag], flag))
            resources.cpu = cpu
    for flag, attr in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if flags.get(flag):
            setattr(cpu, attr, flags[flag])
            resources.cpu = cpu
    if flags.get("pids-limit"):
        resources.pids_limit = _number(flags["pids-limit"], "pids-limit")
    if flags.get("blkio-weight"):
        resources.block_io = BlockIO(weight=_number(flags["blkio-weight"], "blkio-weight"))
    return resources


def _number(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f'invalid value "{text}" for flag --{flag}') from None


def _read_resources(source: str) -> Resources:
    try:
        if source == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as f:
                raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"open {source}: no such file or directory") from None
    try:
        doc = json.loads(raw)
    except ValueError as err:
        raise InvalidArgument(f"decoding resources: {err}") from None
    return Resources.from_json(doc)
