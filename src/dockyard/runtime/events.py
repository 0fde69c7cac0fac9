"""`events`: resource usage as runc prints it, once (`--stats`) or every interval, plus OOM events."""

from __future__ import annotations

import json
import sys
import time

from dockyard.errors import Conflict
from dockyard.runtime.units import parse_duration

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path

if TYPE_CHECKING:
    from dockyard.runtime.container import Runtime


def stream_events(runtime: Runtime, container_id: str, *, once: bool, interval: str) -> int:
    if once:
        print(json.dumps(runtime.stats(container_id)))
        return 0
    period = parse_duration(interval)
    if period <= 0:
        raise Conflict("duration interval must be greater than 0")
    from dockyard.runtime import cgroups

    manager = cgroups.load_manager(runtime.load(container_id).cgroup_paths)
    ooms = manager.oom_kill_count()
    next_stats = time.monotonic()
    while True:
        try:
            if time.monotonic() >= next_stats:
                _emit(runtime.stats(container_id))
                next_stats += period
            count = manager.oom_kill_count()
            if count > ooms:
                ooms = count
                _emit({"type": "oom", "id": container_id})
        except Conflict:
            return 0  # the container has stopped: the stream ends, as runc's does
        time.sleep(min(0.2, period))


def _emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()
