"""The event bus behind `GET /events` and `docker events`.

`EventBus.publish(...)` records an `Event` (Docker's `events.Message`) in a ring buffer (the last
`capacity` events; dockerd keeps 256) and hands it to every subscriber whose filters match. Publishing
is cheap and safe from any thread: subscribers live on the daemon's event loop and get events through
`call_soon_threadsafe`.

`EventBus.subscribe(filters, since, until)` (call it on the event loop) gives an async iterator, as
dockerd's `SubscribeToEvents` and its events route behave: first the buffered events in
`since..until` (none when neither is given), then live ones; it ends when `until` passes (at once
when `until` is already past). A subscriber that falls more than `queue_size` events behind loses
the oldest of them, as dockerd's publisher drops for slow readers.

Filters are Docker's (`container`, `image`, `event`, `type`, `label`, `volume`, `network`, `daemon`,
`scope`, `plugin`, `node`, `service`, `secret`, `config`), parsed from the `filters` query parameter
(`{"type":["container"]}` or the older `{"type":{"container":true}}`), with Docker's error for an
unknown one (`invalid filter 'x'`), and applied as moby's `events.Filter.Include`: names and ids
match by prefix for containers/volumes/networks/daemons/plugins, images by id, name, or name without
tag, labels by `key` or `key=value` against the actor's attributes.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = ["CONTAINER_ACTIONS", "IMAGE_ACTIONS", "VOLUME_ACTIONS", "Actor", "Event", "EventBus", "EventFilters",
           "Subscription"]

CONTAINER_ACTIONS = (
    "attach", "commit", "copy", "create", "destroy", "detach", "die", "exec_create", "exec_detach", "exec_die",
    "exec_start", "export", "health_status", "kill", "oom", "pause", "rename", "resize", "restart", "start",
    "stop", "top", "unpause", "update",
)
IMAGE_ACTIONS = ("delete", "import", "load", "pull", "push", "save", "tag", "untag")
VOLUME_ACTIONS = ("create", "destroy", "mount", "unmount")

_ACCEPTED = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
             "secret", "service", "type", "volume")


@dataclass(frozen=True)
class Actor:
    id: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    type: str  # "container" | "image" | "volume" | "network" | "daemon" | ...
    action: str  # "start", "die", "health_status: healthy", "exec_start: sh -c ..."
    actor: Actor
    time_nano: int
    scope: str = "local"

    def to_json(self) -> dict[str, Any]:
        """Docker's wire form, with the legacy `status`, `id`, `from` for containers and images."""
        out: dict[str, Any] = {}
        if self.type in ("container", "image"):
            out["status"] = self.action
            out["id"] = self.actor.id
            if self.type == "container" and self.actor.attributes.get("image"):
                out["from"] = self.actor.attributes["image"]
        out["Type"] = self.type
        out["Action"] = self.action
        out["Actor"] = {"ID": self.actor.id, "Attributes": dict(sorted(self.actor.attributes.items()))}
        out["scope"] = self.scope
        out["time"] = self.time_nano // 1_000_000_000
        out["timeNano"] = self.time_nano
        return out

    @classmethod
    def from_json(cls, j: Mapping[str, Any]) -> Event:
        actor = j.get("Actor") or {}
        return cls(type=j.get("Type", ""), action=j.get("Action", j.get("status", "")),
                   actor=Actor(actor.get("ID", j.get("id", "")), dict(actor.get("Attributes") or {})),
                   time_nano=int(j.get("timeNano") or int(j.get("time", 0)) * 1_000_000_000),
                   scope=j.get("scope", "local"))


