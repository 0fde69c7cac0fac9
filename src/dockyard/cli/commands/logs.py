"""`logs`: GET /containers/{id}/logs, demultiplexed unless the container has a tty."""

from __future__ import annotations

from dockyard.cli.client import quote
from dockyard.cli.flags import Command, bool_flag, str_flag
from dockyard.cli.stream import Demux, write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.client import Client

LOGS = Command("logs [OPTIONS] CONTAINER", "Fetch the logs of a container", [
    bool_flag("details", "", "Show extra details provided to logs"),
    bool_flag("follow", "f", "Follow log output"),
    str_flag("since", "", 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 '
             "minutes)"),
    str_flag("tail", "n", "Number of lines to show from the end of the logs", "all"),
    bool_flag("timestamps", "t", "Show timestamps"),
    str_flag("until", "", 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for '
             "42 minutes)"),
], min_args=1, max_args=1, aliases="dockyard container logs, dockyard logs")


def logs(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = LOGS.parse(prog, argv)
    info = client.get(f"/containers/{quote(args[0])}/json")
    query: dict[str, str | int | bool | None] = {"stdout": 1, "stderr": 1}
    if opts.text("since"):
        from dockyard.cli.format import get_timestamp
        query["since"] = get_timestamp(opts.text("since"))
    if opts.text("until"):
        from dockyard.cli.format import get_timestamp
        query["until"] = get_timestamp(opts.text("until"))
    if opts.on("timestamps"):
        query["timestamps"] = 1
    if opts.on("follow"):
        query["follow"] = 1
    query["tail"] = opts.text("tail")
    if opts.on("details"):
        query["details"] = 1
    resp = client.request("GET", f"/containers/{info['Id']}/logs", query)
    if (info.get("Config") or {}).get("Tty"):
        for chunk in resp.chunks():
            write_all(1, chunk)
    else:
        demux = Demux(1, 2)
        for chunk in resp.chunks():
            demux.feed(chunk)
    return 0
