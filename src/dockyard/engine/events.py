"""The event bus behind `GET /events` and `docker events`.

`EventBus.publish(...)` records an `Event` (Docker's `events.Message`) in a ring buffer (the last
`capacity` events, as dockerd keeps 256) and hands it to every subscriber whose filters match.
`EventBus.subscribe(filters, since, until)` gives an async iterator: first the buffered events in
`since..until`, then live ones, ending when `until` passes. Publishing is cheap and safe from any
thread (events raised outside the daemon's event loop are handed to it with
`call_soon_threadsafe`).

Filters are Docker's (`container`, `image`, `event`, `type`, `label`, `volume`, `network`, `daemon`,
`scope`, `plugin`, `node`, `service`, `secret`, `config`), parsed from the `filters` query parameter
with Docker's errors (`invalid filter 'x'`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Actor", "Event", "EventBus", "EventFilters", "Subscription"]

CONTAINER_ACTIONS = (
    "attach", "commit", "copy", "create", "destroy", "detach", "die", "exec_create", "exec_detach", "exec_die",
    "exec_start", "export", "health_status", "kill", "oom", "pause", "rename", "resize", "restart", "start",
    "stop", "top", "unpause", "update",
)
IMAGE_ACTIONS = ("delete", "import", "load", "pull", "push", "save", "tag", "untag")
VOLUME_ACTIONS = ("create", "destroy", "mount", "unmount")


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
        """Docker's wire form, including the legacy `status`, `id`, `from` for containers and images."""
        raise NotImplementedError


class EventFilters:
    """Parsed `filters` for events; `matches(event)` applies them as Docker's `events.Filter` does."""

    def __init__(self, filters: Mapping[str, list[str]] | None = None) -> None:
        raise NotImplementedError

    @classmethod
    def parse(cls, text: str) -> EventFilters:
        """From the query parameter: `{"type":["container"]}` (or the old `{"type":{"container":true}}`)."""
        raise NotImplementedError

    def matches(self, event: Event) -> bool:
        raise NotImplementedError


class Subscription:
    """An async iterator of events; `close()` (or leaving `async with`) unsubscribes."""

    def __aiter__(self) -> AsyncIterator[Event]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class EventBus:
    def __init__(self, capacity: int = 256) -> None:
        raise NotImplementedError

    def publish(self, type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None,
                *, time_nano: int | None = None, scope: str = "local") -> Event:
        raise NotImplementedError

    def history(self, filters: EventFilters | None = None, since_ns: int = 0, until_ns: int = 0) -> list[Event]:
        """The buffered events matching `filters` in `since..until` (0 = unbounded)."""
        raise NotImplementedError

    def subscribe(self, filters: EventFilters | None = None, since_ns: int = 0, until_ns: int = 0) -> Subscription:
        """Call from the event loop. Past events in range come first, then live ones until `until_ns`."""
        raise NotImplementedError
