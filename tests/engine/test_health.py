"""The healthcheck state machine with real probes (processes run on the event loop), and Docker's own
transitions, timeout message and Health record for the same checks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.engine import health as H
from dockyard.engine.config import Config, HealthConfig
from dockyard.errors import SystemCallError
from tests.engine.conftest import RefDocker

T = TypeVar("T")
MS = 1_000_000


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _process_probe(argv: list[str], timeout: float) -> H.ProbeResult:
    """A real probe: the command runs as a process here (the engine runs it in the container)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await proc.communicate()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return H.ProbeResult(proc.returncode, out.decode())


def test_defaults_and_commands() -> None:
    assert H.effective_healthcheck(Config()) is None
    assert H.effective_healthcheck(Config(healthcheck=HealthConfig(test=["NONE"]))) is None
    assert H.effective_healthcheck(Config(healthcheck=HealthConfig(test=["BOGUS", "x"]))) is None
    check = H.effective_healthcheck(Config(healthcheck=HealthConfig(test=["CMD-SHELL", "true"], retries=0)))
    assert check == HealthConfig(test=["CMD-SHELL", "true"], interval=30_000 * MS, timeout=30_000 * MS, start_period=0,
                                 retries=3)
    assert H.probe_command(check) == ["/bin/sh", "-c", "true"]
    assert H.probe_command(check, ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "true"]
    assert H.probe_command(HealthConfig(test=["CMD", "cat", "/x"])) == ["cat", "/x"]
    assert [H.go_duration(n) for n in (30 * 10**9, 60 * 10**9, 1_500 * MS, 500 * MS, 7200 * 10**9, 1500, 0)] == [
        "30s", "1m0s", "1.5s", "500ms", "2h0m0s", "1.5µs", "0s"]
    assert H.limit_output("x" * 5000) == "x" * 4096 + "..."
    assert H.limit_output("short") == "short"


def test_transitions_with_a_real_probe(clean_tmp: Path) -> None:
    """healthy while the file is there, failures counted to `retries`, unhealthy, healthy again; the log
    keeps the last five results."""
    flag = clean_tmp / "ok"
    flag.touch()
    check = HealthConfig(test=["CMD-SHELL", f"cat {flag} && echo fine"], interval=50 * MS, timeout=2000 * MS, retries=2)
    seen: list[tuple[str, int]] = []

    async def scenario() -> H.Health:
        monitor = H.HealthMonitor(check, _process_probe, on_change=lambda h: seen.append((h.status, h.failing_streak)))
        task = asyncio.create_task(monitor.run())
        async def until(cond: Any) -> None:
            while not cond(monitor.health):
                await asyncio.sleep(0.01)
        await until(lambda h: h.status == "healthy")
        flag.unlink()
        await until(lambda h: h.status == "unhealthy")
        flag.touch()
        await until(lambda h: h.status == "healthy")
        while len(seen) < 7:  # more results than the log keeps
            await asyncio.sleep(0.01)
        monitor.stop()
        await task
        return monitor.health

    final = _run(scenario())
    statuses = [s for s, _ in seen]
    first_unhealthy = statuses.index("unhealthy")
    assert statuses[0] == "healthy" and ("healthy", 1) in seen and seen[first_unhealthy] == ("unhealthy", 2)
    assert final.status == "healthy" and final.failing_streak == 0 and len(final.log) == 5
    last = final.log[-1]
    assert last.exit_code == 0 and last.output == "fine\n" and last.end_ns >= last.start_ns
    failed = [e for e in final.log if e.exit_code != 0]
    assert failed and "No such file or directory" in failed[0].output


def test_timeout_start_period_and_errors() -> None:
    check = HealthConfig(test=["CMD", "sleep", "5"], interval=20 * MS, timeout=100 * MS, retries=2,
                         start_period=400 * MS)

    async def scenario() -> tuple[list[H.Health], float]:
        seen: list[H.Health] = []
        monitor = H.HealthMonitor(check, _process_probe, on_change=seen.append)
        task = asyncio.create_task(monitor.run())
        started = time.monotonic()
        while monitor.health.status != "unhealthy":
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
        monitor.stop()
        await task
        return seen, took

    seen, took = _run(scenario())
    # failures inside the start period do not count: the streak starts once it is over
    assert took >= 0.4
    early = [h for h in seen if h.log[-1].start_ns - seen[0].log[0].start_ns < 250 * MS]
    assert early and all(h.failing_streak == 0 and h.status == "starting" for h in early)
    assert seen[-1].failing_streak == 2
    assert seen[-1].log[-1].exit_code == -1
    assert seen[-1].log[-1].output == "Health check exceeded timeout (100ms)"

    async def broken(argv: list[str], timeout: float) -> H.ProbeResult:
        raise SystemCallError("exec: no such container", 0)

    async def errors() -> H.Health:
        monitor = H.HealthMonitor(HealthConfig(test=["CMD", "x"], interval=10 * MS, retries=1), broken)
        task = asyncio.create_task(monitor.run())
        while monitor.health.status != "unhealthy":
            await asyncio.sleep(0.01)
        monitor.stop()
        await task
        return monitor.health

    h = _run(errors())
    assert h.log[-1].exit_code == -1 and h.log[-1].output == "exec: no such container"


def test_stop_cancels_a_probe_in_flight_and_restart_keeps_the_log() -> None:
    cancelled: list[bool] = []

    async def slow(argv: list[str], timeout: float) -> H.ProbeResult:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return H.ProbeResult(0, "")

    async def scenario() -> float:
        monitor = H.HealthMonitor(HealthConfig(test=["CMD", "x"], interval=10 * MS, timeout=60_000 * MS), slow)
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        monitor.stop()
        await task
        return time.monotonic() - started

    assert _run(scenario()) < 1 and cancelled == [True]
    previous = H.Health(status="unhealthy", failing_streak=4, log=[H.HealthLogEntry(1, 2, 1, "no")])
    again = H.HealthMonitor(HealthConfig(test=["CMD", "x"]), slow, health=previous)
    assert again.health.status == "starting" and again.health.failing_streak == 0 and again.health.log == previous.log
    assert H.Health.from_json(json.loads(json.dumps(previous.to_json()))) == previous


@pytest.mark.docker
def test_same_as_docker(ref_docker: RefDocker) -> None:
    """Docker's transitions and record for a check that times out, then passes, then fails: ours, fed
    Docker's own probe results, goes through the same statuses and streaks; the timeout text is
    Docker's."""
    name = "health-ref"
    run = ref_docker.docker("run", "-d", "--name", name, "--health-cmd", "test -f /ok || (sleep 3; exit 1)",
                            "--health-interval", "1s", "--health-timeout", "1s", "--health-retries", "2",
                            "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr.decode()
    try:
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 40
        phase = 0
        while time.monotonic() < deadline:
            state = ref_docker.inspect(name)["State"]
            h = state["Health"]
            if not records or h != records[-1]:
                records.append(h)
            if phase == 0 and h["Status"] == "unhealthy":
                ref_docker.docker("exec", name, "touch", "/ok")
                phase = 1
            elif phase == 1 and h["Status"] == "healthy":
                ref_docker.docker("exec", name, "rm", "/ok")
                phase = 2
            elif phase == 2 and h["Status"] == "unhealthy":
                break
            time.sleep(0.2)
        assert phase == 2 and records[-1]["Status"] == "unhealthy", records[-1]
        started = state["StartedAt"]
    finally:
        ref_docker.docker("rm", "-f", name)
    timeouts = [e for r in records for e in r["Log"] if e["ExitCode"] == -1]
    assert timeouts and timeouts[0]["Output"] == "Health check exceeded timeout (1s)"
    # replay Docker's probe results through ours: the same statuses and streaks after each
    final = records[-1]
    results = {}
    for r in records:
        for e in r["Log"]:
            results[e["Start"]] = e
    ordered = sorted(results.values(), key=lambda e: H.HealthLogEntry.from_json(e).start_ns)
    from dockyard.engine.logs import parse_time

    monitor = H.HealthMonitor(HealthConfig(test=["CMD", "x"], interval=10**9, timeout=10**9, retries=2),
                              _process_probe, started_ns=parse_time(started))
    for e in ordered:
        entry = H.HealthLogEntry.from_json(e)
        ours = monitor.record(entry.start_ns, entry.end_ns, entry.exit_code, e["Output"])
    assert ours.status == final["Status"] and ours.failing_streak == final["FailingStreak"]
    assert ours.to_json()["Log"] == final["Log"]
