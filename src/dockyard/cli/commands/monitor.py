"""`top` and `stats`: processes and resource usage of running containers."""

from __future__ import annotations

import sys

from dockyard.cli import format as fmt
from dockyard.cli.client import quote
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

TOP = Command("top CONTAINER [ps OPTIONS]", "Display the running processes of a container", [], min_args=1,
              interspersed=False, aliases="dockyard container top, dockyard top")
STATS = Command("stats [OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics", [
    bool_flag("all", "a", "Show all containers (default shows just running)"),
    str_flag("format", "", "Format output using a custom template"),
    bool_flag("no-stream", "", "Disable streaming stats and only pull the first result"),
    bool_flag("no-trunc", "", "Do not truncate output"),
], aliases="dockyard container stats, dockyard stats")


def top(client: Client, prog: str, argv: list[str]) -> int:
    _, args = TOP.parse(prog, argv)
    query: dict[str, str | int | bool | None] | None = {"ps_args": " ".join(args[1:])} if len(args) > 1 else None
    result = client.get(f"/containers/{quote(args[0])}/top", query)
    titles = result.get("Titles") or []
    lines = ["\t".join(titles)]
    lines += ["\t".join(str(p) for p in proc) for proc in result.get("Processes") or []]
    # docker: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
    sys.stdout.write(fmt.tabwrite("\n".join(lines) + "\n", minwidth=20, padding=3))
    return 0


STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
STATS_TITLES = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
                "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                "PIDs": "PIDS"}


class StatsContext:
    """docker's statsContext over one stats sample (None = no data: `--`)."""

    __slots__ = ("container", "s", "trunc")
    go_type = "*container.statsContext"

    def __init__(self, container: str, s: dict[str, Any] | None, trunc: bool) -> None:
        self.container = container
        self.s = s
        self.trunc = trunc

    def Container(self) -> str:
        return self.container

    def Name(self) -> str:
        name = str((self.s or {}).get("name", "")).lstrip("/")
        return name or "--"

    def ID(self) -> str:
        ident = str((self.s or {}).get("id", ""))
        return fmt.truncate_id(ident) if self.trunc else ident

    def CPUPerc(self) -> str:
        if self.s is None:
            return "--"
        cpu = self.s.get("cpu_stats") or {}
        pre = self.s.get("precpu_stats") or {}
        delta = float((cpu.get("cpu_usage") or {}).get("total_usage", 0)) - float(
            (pre.get("cpu_usage") or {}).get("total_usage", 0))
        system = float(cpu.get("system_cpu_usage", 0)) - float(pre.get("system_cpu_usage", 0))
        online = float(cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []))
        percent = delta / system * online * 100.0 if system > 0 and delta > 0 else 0.0
        return f"{percent:.2f}%"

    def _memory(self) -> tuple[float, float]:
        mem = (self.s or {}).get("memory_stats") or {}
        usage = float(mem.get("usage", 0))
        stats = mem.get("stats") or {}
        if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:
            usage -= float(stats["total_inactive_file"])
        elif stats.get("inactive_file", usage) < usage:
            usage -= float(stats["inactive_file"])
        return usage, float(mem.get("limit", 0))

    def MemUsage(self) -> str:
        if self.s is None:
            return "-- / --"
        usage, limit = self._memory()
        return f"{fmt.bytes_size(usage)} / {fmt.bytes_size(limit)}"

    def MemPerc(self) -> str:
        if self.s is None:
            return "--"
        usage, limit = self._memory()
        return f"{usage / limit * 100.0 if limit else 0.0:.2f}%"

    def NetIO(self) -> str:
        if self.s is None:
            return "--"
        nets = (self.s.get("networks") or {}).values()
        rx = sum(float(n.get("rx_bytes", 0)) for n in nets)
        tx = sum(float(n.get("tx_bytes", 0)) for n in nets)
        return f"{fmt.human_size(rx)} / {fmt.human_size(tx)}"

    def BlockIO(self) -> str:
        if self.s is None:
            return "--"
        read = write = 0.0
        for entry in (self.s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
            op = str(entry.get("op", ""))[:1].lower()
            if op == "r":
                read += float(entry.get("value", 0))
            elif op == "w":
                write += float(entry.get("value", 0))
        return f"{fmt.human_size(read)} / {fmt.human_size(write)}"

    def PIDs(self) -> str:
        if self.s is None:
            return "--"
        return str(int((self.s.get("pids_stats") or {}).get("current", 0)))

    def marshal(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in STATS_TITLES}


def _render(rows: list[StatsContext], form: str) -> str:
    out: list[str] = []
    if form in ("json", "{{json .}}"):
        from dockyard.cli.commands.ps import go_json
        return "".join(go_json(r.marshal()) + "\n" for r in rows)
    fmt.render(rows, form, STATS_TABLE, STATS_TITLES, out.append)
    return "".join(out)


def stats(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = STATS.parse(prog, argv)
    form = opts.text("format") or STATS_TABLE
    if form == "table":
        form = STATS_TABLE
    trunc = not opts.on("no-trunc")
    names = list(args)
    if not names:
        listed = client.get("/containers/json", {"all": 1 if opts.on("all") else None})
        names = [str(c["Id"]) for c in listed]
    if opts.on("no-stream"):
        rows: list[StatsContext] = []
        errors: list[str] = []
        for name in names:
            try:
                sample = client.get(f"/containers/{quote(name)}/stats", {"stream": 0})
            except CLIError as e:
                if args:
                    errors.append(e.message)
                    continue
                sample = None
            rows.append(StatsContext(name, sample or None, trunc))
        if errors:
            raise CLIError("\n".join(errors))
        sys.stdout.write(_render(rows, form))
        return 0
    return _stream_stats(client, names, form, trunc)


def _stream_stats(client: Client, names: list[str], form: str, trunc: bool) -> int:
    """Live table: one reader thread per container, the screen redrawn every half second."""
    import threading
    import time
    latest: dict[str, dict[str, Any] | None] = {name: None for name in names}
    lock = threading.Lock()

    def follow(name: str) -> None:
        try:
            resp = client.request("GET", f"/containers/{quote(name)}/stats", {"stream": 1})
            for sample in client.stream_json(resp):
                with lock:
                    latest[name] = sample
        except (CLIError, OSError):
            with lock:
                latest[name] = None

    for name in names:
        threading.Thread(target=follow, args=(name,), daemon=True).start()
    try:
        while True:
            time.sleep(0.5)
            with lock:
                rows = [StatsContext(name, latest[name], trunc) for name in names]
            sys.stdout.write("\033[2J\033[H" + _render(rows, form))
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
