"""Docker's healthcheck state machine (moby's daemon/health.go), on asyncio.

`HealthMonitor(check, probe)` runs the container's check every `interval`, the first one `interval`
after the monitor starts (the container's start). Each probe gets `timeout` to finish; a timeout is a
failure with exit code -1 and the output `Health check exceeded timeout (30s)`, a probe that raises
is a failure with its message. Then, as `handleProbeResult`:

- exit code 0: FailingStreak 0, status `healthy`;
- anything else: while the status is still `starting` and the probe started within `start_period`
  of the container's start, nothing counts; otherwise FailingStreak + 1, and at `retries` the status
  becomes `unhealthy` (a healthy container stays healthy until then).

The `Health` record is what inspect shows under State.Health (Status, FailingStreak, the last 5
results, each output cut to 4096 bytes with "..." as Docker's limitedBuffer does).
`on_change(health)` is called after every probe (the engine stores the record and publishes
`health_status: <status>` when the status changed). A monitor started with the previous `health`
keeps its log and starts over as `starting` (Docker's initHealthMonitor on restart).

The probe is the engine's: `probe(argv, timeout_s) -> ProbeResult` runs the command in the container
(Docker runs it as an exec with the container's user and environment); it is cancelled when the
timeout passes or the monitor stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dockyard.engine.config import Config, HealthConfig
from dockyard.errors import DockyardError

__all__ = [
    "DEFAULT_INTERVAL_NS",
    "DEFAULT_RETRIES",
    "DEFAULT_START_PERIOD_NS",
    "DEFAULT_TIMEOUT_NS",
    "HEALTHY",
    "MAX_LOG_ENTRIES",
    "MAX_OUTPUT_LEN",
    "NO_HEALTHCHECK",
    "STARTING",
    "UNHEALTHY",
    "Health",
    "HealthLogEntry",
    "HealthMonitor",
    "Probe",
    "ProbeResult",
    "effective_healthcheck",
    "go_duration",
    "limit_output",
    "probe_command",
]

DEFAULT_INTERVAL_NS = 30 * 1_000_000_000
DEFAULT_TIMEOUT_NS = 30 * 1_000_000_000
DEFAULT_START_PERIOD_NS = 0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096

STARTING = "starting"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
NO_HEALTHCHECK = "none"


@dataclass(frozen=True)
class ProbeResult:
    exit_code: int
    output: str


Probe = Callable[[list[str], float], Awaitable[ProbeResult]]


def _rfc3339nano(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def _parse_time(text: str) -> int:
    from dockyard.engine.logs import parse_time

    return parse_time(text)


@dataclass
class HealthLogEntry:
    start_ns: int
    end_ns: int
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"Start": _rfc3339nano(self.start_ns), "End": _rfc3339nano(self.end_ns), "ExitCode": self.exit_code,
                "Output": self.output}

    @classmethod
    def from_json(cls, j: Any) -> HealthLogEntry:
        return cls(_parse_time(j["Start"]), _parse_time(j["End"]), int(j["ExitCode"]), str(j.get("Output", "")))


@dataclass
class Health:
    status: str = STARTING
    failing_streak: int = 0
    log: list[HealthLogEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Docker's `State.Health`: {"Status", "FailingStreak", "Log": [{"Start","End","ExitCode","Output"}]}."""
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": [e.to_json() for e in self.log]}

    @classmethod
    def from_json(cls, j: Any) -> Health:
        return cls(status=str(j.get("Status", STARTING)), failing_streak=int(j.get("FailingStreak", 0)),
                   log=[HealthLogEntry.from_json(e) for e in j.get("Log") or []])


def effective_healthcheck(config: Config) -> HealthConfig | None:
    """The check to run for a (merged) Config, or None: no Healthcheck, `Test` empty, `["NONE"]`, or a
    test type other than CMD / CMD-SHELL (Docker warns and runs nothing). Zero durations/retries take
    Docker's defaults (30s interval, 30s timeout, 0s start period, 3 retries)."""
    check = config.healthcheck
    if check is None or not check.test or check.test[0] not in ("CMD", "CMD-SHELL"):
        return None
    return HealthConfig(
        test=list(check.test),
        interval=check.interval or DEFAULT_INTERVAL_NS,
        timeout=check.timeout or DEFAULT_TIMEOUT_NS,
        start_period=check.start_period or DEFAULT_START_PERIOD_NS,
        retries=check.retries if check.retries > 0 else DEFAULT_RETRIES,
    )


def probe_command(check: HealthConfig, shell: list[str] | None = None) -> list[str]:
    """The argv of a check: `["CMD", a, b]` -> `[a, b]`; `["CMD-SHELL", s]` -> shell + [s], with
    Docker's default shell `/bin/sh -c` (Config.Shell when the image set one)."""
    test = list(check.test or [])
    if not test:
        return []
    if test[0] == "CMD-SHELL":
        return [*(shell or ["/bin/sh", "-c"]), *test[1:]]
    return test[1:]


