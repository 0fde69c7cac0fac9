"""`events` (system events): GET /events, streamed; docker's line format or --format."""

from __future__ import annotations

import sys
import time

from dockyard.cli.commands.ps import check_filter, filters_json
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

EVENTS = Command("events [OPTIONS]", "Get real time events from the server", [
    list_flag("filter", "f", "Filter output based on conditions provided", check_filter, "filter"),
    str_flag("format", "", "Format output using a custom template"),
    str_flag("since", "", "Show all events created since timestamp"),
    str_flag("until", "", "Stream events until this timestamp"),
], max_args=0, aliases="dockyard system events, dockyard events")


def rfc3339_nano_fixed(nanos: int) -> str:
    """time.Unix(0, n).Format("2006-01-02T15:04:05.000000000Z07:00") in local time."""
    seconds, frac = divmod(nanos, 1_000_000_000)
    t = time.localtime(seconds)
    offset = t.tm_gmtoff
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{frac:09d}" + zone


def pretty(event: dict[str, Any]) -> str:
    parts = []
    if event.get("timeNano"):
        parts.append(rfc3339_nano_fixed(int(event["timeNano"])) + " ")
    elif event.get("time"):
        parts.append(rfc3339_nano_fixed(int(event["time"]) * 1_000_000_000) + " ")
    actor = event.get("Actor") or {}
    parts.append(f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}")
    attributes = actor.get("Attributes") or {}
    if attributes:
        parts.append(" (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")")
    return "".join(parts) + "\n"


def events(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = EVENTS.parse(prog, argv)
    template = opts.text("format")
    tmpl = None
    if template:
        from dockyard.cli.template import TemplateError, parse
        try:
            tmpl = parse("{{json .}}" if template == "json" else template)
        except TemplateError as e:
            raise CLIError(f"Error parsing format: {e}", 64) from None
    query: dict[str, str | int | bool | None] = {"filters": filters_json(opts.values("filter"))}
    from dockyard.cli.format import get_timestamp
    if opts.text("since"):
        query["since"] = get_timestamp(opts.text("since"))
    if opts.text("until"):
        query["until"] = get_timestamp(opts.text("until"))
    resp = client.request("GET", "/events", query)
    try:
        for event in client.stream_json(resp):
            if tmpl is None:
                sys.stdout.write(pretty(event))
            else:
                from dockyard.cli.template import TemplateError
                try:
                    sys.stdout.write(tmpl.execute(event) + "\n")
                except TemplateError as e:
                    raise CLIError(str(e)) from None
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    return 0
