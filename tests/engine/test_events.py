"""The event bus: Docker's wire form and filters checked against the reference dockerd's own events,
and the subscription's behaviour (past then live, until, threads, slow readers) on a real loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from dockyard.engine.events import Event, EventBus, EventFilters
from dockyard.errors import InvalidArgument
from tests.engine.conftest import RefDocker

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run with a deadline: a hang is a failure, not a stuck suite."""
    return asyncio.run(asyncio.wait_for(coro, 30))


def _docker_events(ref: RefDocker, since: float, until: float, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    args = ["events", "--since", f"{since:.9f}", "--until", f"{until:.9f}", "--format", "{{json .}}"]
    for key, values in (filters or {}).items():
        for v in values:
            args += ["--filter", f"{key}={v}"]
    out = ref.docker(*args)
    assert out.returncode == 0, out.stderr.decode()
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


FILTERS: list[dict[str, list[str]]] = [
    {"type": ["container"]},
    {"type": ["volume"]},
    {"type": ["image"]},
    {"event": ["start"]},
    {"event": ["die", "destroy"]},
    {"event": ["health_status"]},
    {"event": ["exec_start"]},
    {"container": ["ev-one"]},
    {"container": ["ev-"]},
    {"label": ["tier=web"]},
    {"label": ["tier"]},
    {"label": ["tier=db"], "event": ["start"]},
    {"image": ["busybox"]},
    {"image": ["evtag:1"]},
    {"image": ["evtag"]},
    {"volume": ["ev-vol"]},
    {"type": ["container"], "container": ["ev-two"], "event": ["create", "start"]},
    {"scope": ["local"], "type": ["volume", "image"]},
]


@pytest.fixture(scope="module")
def docker_events(ref_docker: RefDocker) -> list[dict[str, Any]]:
    since = time.time() - 1
    steps = [
        ["run", "--name", "ev-one", "-l", "tier=web", "busybox", "true"],
        ["create", "--name", "ev-two", "-l", "tier=db", "--health-cmd", "true", "--health-interval", "1s", "busybox",
         "sleep", "30"],
        ["start", "ev-two"],
        ["exec", "ev-two", "true"],
        ["volume", "create", "ev-vol"],
        ["tag", "busybox", "evtag:1"],
        ["rmi", "evtag:1"],
        ["rename", "ev-one", "ev-uno"],
        ["kill", "ev-two"],
        ["rm", "ev-uno", "ev-two"],
        ["volume", "rm", "ev-vol"],
    ]
    try:
        for step in steps:
            done = ref_docker.docker(*step)
            assert done.returncode == 0, (step, done.stderr.decode())
            if step[0] == "start":
                time.sleep(2.5)  # a healthcheck or two
        time.sleep(0.5)
        until = time.time()
        events = _docker_events(ref_docker, since, until)
    finally:
        ref_docker.docker("rm", "-f", "ev-one", "ev-uno", "ev-two")
        ref_docker.docker("volume", "rm", "-f", "ev-vol")
    assert {e["Action"] for e in events} >= {"create", "start", "die", "destroy", "exec_start: true ", "tag", "untag",
                                             "rename", "kill"}
    events_by_time = sorted(events, key=lambda e: e["timeNano"])
    for e in events_by_time:
        e["_since"], e["_until"] = since, until
    return events_by_time


@pytest.mark.docker
def test_wire_form_round_trips(docker_events: list[dict[str, Any]]) -> None:
    for raw in docker_events:
        doc = {k: v for k, v in raw.items() if not k.startswith("_")}
        assert Event.from_json(doc).to_json() == doc


@pytest.mark.docker
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: urllib.parse.quote(json.dumps(f, separators=(",", ":"))))
def test_filters_like_docker(ref_docker: RefDocker, docker_events: list[dict[str, Any]], filters: dict[str, list[str]]) -> None:
    since, until = docker_events[0]["_since"], docker_events[0]["_until"]
    theirs = [{k: v for k, v in e.items() if not k.startswith("_")} for e in _docker_events(ref_docker, since, until, filters)]
    bus = EventBus(capacity=10_000)
    for raw in docker_events:
        e = Event.from_json(raw)
        bus.publish(e.type, e.action, e.actor.id, e.actor.attributes, time_nano=e.time_nano, scope=e.scope)
    ours = [e.to_json() for e in bus.history(EventFilters(filters), int(since * 1e9), int(until * 1e9))]
    assert sorted(ours, key=lambda e: e["timeNano"]) == sorted(theirs, key=lambda e: e["timeNano"])
    assert theirs, "the filter matched nothing in Docker: a weak case"