def go_duration(ns: int) -> str:
    """Go's `time.Duration.String()`: `30s`, `1m0s`, `1.5s`, `500ms`, `2h0m0s`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                whole, frac = divmod(ns, size)
                text = str(whole)
                if frac:
                    text += "." + f"{frac:0{len(str(size)) - 1}d}".rstrip("0")
                return sign + text + unit
    seconds, frac = divmod(ns, 1_000_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = str(secs) + ("." + f"{frac:09d}".rstrip("0") if frac else "") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}"
    if minutes:
        return f"{sign}{minutes}m{sec_text}"
    return sign + sec_text


def limit_output(output: str) -> str:
    """Docker's limitedBuffer: the first 4096 bytes, "..." appended when there was more."""
    data = output.encode("utf-8", "surrogateescape")
    if len(data) <= MAX_OUTPUT_LEN:
        return output
    return data[:MAX_OUTPUT_LEN].decode("utf-8", "replace") + "..."


class HealthMonitor:
    def __init__(self, check: HealthConfig, probe: Probe, *, shell: list[str] | None = None,
                 on_change: Callable[[Health], None] | None = None, health: Health | None = None,
                 started_ns: int | None = None, clock: Callable[[], int] | None = None) -> None:
        self.check = check
        self._probe = probe
        self._argv = probe_command(check, shell)
        self._on_change = on_change
        self._clock = clock or time.time_ns
        self._started_ns = self._clock() if started_ns is None else started_ns
        previous = health if health is not None else Health()
        self._health = Health(status=STARTING, failing_streak=0, log=list(previous.log))
        self._stopped: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False

    @property
    def health(self) -> Health:
        return self._health

    def _interval(self) -> float:
        return (self.check.interval or DEFAULT_INTERVAL_NS) / 1e9

    def _timeout_ns(self) -> int:
        return self.check.timeout or DEFAULT_TIMEOUT_NS

    async def run(self) -> None:
        """Probe until `stop()` or cancellation (when the container stops or is paused)."""
        self._loop = asyncio.get_running_loop()
        self._stopped = stopped = asyncio.Event()
        if self._stop_requested:
            stopped.set()
        while not stopped.is_set():
            try:
                await asyncio.wait_for(stopped.wait(), self._interval())
                return
            except TimeoutError:
                pass
            result = await self._probe_once()
            if result is None:
                return
            self.record(*result)

    async def _probe_once(self) -> tuple[int, int, int, str] | None:
        start = self._clock()
        timeout_ns = self._timeout_ns()
        assert self._stopped is not None
        probe = asyncio.ensure_future(self._probe(list(self._argv), timeout_ns / 1e9))
        stop_wait = asyncio.ensure_future(self._stopped.wait())
        try:
            done, _ = await asyncio.wait({probe, stop_wait}, timeout=timeout_ns / 1e9,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
        if stop_wait in done and probe not in done:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            return None
        if probe not in done:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            return start, self._clock(), -1, f"Health check exceeded timeout ({go_duration(timeout_ns)})"
        try:
            outcome = probe.result()
        except (DockyardError, OSError) as err:  # a probe that could not run is a failed check, as in Docker
            return start, self._clock(), -1, str(err)
        return start, self._clock(), outcome.exit_code, limit_output(outcome.output)

    def record(self, start_ns: int, end_ns: int, exit_code: int, output: str) -> Health:
        """Apply one probe result (Docker's handleProbeResult); returns the new record."""
        h = self._health
        log = [*h.log, HealthLogEntry(start_ns, end_ns, exit_code, output)][-MAX_LOG_ENTRIES:]
        status, streak = h.status, h.failing_streak
        if exit_code == 0:
            status, streak = HEALTHY, 0
        else:
            counts = True
            if status == STARTING:
                start_period = self.check.start_period or DEFAULT_START_PERIOD_NS
                if start_ns - self._started_ns < start_period:
                    counts = False
            if counts:
                streak += 1
                retries = self.check.retries if self.check.retries > 0 else DEFAULT_RETRIES
                if streak >= retries:
                    status = UNHEALTHY
        self._health = replace(h, status=status, failing_streak=streak, log=log)
        if self._on_change is not None:
            self._on_change(self._health)
        return self._health

    def stop(self) -> None:
        """Stop; a probe in flight is cancelled. Safe from any thread."""
        self._stop_requested = True
        loop, stopped = self._loop, self._stopped
        if loop is None or stopped is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            stopped.set()
        else:
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:  # the loop is closed: nothing is running
                pass
