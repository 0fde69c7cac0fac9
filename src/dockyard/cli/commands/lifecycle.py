"""stop, kill, restart, pause, unpause, rm, rename, wait, container prune.

The multi-container verbs are docker's: each name is tried, the name is printed for each success
(in the order given), every failure's message goes to stderr, and the exit status is 1 if any
failed. `rm -f` of a container that does not exist is not a failure.
"""

from __future__ import annotations

import sys

from dockyard.cli import format as fmt
from dockyard.cli.client import quote
from dockyard.cli.errors import APIError, CLIError
from dockyard.cli.flags import Command, bool_flag, int_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.cli.client import Client

STOP = Command("stop [OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", [
    str_flag("signal", "s", "Signal to send to the container"),
    int_flag("timeout", "t", "Seconds to wait before killing the container"),
    int_flag("time", "", "Seconds to wait before killing the container (deprecated: use --timeout)", hidden=True),
], min_args=1, aliases="dockyard container stop, dockyard stop")
RESTART = Command("restart [OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", STOP.flags,
                  min_args=1, aliases="dockyard container restart, dockyard restart")
KILL = Command("kill [OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", [
    str_flag("signal", "s", "Signal to send to the container"),
], min_args=1, aliases="dockyard container kill, dockyard kill")
PAUSE = Command("pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", [],
                min_args=1, aliases="dockyard container pause, dockyard pause")
UNPAUSE = Command("unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", [],
                  min_args=1, aliases="dockyard container unpause, dockyard unpause")
RM = Command("rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", [
    bool_flag("force", "f", "Force the removal of a running container (uses SIGKILL)"),
    bool_flag("link", "l", "Remove the specified link"),
    bool_flag("volumes", "v", "Remove anonymous volumes associated with the container"),
], min_args=1, aliases="dockyard container rm, dockyard container remove, dockyard rm")
RENAME = Command("rename CONTAINER NEW_NAME", "Rename a container", [], min_args=2, max_args=2,
                 aliases="dockyard container rename, dockyard rename")
WAIT = Command("wait CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes",
               [], min_args=1, aliases="dockyard container wait, dockyard wait")
PRUNE = Command("prune [OPTIONS]", "Remove all stopped containers", [
    list_flag("filter", "", 'Provide filter values (e.g. "until=<timestamp>")', type_name="filter"),
    bool_flag("force", "f", "Do not prompt for confirmation"),
], max_args=0)


def each(names: list[str], action: Callable[[str], object], ignore_missing: bool = False) -> int:
    errors = []
    for name in names:
        try:
            action(name)
        except APIError as e:
            if ignore_missing and e.http_status == 404:
                sys.stderr.write(e.message + "\n")  # docker 28 says so, and succeeds
                continue
            errors.append(e.message)
            continue
        except CLIError as e:
            errors.append(e.message)
            continue
        sys.stdout.write(name + "\n")
        sys.stdout.flush()
    if errors:
        raise CLIError("\n".join(errors))
    return 0


def _stop_query(opts_changed: Callable[[str], bool], num: Callable[[str], int],
                signal: str) -> dict[str, str | int | bool | None]:
    if opts_changed("time") and opts_changed("timeout"):
        raise CLIError("conflicting options: cannot specify both --timeout and --time")
    query: dict[str, str | int | bool | None] = {}
    if opts_changed("timeout") or opts_changed("time"):
        query["t"] = num("timeout") if opts_changed("timeout") else num("time")
    if signal:
        query["signal"] = signal
    return query


def stop(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = STOP.parse(prog, argv)
    query = _stop_query(opts.changed, opts.num, opts.text("signal"))
    return each(args, lambda name: client.post(f"/containers/{quote(name)}/stop", query))


def restart(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = RESTART.parse(prog, argv)
    query = _stop_query(opts.changed, opts.num, opts.text("signal"))
    return each(args, lambda name: client.post(f"/containers/{quote(name)}/restart", query))


def kill(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = KILL.parse(prog, argv)
    query = {"signal": opts.text("signal") or None}
    return each(args, lambda name: client.post(f"/containers/{quote(name)}/kill", query))


def pause(client: Client, prog: str, argv: list[str]) -> int:
    _, args = PAUSE.parse(prog, argv)
    return each(args, lambda name: client.post(f"/containers/{quote(name)}/pause"))


def unpause(client: Client, prog: str, argv: list[str]) -> int:
    _, args = UNPAUSE.parse(prog, argv)
    return each(args, lambda name: client.post(f"/containers/{quote(name)}/unpause"))


def rm(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = RM.parse(prog, argv)
    query = {"v": 1 if opts.on("volumes") else None, "link": 1 if opts.on("link") else None,
             "force": 1 if opts.on("force") else None}

    def remove(name: str) -> None:
        name = name.strip("/")
        if not name:
            raise CLIError("container name cannot be empty")
        client.delete(f"/containers/{quote(name)}", query)
    return each(args, remove, ignore_missing=opts.on("force"))


def rename(client: Client, prog: str, argv: list[str]) -> int:
    _, args = RENAME.parse(prog, argv)
    old, new = args[0].strip(), args[1].strip()
    if not old or not new:
        raise CLIError("Neither old nor new names may be empty")
    try:
        client.post(f"/containers/{quote(old)}/rename", {"name": new})
    except CLIError as e:
        raise CLIError(f"{e.message}\nError: failed to rename container named {old}") from None
    return 0


def wait(client: Client, prog: str, argv: list[str]) -> int:
    _, args = WAIT.parse(prog, argv)
    errors = []
    for name in args:
        try:
            result = client.post_json(f"/containers/{quote(name)}/wait")
        except CLIError as e:
            errors.append(e.message)
            continue
        sys.stdout.write(f"{result.get('StatusCode', 0)}\n")
        sys.stdout.flush()
    if errors:
        raise CLIError("\n".join(errors))
    return 0


def confirm(message: str) -> bool:
    """docker's prompt.Confirm: `[y/N]` on stdout, an answer from stdin."""
    sys.stdout.write(f"{message} [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    if not answer:
        sys.stdout.write("\n")
    return answer.strip().lower() in ("y", "yes")


def prune(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = PRUNE.parse(prog, argv)
    from dockyard.cli.commands.ps import check_filter, filters_json
    filters = [check_filter(f) for f in opts.values("filter")]
    if not opts.on("force") and not confirm("WARNING! This will remove all stopped containers.\n"
                                            "Are you sure you want to continue?"):
        raise CLIError("container prune has been cancelled")
    report = client.post_json("/containers/prune", {"filters": filters_json(filters)})
    lines = []
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        lines.append("Deleted Containers:")
        lines.extend(deleted)
        lines.append("")
    reclaimed = int(report.get("SpaceReclaimed") or 0) if deleted else 0
    lines.append(f"Total reclaimed space: {fmt.human_size(reclaimed, 4)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