def test_parse_filters() -> None:
    assert EventFilters.parse('{"type":{"container":true,"image":false}}').filters == {"type": ["container"]}
    assert EventFilters.parse('{"event":["start"]}').filters == {"event": ["start"]}
    assert EventFilters.parse("").filters == {}
    with pytest.raises(InvalidArgument, match="invalid filter 'bogus'"):
        EventFilters.parse('{"bogus":["x"]}')
    with pytest.raises(InvalidArgument):
        EventFilters.parse("not json")


def test_ring_buffer_and_since_until() -> None:
    bus = EventBus(capacity=3)
    for i in range(5):
        bus.publish("container", "start", f"c{i}", {"name": f"n{i}"}, time_nano=1000 + i)
    assert [e.actor.id for e in bus.history()] == ["c2", "c3", "c4"]
    assert [e.actor.id for e in bus.history(since_ns=1003)] == ["c3", "c4"]
    assert [e.actor.id for e in bus.history(until_ns=1003)] == ["c2", "c3"]


def test_subscription_past_then_live_then_until() -> None:
    async def run() -> tuple[list[str], float]:
        bus = EventBus()
        now = time.time_ns()
        bus.publish("container", "create", "old", time_nano=now - 10**9)
        bus.publish("container", "create", "older", time_nano=now - 5 * 10**9)
        sub = bus.subscribe(EventFilters({"type": ["container"]}), since_ns=now - 2 * 10**9,
                            until_ns=time.time_ns() + 300_000_000)
        got: list[str] = []

        async def produce() -> None:
            await asyncio.sleep(0.05)
            bus.publish("volume", "create", "vol")  # filtered out
            bus.publish("container", "start", "live")
            threading.Thread(target=bus.publish, args=("container", "die", "from-thread")).start()

        task = asyncio.create_task(produce())
        started = time.monotonic()
        async for event in sub:
            got.append(event.actor.id)
        await task
        assert bus.subscriber_count == 0
        return got, time.monotonic() - started

    got, took = _run(run())
    assert got == ["old", "live", "from-thread"]
    assert 0.2 < took < 2


def test_no_since_no_past_and_past_until_ends_at_once() -> None:
    async def run() -> tuple[list[str], list[str]]:
        bus = EventBus()
        bus.publish("container", "create", "before")
        live = bus.subscribe()
        past = bus.subscribe(until_ns=time.time_ns() - 1)
        bus.publish("container", "start", "after")
        got_live: list[str] = []
        async for event in live:
            got_live.append(event.actor.id)
            live.close()
        return got_live, [e.actor.id async for e in past]

    live, past = _run(run())
    assert live == ["after"]
    assert past == ["before"]


def test_since_after_until_refused() -> None:
    async def run() -> None:
        EventBus().subscribe(since_ns=2000, until_ns=1000)

    with pytest.raises(InvalidArgument, match="cannot be after"):
        _run(run())


def test_slow_subscriber_keeps_the_newest() -> None:
    async def run() -> list[str]:
        bus = EventBus(queue_size=5)
        sub = bus.subscribe()
        for i in range(20):
            bus.publish("container", "start", str(i))
        await asyncio.sleep(0.01)
        got = []
        async for event in sub:
            got.append(event.actor.id)
            if event.actor.id == "19":
                break
        sub.close()
        return got

    assert _run(run()) == ["15", "16", "17", "18", "19"]
