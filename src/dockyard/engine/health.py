"""Docker's healthcheck state machine (moby's daemon/health.go).

`HealthMonitor(config, probe)` runs the container's check every `interval` after the container
starts: each probe gets `timeout` to finish (a timeout counts as a failure, exit code -1, output
`Health check exceeded timeout (30s)`); a failure during `start_period` does not count against the
retries; `retries` consecutive failures make the status `unhealthy`, one success `healthy`. The
record (`Health`: Status, FailingStreak, Log of the last 5 results, each output cut to 4096 bytes)
is what inspect shows under State.Health. `on_change(health)` is called after every probe whose
result changes the status (the engine publishes `health_status: <status>` and persists it).

The probe is the engine's: `probe(argv, timeout_s) -> ProbeResult` runs the command in the
container (exec) and is cancelled when the timeout passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.engine.config import Config, HealthConfig

__all__ = [
    "DEFAULT_INTERVAL_NS",
    "DEFAULT_RETRIES",
    "DEFAULT_START_PERIOD_NS",
    "DEFAULT_TIMEOUT_NS",
    "MAX_LOG_ENTRIES",
    "MAX_OUTPUT_LEN",
    "Health",
    "HealthLogEntry",
    "HealthMonitor",
    "Probe",
    "ProbeResult",
    "effective_healthcheck",
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


@dataclass
class HealthLogEntry:
    start_ns: int
    end_ns: int
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class Health:
    status: str = STARTING
    failing_streak: int = 0
    log: list[HealthLogEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Docker's `State.Health`: {"Status", "FailingStreak", "Log": [{"Start","End","ExitCode","Output"}]}."""
        raise NotImplementedError

    @classmethod
    def from_json(cls, j: Any) -> Health:
        raise NotImplementedError


def effective_healthcheck(config: Config) -> HealthConfig | None:
    """The check to run for a (merged) Config, or None: no Healthcheck, `Test` empty, or `["NONE"]`.
    Zero durations/retries take Docker's defaults (30s, 30s, 0s, 3)."""
    raise NotImplementedError


def probe_command(check: HealthConfig, shell: list[str] | None = None) -> list[str]:
    """The argv of a check: `["CMD", a, b]` -> `[a, b]`; `["CMD-SHELL", s]` -> shell + [s] with
    Docker's default shell `/bin/sh -c`."""
    raise NotImplementedError


class HealthMonitor:
    def __init__(self, check: HealthConfig, probe: Probe, *, shell: list[str] | None = None,
                 on_change: Callable[[Health], None] | None = None, health: Health | None = None,
                 started_ns: int | None = None) -> None:
        raise NotImplementedError

    @property
    def health(self) -> Health:
        raise NotImplementedError

    async def run(self) -> None:
        """Probe until cancelled (`stop()` or task cancellation when the container stops)."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError
