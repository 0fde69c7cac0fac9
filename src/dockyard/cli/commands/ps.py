"""`ps` (container ls) and `port`: docker's container table, --format, --filter, -q, -n/-l, -s."""

from __future__ import annotations

import sys
import time

from dockyard.cli import format as fmt
from dockyard.cli import jsonio
from dockyard.cli.client import quote
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, int_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

DEFAULT_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
TITLES = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
          "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
          "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
          "Platform": "PLATFORM"}


def check_filter(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq:
        raise ValueError("bad format of filter (expected name=value)")
    return key.strip().lower(), value.strip()


def filters_json(pairs: list[tuple[str, str]]) -> str | None:
    """filters.Args.ToJSON: {"status":{"running":true}}."""
    if not pairs:
        return None
    doc: dict[str, dict[str, bool]] = {}
    for key, value in pairs:
        doc.setdefault(key, {})[value] = True
    return jsonio.dumps(doc)


def go_json(value: Any) -> str:
    """json.Marshal as a MarshalJSON method does it: HTML characters escaped."""
    return jsonio.dumps(value, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


PS = Command("ps [OPTIONS]", "List containers", [
    bool_flag("all", "a", "Show all containers (default shows just running)"),
    list_flag("filter", "f", "Filter output based on conditions provided", check_filter, "filter"),
    str_flag("format", "", "Format output using a custom template:\n'table':            Print output in table format "
             "with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go "
             "template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given "
             "Go template"),
    int_flag("last", "n", "Show n last created containers (includes all states)", -1),
    bool_flag("latest", "l", "Show the latest created container (includes all states)"),
    bool_flag("no-trunc", "", "Don't truncate output"),
    bool_flag("quiet", "q", "Only display container IDs"),
    bool_flag("size", "s", "Display total file sizes"),
], max_args=0, aliases="dockyard container ls, dockyard container list, dockyard container ps, dockyard ps")


def display_ports(ports: list[dict[str, Any]]) -> str:
    """formatter.DisplayablePorts: `0.0.0.0:8080->80/tcp, 9000-9001/tcp`."""
    def key(p: dict[str, Any]) -> tuple[Any, ...]:
        return (p.get("PrivatePort", 0), p.get("IP", ""), p.get("PublicPort", 0), p.get("Type", ""))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for port in sorted(ports or [], key=key):
        current = int(port.get("PrivatePort", 0))
        group_key = str(port.get("Type", "tcp"))
        ip = str(port.get("IP") or "")
        if ip:
            public = int(port.get("PublicPort") or 0)
            if public != current:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{current}/{port.get('Type', 'tcp')}")
                continue
            group_key = f"{ip}/{port.get('Type', 'tcp')}"
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [current, current]
            order.append(group_key)
            continue
        if current == group[1] + 1:
            group[1] = current
            continue
        result.append(_form_group(group_key, group[0], group[1]))
        groups[group_key] = [current, current]
    for group_key in order:
        first, last = groups[group_key]
        result.append(_form_group(group_key, first, last))
    return ", ".join(result + mappings)


def _form_group(key: str, start: int, last: int) -> str:
    parts = key.split("/")
    kind = parts[-1]
    ip = parts[0] if len(parts) > 1 else ""
    group = str(start) if start == last else f"{start}-{last}"
    if ip:
        host = f"[{ip}]" if ":" in ip else ip
        group = f"{host}:{group}->{group}"
    return f"{group}/{kind}"


def familiar_image(image: str, image_id: str) -> str:
    if fmt.truncate_id(image_id) == fmt.truncate_id(image) and image.startswith("sha256:"):
        return fmt.truncate_id(image)
    name = image
    if "@" in name:
        name = name.split("@", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


class ContainerContext:
    """docker's formatter.ContainerContext over one /containers/json entry."""

    __slots__ = ("c", "now", "trunc")
    go_type = "*formatter.ContainerContext"

    def __init__(self, c: dict[str, Any], trunc: bool, now: float) -> None:
        self.c = c
        self.trunc = trunc
        self.now = now

    def ID(self) -> str:
        ident = str(self.c.get("Id", ""))
        return fmt.truncate_id(ident) if self.trunc else ident

    def Names(self) -> str:
        names = [n.lstrip("/") for n in self.c.get("Names") or []]
        if self.trunc:
            for name in names:
                if "/" not in name:
                    return str(name)
            return ""
        return ",".join(names)

    def Image(self) -> str:
        image = str(self.c.get("Image") or "")
        if not image:
            return "<no image>"
        return familiar_image(image, str(self.c.get("ImageID", ""))) if self.trunc else image

    def Command(self) -> str:
        command = str(self.c.get("Command", ""))
        if self.trunc:
            command = fmt.ellipsis(command, 20)
        from dockyard.cli.template import go_quote
        return go_quote(command)

    def CreatedAt(self) -> str:
        return fmt.go_time(int(self.c.get("Created", 0)))

    def RunningFor(self) -> str:
        return fmt.human_duration(self.now - int(self.c.get("Created", 0))) + " ago"

    def Ports(self) -> str:
        return display_ports(self.c.get("Ports") or [])

    def State(self) -> str:
        return str(self.c.get("State", ""))

    def Status(self) -> str:
        return str(self.c.get("Status", ""))

    def Size(self) -> str:
        rw = fmt.human_size(int(self.c.get("SizeRw") or 0))
        root = int(self.c.get("SizeRootFs") or 0)
        return f"{rw} (virtual {fmt.human_size(root)})" if root > 0 else rw

    def Labels(self) -> str:
        labels = self.c.get("Labels") or {}
        return ",".join(sorted(f"{k}={v}" for k, v in labels.items()))

    def Label(self, name: str) -> str:
        return str((self.c.get("Labels") or {}).get(name, ""))

    def Mounts(self) -> str:
        names = []
        for m in self.c.get("Mounts") or []:
            name = m.get("Name") or m.get("Source") or ""
            names.append(fmt.ellipsis(name, 15) if self.trunc else name)
        return ",".join(names)

    def LocalVolumes(self) -> str:
        return str(sum(1 for m in self.c.get("Mounts") or [] if m.get("Driver") == "local"))

    def Networks(self) -> str:
        return ",".join((self.c.get("NetworkSettings") or {}).get("Networks") or {})

    def Platform(self) -> None:
        return None

    def marshal(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in TITLES}

    def String(self) -> str:
        return "&{" + self.ID() + "}"


def ps(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = PS.parse(prog, argv)
    template = opts.text("format")
    quiet = opts.on("quiet")
    if template and quiet:
        sys.stderr.write("WARNING: Ignoring custom format, because both --format and --quiet are set.\n")
    size = opts.on("size")
    if template:
        from dockyard.cli.template import TemplateError, parse
        text, _ = fmt.template_string(template)
        try:
            parsed = parse(text)
        except TemplateError as e:
            raise CLIError(f"failed to parse template: {e}") from None
        probe = ContainerContext({}, True, 0.0)
        try:
            parsed.execute(probe)
        except TemplateError as e:
            raise CLIError(f"failed to execute template: {e}") from None
        if not quiet and not size and not opts.changed("size") and ".Size" in template:
            size = True
    limit = opts.num("last")
    if opts.on("latest") and limit == -1:
        limit = 1
    query: dict[str, str | int | bool | None] = {
        "all": 1 if opts.on("all") else None, "limit": limit if limit > 0 else None, "size": 1 if size else None,
        "filters": filters_json(opts.values("filter")),
    }
    containers = client.get("/containers/json", query)
    out = sys.stdout.write
    if quiet:
        form = "{{.ID}}"
    elif template in ("", "table"):
        form = DEFAULT_TABLE + ("\t{{.Size}}" if size else "")
    else:
        form = template
    now = time.time()
    items = [ContainerContext(c, not opts.on("no-trunc"), now) for c in containers]
    if form == "{{.ID}}":  # the common fast path of -q
        out("".join(item.ID() + "\n" for item in items))
        return 0
    if form in ("json", "{{json .}}"):
        out("".join(go_json(item.marshal()) + "\n" for item in items))
        return 0
    fmt.render(items, form, DEFAULT_TABLE, TITLES, out)
    return 0


def _host_port(binding: dict[str, Any]) -> str:
    host = str(binding.get("HostIp") or "0.0.0.0")
    return f"[{host}]:{binding.get('HostPort')}" if ":" in host else f"{host}:{binding.get('HostPort')}"


def _natural(text: str) -> list[tuple[int, int | str]]:
    """sortorder.NaturalLess: digit runs compare as numbers."""
    parts: list[tuple[int, int | str]] = []
    digits = ""
    chars = ""
    for ch in text:
        if ch.isdigit():
            if chars:
                parts.append((1, chars))
                chars = ""
            digits += ch
        else:
            if digits:
                parts.append((0, int(digits)))
                digits = ""
            chars += ch
    if digits:
        parts.append((0, int(digits)))
    if chars:
        parts.append((1, chars))
    return parts


PORT = Command("port CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container",
               [], min_args=1, max_args=2, aliases="dockyard container port, dockyard port")


def port(client: Client, prog: str, argv: list[str]) -> int:
    _, args = PORT.parse(prog, argv)
    info = client.get(f"/containers/{quote(args[0])}/json")
    ports: dict[str, Any] = ((info.get("NetworkSettings") or {}).get("Ports")) or {}
    lines: list[str] = []
    if len(args) == 2:
        wanted = args[1] if "/" in args[1] else args[1] + "/tcp"
        bindings = ports.get(wanted)
        if not bindings:
            raise CLIError(f"Error: No public port '{args[1]}' published for {args[0]}")
        lines = [_host_port(b) for b in bindings]
    else:
        for private, bindings in ports.items():
            lines.extend(f"{private} -> {_host_port(b)}" for b in bindings or [])
        lines.sort(key=_natural)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