def _strip_tag(ref: str) -> str:
    """An image reference without its tag (and digest), as moby's stripTag does."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


class EventFilters:
    """Parsed `filters` for events; `matches(event)` applies them as Docker's `events.Filter` does."""

    def __init__(self, filters: Mapping[str, list[str]] | None = None) -> None:
        self.filters: dict[str, list[str]] = {k: list(v) for k, v in (filters or {}).items() if v}
        for key in self.filters:
            if key not in _ACCEPTED:
                raise InvalidArgument(f"invalid filter '{key}'")

    @classmethod
    def parse(cls, text: str) -> EventFilters:
        """From the query parameter: `{"type":["container"]}` (or the old `{"type":{"container":true}}`)."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"invalid filter: {e}") from None
        if not isinstance(raw, dict):
            raise InvalidArgument("invalid filter: expected an object")
        out: dict[str, list[str]] = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                out[key] = [k for k, v in value.items() if v]
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = list(value)
            else:
                raise InvalidArgument(f"invalid filter: {key}")
        return cls(out)

    def _exact(self, key: str, value: str) -> bool:
        values = self.filters.get(key)
        return values is None or value in values

    def _fuzzy(self, key: str, value: str) -> bool:
        values = self.filters.get(key)
        return values is None or any(value.startswith(v) for v in values)

    def _name(self, ev: Event, key: str) -> bool:
        return self._fuzzy(key, ev.actor.id) or self._fuzzy(key, ev.actor.attributes.get("name", ""))

    def _event(self, ev: Event) -> bool:
        wanted = self.filters.get("event")
        if wanted is None:
            return True
        if any(w in ("health_status", "exec_create", "exec_start") for w in wanted):
            return any(ev.action.startswith(w) for w in wanted)
        return ev.action in wanted

    def _image(self, ev: Event) -> bool:
        if "image" not in self.filters:
            return True
        name = ev.actor.attributes.get("name" if ev.type == "image" else "image", "")
        return any(self._exact("image", v) for v in (ev.actor.id, name, _strip_tag(ev.actor.id), _strip_tag(name)))

    def _labels(self, attributes: Mapping[str, str]) -> bool:
        wanted = self.filters.get("label")
        if wanted is None:
            return True
        for w in wanted:
            key, sep, value = w.partition("=")
            if key not in attributes or (sep and attributes[key] != value):
                return False
        return True

    def matches(self, event: Event) -> bool:
        return (self._event(event) and self._exact("type", event.type)
                and ("scope" not in self.filters or self._exact("scope", event.scope))
                and all(self._name(event, key) for key in ("daemon", "container", "plugin", "volume", "network",
                                                           "node", "service", "secret", "config"))
                and self._image(event) and self._labels(event.actor.attributes))


class Subscription:
    """An async iterator of events; `close()` unsubscribes (also done when iteration ends)."""

    def __init__(self, bus: EventBus, filters: EventFilters, until_ns: int, past: list[Event],
                 queue_size: int) -> None:
        self._bus = bus
        self._filters = filters
        self._until_ns = until_ns
        self._past = deque(past)
        self._queue: deque[Event] = deque(maxlen=queue_size)
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._live = not (until_ns and until_ns < time.time_ns())

    def _offer(self, event: Event) -> None:
        """Called by publish, from any thread."""
        if self._filters.matches(event):
            try:
                self._loop.call_soon_threadsafe(self._deliver, event)
            except RuntimeError:  # the loop is gone
                pass

    def _deliver(self, event: Event) -> None:
        self._queue.append(event)
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        try:
            while self._past:
                yield self._past.popleft()
            if not self._live:
                return
            while not self._closed:
                while self._queue:
                    event = self._queue.popleft()
                    if self._until_ns and event.time_nano > self._until_ns:
                        return
                    yield event
                self._wakeup.clear()
                if self._closed:
                    return
                if self._until_ns:
                    left = (self._until_ns - time.time_ns()) / 1e9
                    if left <= 0:
                        return
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), left)
                    except TimeoutError:
                        return
                else:
                    await self._wakeup.wait()
        finally:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus._unsubscribe(self)
            self._wakeup.set()


class EventBus:
    def __init__(self, capacity: int = 256, queue_size: int = 1024) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._queue_size = queue_size

    def publish(self, type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None,
                *, time_nano: int | None = None, scope: str = "local") -> Event:
        """Record an event and hand it to the subscribers it matches. Safe from any thread."""
        event = Event(type=type, action=action, actor=Actor(actor_id, dict(attributes or {})),
                      time_nano=time.time_ns() if time_nano is None else time_nano, scope=scope)
        with self._lock:
            self._events.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub._offer(event)
        return event

    def history(self, filters: EventFilters | None = None, since_ns: int = 0, until_ns: int = 0) -> list[Event]:
        """The buffered events matching `filters` in `since..until` (0 = unbounded)."""
        with self._lock:
            events = list(self._events)
        return [e for e in events if e.time_nano >= since_ns and not (until_ns and e.time_nano > until_ns)
                and (filters is None or filters.matches(e))]

    def subscribe(self, filters: EventFilters | None = None, since_ns: int = 0, until_ns: int = 0) -> Subscription:
        """Call on the event loop. Past events in range come first (only when since or until is given),
        then live ones until `until_ns`. InvalidArgument when since is after until."""
        if until_ns and since_ns and until_ns < since_ns:
            raise InvalidArgument(f"`since` time ({_show(since_ns)}) cannot be after `until` time ({_show(until_ns)})")
        filters = filters or EventFilters()
        with self._lock:
            past = [e for e in self._events if e.time_nano >= since_ns and not (until_ns and e.time_nano > until_ns)
                    and filters.matches(e)] if (since_ns or until_ns) else []
            sub = Subscription(self, filters, until_ns, past, self._queue_size)
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _show(ns: int) -> str:
    from dockyard.engine.logs import format_timestamp

    return format_timestamp(ns)
