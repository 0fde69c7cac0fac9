"""version, info, system df, system prune."""

from __future__ import annotations

import os
import sys

from dockyard import __version__
from dockyard.cli import format as fmt
from dockyard.cli.client import MAX_API_VERSION
from dockyard.cli.commands.ps import check_filter, filters_json, go_json
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

VERSION = Command("version [OPTIONS]", "Show the dockyard version information", [
    str_flag("format", "f", "Format output using a custom template"),
], max_args=0)
INFO = Command("info [OPTIONS]", "Display system-wide information", [
    str_flag("format", "f", "Format output using a custom template"),
], max_args=0, aliases="dockyard system info, dockyard info")
DF = Command("df [OPTIONS]", "Show dockyard disk usage", [
    str_flag("format", "", "Format output using a custom template"),
    bool_flag("verbose", "v", "Show detailed information on space usage"),
], max_args=0)
PRUNE = Command("prune [OPTIONS]", "Remove unused data", [
    bool_flag("all", "a", "Remove all unused images not just dangling ones"),
    list_flag("filter", "", 'Provide filter values (e.g. "label=<key>=<value>")', type_name="filter"),
    bool_flag("force", "f", "Do not prompt for confirmation"),
    bool_flag("volumes", "", "Prune anonymous volumes"),
], max_args=0)


def _client_info(client: Client | None) -> dict[str, Any]:
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    python = ".".join(str(n) for n in sys.version_info[:3])
    info: dict[str, Any] = {"Version": __version__, "ApiVersion": client.version if client is not None else "",
                            "DefaultAPIVersion": MAX_API_VERSION, "PythonVersion": python,
                            "Os": "linux", "Arch": arch}
    return info


def _template_out(template: str, data: Any, name: str = "") -> str:
    from dockyard.cli.template import TemplateError, parse
    try:
        tmpl = parse("{{json .}}" if template == "json" else template, name)
    except TemplateError as e:
        raise CLIError(f"template parsing error: {e}", 64) from None
    try:
        return tmpl.execute(data) + "\n"
    except TemplateError as e:
        raise CLIError(f"template parsing error: {e}") from None


def version(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = VERSION.parse(prog, argv)
    server: dict[str, Any] | None = None
    server_error: CLIError | None = None
    try:
        server = client.get("/version")
    except CLIError as e:
        server_error = e
    info = _client_info(client if server is not None else None)
    if server is None:
        info["ApiVersion"] = MAX_API_VERSION
    if opts.text("format"):
        sys.stdout.write(_template_out(opts.text("format"), {"Client": info, "Server": server}, "version"))
    else:
        api = info["ApiVersion"]
        downgraded = f" (downgraded from {MAX_API_VERSION})" if api != MAX_API_VERSION else ""
        lines = ["Client:", f" Version:\t{info['Version']}", f" API version:\t{api}{downgraded}",
                 f" Python version:\t{info['PythonVersion']}", f" OS/Arch:\t{info['Os']}/{info['Arch']}"]
        if server is not None:
            lines += ["", "Server:" + (f" {server['Platform']['Name']}" if (server.get("Platform") or {}).get("Name")
                                       else "")]
            components = server.get("Components") or [{
                "Name": "Engine", "Version": server.get("Version", ""),
                "Details": {k: str(server.get(k, "")) for k in ("ApiVersion", "MinAPIVersion", "GoVersion", "GitCommit",
                                                                  "BuildTime", "Os", "Arch", "Experimental")}}]
            for component in components:
                details = component.get("Details") or {}
                lines.append(f" {component.get('Name', '')}:")
                lines.append(f"  Version:\t{component.get('Version', '')}")
                if component.get("Name") == "Engine":
                    lines += [f"  API version:\t{details.get('ApiVersion', '')} (minimum version "
                              f"{details.get('MinAPIVersion', '')})"]
                    for label, key in (("Go version", "GoVersion"), ("Python version", "PythonVersion"),
                                       ("Git commit", "GitCommit"), ("Built", "BuildTime")):
                        if key in details or key in ("GitCommit", "BuildTime"):
                            value = str(details.get(key, ""))
                            lines.append(f"  {label}:\t{_ansic(value) if key == 'BuildTime' else value}")
                    lines += [f"  OS/Arch:\t{details.get('Os', '')}/{details.get('Arch', '')}",
                              f"  Experimental:\t{details.get('Experimental', 'false')}"]
                else:
                    lines += [f"  {key}:\t{details[key]}" for key in sorted(details)]
        sys.stdout.write(fmt.tabwrite("\n".join(lines) + "\n", minwidth=20, padding=1))
    if server_error is not None:
        sys.stdout.flush()
        raise server_error
    return 0


def _ansic(stamp: str) -> str:
    """docker's reformatDate: an RFC 3339 build time as time.ANSIC in local time."""
    import time
    parsed = fmt.parse_time(stamp)
    if parsed is None:
        return stamp
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(parsed))


