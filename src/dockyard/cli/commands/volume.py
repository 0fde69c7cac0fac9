"""volume create, ls, inspect, rm, prune."""

from __future__ import annotations

import sys

from dockyard.cli import format as fmt
from dockyard.cli.client import quote
from dockyard.cli.commands.inspect import show
from dockyard.cli.commands.ps import check_filter, filters_json, go_json
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

CREATE = Command("create [OPTIONS] [VOLUME]", "Create a volume", [
    str_flag("driver", "d", "Specify volume driver name", "local"),
    list_flag("label", "", "Set metadata for a volume"),
    str_flag("name", "", "Specify volume name", hidden=True),
    list_flag("opt", "o", "Set driver specific options", type_name="map"),
], max_args=1)
LS = Command("ls [OPTIONS]", "List volumes", [
    list_flag("filter", "f", "Provide filter values (e.g. \"dangling=true\")", check_filter, "filter"),
    str_flag("format", "", "Format output using a custom template"),
    bool_flag("quiet", "q", "Only display volume names"),
], max_args=0, aliases="dockyard volume ls, dockyard volume list")
INSPECT = Command("inspect [OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes", [
    str_flag("format", "f", "Format output using a custom template"),
], min_args=1)
RM = Command("rm [OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes", [
    bool_flag("force", "f", "Force the removal of one or more volumes"),
], min_args=1, aliases="dockyard volume rm, dockyard volume remove")
PRUNE = Command("prune [OPTIONS]", "Remove unused local volumes", [
    bool_flag("all", "a", "Remove all unused volumes, not just anonymous ones"),
    list_flag("filter", "", 'Provide filter values (e.g. "label=<label>")', type_name="filter"),
    bool_flag("force", "f", "Do not prompt for confirmation"),
], max_args=0)

TABLE = "table {{.Driver}}\t{{.Name}}"
TITLES = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
          "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Availability": "AVAILABILITY", "Group": "GROUP",
          "Status": "STATUS"}


def _kv(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def create(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = CREATE.parse(prog, argv)
    name = opts.text("name")
    if args:
        if name and name != args[0]:
            raise CLIError("conflicting options: cannot specify a volume-name through both --name and as a "
                           "positional arg")
        name = args[0]
    body = {"Name": name, "Driver": opts.text("driver"), "DriverOpts": _kv(opts.values("opt")),
            "Labels": _kv(opts.values("label"))}
    volume = client.post_json("/volumes/create", None, body)
    sys.stdout.write(f"{volume.get('Name', name)}\n")
    return 0


class VolumeContext:
    __slots__ = ("v",)
    go_type = "*formatter.volumeContext"

    def __init__(self, v: dict[str, Any]) -> None:
        self.v = v

    def Name(self) -> str:
        return str(self.v.get("Name", ""))

    def Driver(self) -> str:
        return str(self.v.get("Driver", ""))

    def Scope(self) -> str:
        return str(self.v.get("Scope", ""))

    def Mountpoint(self) -> str:
        return str(self.v.get("Mountpoint", ""))

    def CreatedAt(self) -> str:
        return str(self.v.get("CreatedAt", ""))

    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self.v.get("Labels") or {}).items())

    def Label(self, name: str) -> str:
        return str((self.v.get("Labels") or {}).get(name, ""))

    def Links(self) -> str:
        usage = self.v.get("UsageData")
        return str(usage.get("RefCount")) if usage else "N/A"

    def Size(self) -> str:
        usage = self.v.get("UsageData")
        return fmt.human_size(int(usage.get("Size", 0)), 4) if usage and int(usage.get("Size", -1)) >= 0 else "N/A"

    def Availability(self) -> str:
        return "N/A"

    def Group(self) -> str:
        return "N/A"

    def Status(self) -> str:
        return "N/A"

    def marshal(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in TITLES}


def ls(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = LS.parse(prog, argv)
    result = client.get("/volumes", {"filters": filters_json(opts.values("filter"))})
    volumes = sorted(result.get("Volumes") or [], key=lambda v: str(v.get("Name", "")))
    rows = [VolumeContext(v) for v in volumes]
    template = opts.text("format")
    if opts.on("quiet"):
        sys.stdout.write("".join(r.Name() + "\n" for r in rows))
        return 0
    if template in ("json", "{{json .}}"):
        sys.stdout.write("".join(go_json(r.marshal()) + "\n" for r in rows))
        return 0
    fmt.render(rows, template or TABLE, TABLE, TITLES, sys.stdout.write)
    for warning in result.get("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    return 0


def inspect(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = INSPECT.parse(prog, argv)
    return show(args, lambda name: client.raw_get(f"/volumes/{quote(name)}"), opts.text("format"))


def rm(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = RM.parse(prog, argv)
    from dockyard.cli.commands.lifecycle import each
    return each(args, lambda name: client.delete(f"/volumes/{quote(name)}", {"force": 1 if opts.on("force") else None}))


def prune(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = PRUNE.parse(prog, argv)
    filters = [check_filter(f) for f in opts.values("filter")]
    if opts.on("all"):
        filters.append(("all", "true"))
    if not opts.on("force"):
        from dockyard.cli.commands.lifecycle import confirm
        what = "all local volumes not used by at least one container" if opts.on("all") else \
            "all anonymous local volumes not used by at least one container"
        if not confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?"):
            raise CLIError("volume prune has been cancelled")
    report = client.post_json("/volumes/prune", {"filters": filters_json(filters)})
    lines: list[str] = []
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        lines.append("Deleted Volumes:")
        lines.extend(deleted)
        lines.append("")
    lines.append(f"Total reclaimed space: {fmt.human_size(int(report.get('SpaceReclaimed') or 0), 4)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