def _print_server_info(info: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def line(label: str, value: Any, skip_empty: bool = False) -> None:
        if skip_empty and (value is None or value == ""):
            return
        out.append(f"{label} {_go_value(value)}")

    line(" Containers:", info.get("Containers", 0))
    line("  Running:", info.get("ContainersRunning", 0))
    line("  Paused:", info.get("ContainersPaused", 0))
    line("  Stopped:", info.get("ContainersStopped", 0))
    line(" Images:", info.get("Images", 0))
    line(" Server Version:", info.get("ServerVersion"), True)
    line(" Storage Driver:", info.get("Driver"), True)
    for pair in info.get("DriverStatus") or []:
        out.append(f"  {pair[0]}: {pair[1]}")
    for pair in info.get("SystemStatus") or []:
        out.append(f" {pair[0]}: {pair[1]}")
    line(" Logging Driver:", info.get("LoggingDriver"), True)
    line(" Cgroup Driver:", info.get("CgroupDriver"), True)
    line(" Cgroup Version:", info.get("CgroupVersion"), True)
    plugins = info.get("Plugins") or {}
    out.append(" Plugins:")
    line("  Volume:", " ".join(plugins.get("Volume") or []))
    line("  Network:", " ".join(plugins.get("Network") or []))
    if plugins.get("Authorization"):
        line("  Authorization:", " ".join(plugins["Authorization"]))
    line("  Log:", " ".join(plugins.get("Log") or []))
    line(" Swarm:", (info.get("Swarm") or {}).get("LocalNodeState", "inactive"))
    runtimes = info.get("Runtimes") or {}
    if runtimes:
        line(" Runtimes:", " ".join(sorted(runtimes)))
        line(" Default Runtime:", info.get("DefaultRuntime", ""))
    if info.get("OSType", "linux") == "linux":
        line(" Init Binary:", info.get("InitBinary", ""))
        line(" containerd version:", (info.get("ContainerdCommit") or {}).get("ID", ""))
        line(" runc version:", (info.get("RuncCommit") or {}).get("ID", ""))
        line(" init version:", (info.get("InitCommit") or {}).get("ID", ""))
        options = info.get("SecurityOptions") or []
        if options:
            out.append(" Security Options:")
            for option in options:
                fields = dict(part.split("=", 1) for part in option.split(",") if "=" in part)
                out.append("  " + fields.get("name", option))
                if "profile" in fields:
                    out.append(f"   Profile: {fields['profile']}")
    line(" Kernel Version:", info.get("KernelVersion"), True)
    line(" Operating System:", info.get("OperatingSystem"), True)
    line(" OSType:", info.get("OSType"), True)
    line(" Architecture:", info.get("Architecture"), True)
    line(" CPUs:", info.get("NCPU", 0))
    line(" Total Memory:", fmt.bytes_size(int(info.get("MemTotal", 0))))
    line(" Name:", info.get("Name"), True)
    line(" ID:", info.get("ID"), True)
    line(" Docker Root Dir:", info.get("DockerRootDir", ""))
    line(" Debug Mode:", bool(info.get("Debug")))
    if info.get("Debug"):
        line("  File Descriptors:", info.get("NFd", 0))
        line("  Goroutines:", info.get("NGoroutines", 0))
        line("  System Time:", info.get("SystemTime", ""))
        line("  EventsListeners:", info.get("NEventsListener", 0))
    line(" HTTP Proxy:", info.get("HttpProxy"), True)
    line(" HTTPS Proxy:", info.get("HttpsProxy"), True)
    line(" No Proxy:", info.get("NoProxy"), True)
    labels = info.get("Labels") or []
    if labels:
        out.append(" Labels:")
        out.extend("  " + label for label in labels)
    line(" Experimental:", bool(info.get("ExperimentalBuild")))
    registry = info.get("RegistryConfig") or {}
    cidrs = registry.get("InsecureRegistryCIDRs") or []
    indexes = registry.get("IndexConfigs") or {}
    if cidrs or indexes:
        out.append(" Insecure Registries:")
        out.extend("  " + name for name, cfg in indexes.items() if not cfg.get("Secure"))
        out.extend("  " + cidr for cidr in cidrs)
    mirrors = registry.get("Mirrors") or []
    if mirrors:
        out.append(" Registry Mirrors:")
        out.extend("  " + m for m in mirrors)
    line(" Live Restore Enabled:", bool(info.get("LiveRestoreEnabled")))
    return out


def _go_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def info(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = INFO.parse(prog, argv)
    server: dict[str, Any] | None = None
    error: CLIError | None = None
    try:
        server = client.get("/info")
    except CLIError as e:
        error = e
    if opts.text("format"):
        data = dict(server or {})
        data["ClientInfo"] = {"Debug": False, "Version": __version__, "Plugins": []}
        data["ClientErrors"] = None
        data["ServerErrors"] = [error.message] if error is not None else None
        sys.stdout.write(_template_out(opts.text("format"), data))
        if error is not None:
            raise error
        return 0
    lines = ["Client:", f" Version:    {__version__}", " Debug Mode: false", "", "Server:"]
    if server is None:
        sys.stdout.write("\n".join(lines) + "\n")
        assert error is not None
        raise CLIError(f"ERROR: {error.message}\nerrors pretty printing info")
    lines += _print_server_info(server)
    sys.stdout.write("\n".join(lines) + "\n\n")
    warnings = server.get("Warnings") or []
    if warnings:
        sys.stderr.write("\n" + "\n".join(warnings) + "\n")
    return 0


# --- system df ---------------------------------------------------------------------------

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_TITLES = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


class UsageContext:
    __slots__ = ("active", "kind", "reclaimable", "size", "total")

    def __init__(self, kind: str, total: int, active: int, size: int, reclaimable: int) -> None:
        self.kind = kind
        self.total = total
        self.active = active
        self.size = size
        self.reclaimable = reclaimable

    def Type(self) -> str:
        return self.kind

    def TotalCount(self) -> str:
        return str(self.total)

    def Active(self) -> str:
        return str(self.active)

    def Size(self) -> str:
        return fmt.human_size(self.size, 4)

    def Reclaimable(self) -> str:
        text = fmt.human_size(self.reclaimable, 4)
        if self.size > 0 and self.kind != "Build Cache":
            return f"{text} ({self.reclaimable * 100 // self.size}%)"
        return text

    def marshal(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in DF_TITLES}


def usage_rows(du: dict[str, Any]) -> list[UsageContext]:
    images = du.get("Images") or []
    layers = int(du.get("LayersSize") or 0)
    used = sum(int(i.get("Size", 0)) - int(i.get("SharedSize", 0)) for i in images
               if int(i.get("Containers", 0)) > 0 and int(i.get("SharedSize", 0)) != -1)
    containers = du.get("Containers") or []
    running = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    volumes = du.get("Volumes") or []
    v_sizes = [int((v.get("UsageData") or {}).get("Size", -1)) for v in volumes]
    v_active = [v for v in volumes if int((v.get("UsageData") or {}).get("RefCount", 0)) > 0]
    v_reclaim = sum(max(int((v.get("UsageData") or {}).get("Size", 0)), 0) for v in volumes
                    if int((v.get("UsageData") or {}).get("RefCount", 0)) == 0)
    cache = du.get("BuildCache") or []
    return [
        UsageContext("Images", len(images), sum(1 for i in images if int(i.get("Containers", 0)) > 0), layers,
                     layers - used),
        UsageContext("Containers", len(containers), len(running), c_size,
                     c_size - sum(int(c.get("SizeRw") or 0) for c in running)),
        UsageContext("Local Volumes", len(volumes), len(v_active), sum(s for s in v_sizes if s > 0), v_reclaim),
        UsageContext("Build Cache", len(cache), sum(1 for c in cache if c.get("InUse")),
                     sum(int(c.get("Size", 0)) for c in cache),
                     sum(int(c.get("Size", 0)) for c in cache if not c.get("InUse") and not c.get("Shared"))),
    ]


def df(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = DF.parse(prog, argv)
    du = client.get("/system/df")
    template = opts.text("format")
    out = sys.stdout.write
    if not opts.on("verbose"):
        rows = usage_rows(du)
        if template in ("json", "{{json .}}"):
            out("".join(go_json(r.marshal()) + "\n" for r in rows))
        else:
            fmt.render(rows, template or DF_TABLE, DF_TABLE, DF_TITLES, out)
        return 0
    import time

    from dockyard.cli.commands.images import IMAGE_TITLES, image_rows
    from dockyard.cli.commands.ps import TITLES, ContainerContext
    from dockyard.cli.commands.volume import TITLES as VOLUME_TITLES
    from dockyard.cli.commands.volume import VolumeContext
    out("Images space usage:\n\n")
    fmt.render(image_rows(du.get("Images") or [], True, False, False),
               "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t"
               "{{.UniqueSize}}\t{{.Containers}}", "", IMAGE_TITLES, out)
    out("\nContainers space usage:\n\n")
    now = time.time()
    fmt.render([ContainerContext(c, True, now) for c in du.get("Containers") or []],
               "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t"
               "{{.Names}}", "", TITLES, out)
    out("\nLocal Volumes space usage:\n\n")
    fmt.render([VolumeContext(v) for v in du.get("Volumes") or []], "table {{.Name}}\t{{.Links}}\t{{.Size}}", "",
               VOLUME_TITLES, out)
    cache = du.get("BuildCache") or []
    out(f"\nBuild cache usage: {fmt.human_size(sum(int(c.get('Size', 0)) for c in cache), 4)}\n\n")
    out(fmt.tabwrite("CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n"))
    return 0


def prune(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = PRUNE.parse(prog, argv)
    filters = [check_filter(f) for f in opts.values("filter")]
    if not opts.on("force"):
        from dockyard.cli.commands.lifecycle import confirm
        items = ["all stopped containers"]
        if opts.on("volumes"):
            items.append("all anonymous volumes not used by at least one container")
        items.append("all images without at least one container associated to them" if opts.on("all")
                     else "all dangling images")
        items.append("unused build cache")
        text = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
        if not confirm(text + "\nAre you sure you want to continue?"):
            raise CLIError("system prune has been cancelled")
    lines: list[str] = []
    total = 0
    report = client.post_json("/containers/prune", {"filters": filters_json(filters)})
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        lines += ["Deleted Containers:", *deleted, ""]
        total += int(report.get("SpaceReclaimed") or 0)
    if opts.on("volumes"):
        report = client.post_json("/volumes/prune", {"filters": filters_json(filters)})
        deleted = report.get("VolumesDeleted") or []
        if deleted:
            lines += ["Deleted Volumes:", *deleted, ""]
            total += int(report.get("SpaceReclaimed") or 0)
    image_filters = [*filters, ("dangling", "false" if opts.on("all") else "true")]
    report = client.post_json("/images/prune", {"filters": filters_json(image_filters)})
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        lines.append("Deleted Images:")
        lines += [f"untagged: {i['Untagged']}" if i.get("Untagged") else f"deleted: {i.get('Deleted')}"
                  for i in deleted]
        lines.append("")
    total += int(report.get("SpaceReclaimed") or 0)
    lines.append(f"Total reclaimed space: {fmt.human_size(total, 4)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
