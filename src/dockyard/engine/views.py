"""Docker's JSON shapes of containers: inspect, list (with its filters), and the status line."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard.engine.container import Container, parse_rfc3339
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.gounits import human_duration
from dockyard.images.service import parse_until

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine

LIST_FILTERS = {"ancestor", "before", "expose", "exited", "health", "id", "is-task", "isolation", "label",
                "name", "network", "publish", "since", "status", "volume"}
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def status_line(c: Container, now: float | None = None) -> str:
    now = time.time() if now is None else now
    st = c.state
    if st.status in ("running", "paused"):
        text = f"Up {human_duration(now - parse_rfc3339(st.started_at))}"
        if st.status == "paused":
            return text + " (Paused)"
        health = (st.health or {}).get("Status")
        if health == "starting":
            return text + " (health: starting)"
        if health in ("healthy", "unhealthy"):
            return f"{text} ({health})"
        return text
    if st.status == "restarting":
        return f"Restarting ({st.exit_code}) {human_duration(now - parse_rfc3339(st.finished_at))} ago"
    if st.status == "removing":
        return "Removal In Progress"
    if st.status == "dead":
        return "Dead"
    if st.status == "exited" and parse_rfc3339(st.finished_at):
        return f"Exited ({st.exit_code}) {human_duration(now - parse_rfc3339(st.finished_at))} ago"
    return "Created"


def _command(c: Container) -> str:
    return " ".join([c.path, *c.args]) if c.path else ""


def inspect(engine: Engine, c: Container, size: bool = False) -> dict[str, Any]:
    cdir = engine.container_dir(c.id)
    mounts = [{k: v for k, v in m.items() if k != "Anonymous"} for m in c.mounts]
    host_config = dict(c.host_config)
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": c.state.to_json(),
        "Image": c.image_id,
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "LogPath": str(engine.log_path(c.id)) if c.log_driver == "json-file" else "",
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": engine.images.driver_name(),
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": engine.execs.ids_of(c.id) or None,
        "HostConfig": host_config,
        "GraphDriver": _graph_driver(engine, c),
        "Mounts": mounts,
        "Config": c.config,
        "NetworkSettings": _network_settings(c),
    }
    if size:
        rw = engine._rw_size(c)
        out["SizeRw"] = rw
        out["SizeRootFs"] = rw + _image_size(engine, c)
    return out


def _image_size(engine: Engine, c: Container) -> int:
    try:
        return int(engine.images.store.image(c.image_id).size)
    except Exception:
        return 0


def _graph_driver(engine: Engine, c: Container) -> dict[str, Any]:
    data: dict[str, str] = {}
    try:
        for m in engine.images.snapshotter.mounts(c.snapshot_key):
            for key, name in (("lowerdir", "LowerDir"), ("upperdir", "UpperDir"), ("workdir", "WorkDir")):
                value = m.option(key)
                if value:
                    data[name] = value
        data["MergedDir"] = str(engine.rootfs_dir(c.id))
    except Exception:
        pass
    return {"Data": data or None, "Name": "overlay2" if engine.images.driver_name() == "overlayfs" else "vfs"}


def _network_settings(c: Container) -> dict[str, Any]:
    mode = c.host_config.get("NetworkMode") or "default"
    return {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": dict(c.ports), "SandboxKey": "", "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        "Networks": {mode: {"NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                            "MacAddress": ""}} if mode in ("none", "host") else {},
    }


def list_ports(ports: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The list's `Ports` from NetworkSettings.Ports (moby container/view.go): an exposed port alone
    as {PrivatePort, Type}, each binding as {IP, PrivatePort, PublicPort, Type}."""
    out: list[dict[str, Any]] = []
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if not number.isdigit():
            continue
        if not bindings:
            out.append({"PrivatePort": int(number), "Type": proto or "tcp"})
            continue
        for b in bindings:
            entry: dict[str, Any] = {"PrivatePort": int(number), "Type": proto or "tcp"}
            if b.get("HostIp"):
                entry["IP"] = b["HostIp"]
            if str(b.get("HostPort", "")).isdigit() and int(b["HostPort"]):
                entry["PublicPort"] = int(b["HostPort"])
            out.append(dict(sorted(entry.items())))
    return out


def summary(engine: Engine, c: Container, size: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": [c.name],
        "Image": c.image_name or c.image_id,
        "ImageID": c.image_id,
        "Command": _command(c),
        "Created": int(parse_rfc3339(c.created)),
        "Ports": list_ports(c.ports),
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status,
        "Status": status_line(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [{k: v for k, v in m.items() if k != "Anonymous"} for m in c.mounts],
    }
    if size:
        rw = engine._rw_size(c)
        out["SizeRw"] = rw
        out["SizeRootFs"] = rw + _image_size(engine, c)
    return out


def parse_filters(text: str) -> dict[str, list[str]]:
    """Docker's `filters` query parameter: {"key": ["v"]} or the old {"key": {"v": true}}."""
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise InvalidArgument(f"invalid filter: {err}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid filter: not an object")
    out: dict[str, list[str]] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out[key] = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return out


def labels_match(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def prune_filters(filters: Mapping[str, list[str]]) -> tuple[float | None, list[str]]:
    unknown = set(filters) - {"until", "label", "label!"}
    if unknown:
        raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
    until = None
    for value in filters.get("until", []):
        until = parse_until(value)
    return until, list(filters.get("label", []))


def list_containers(engine: Engine, *, all: bool = False, limit: int = -1, size: bool = False,
                    filters: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
    filters = filters or {}
    for key in filters:
        if key not in LIST_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for value in filters.get("status", []):
        if value not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
    exited: list[int] = []
    for value in filters.get("exited", []):
        try:
            exited.append(int(value))
        except ValueError:
            raise InvalidArgument(f"invalid filter 'exited={value}'") from None
    containers = sorted(engine.containers.values(), key=lambda c: c.created, reverse=True)
    before = since = None
    for value in filters.get("before", []):
        before = engine.get(value).created
    for value in filters.get("since", []):
        since = engine.get(value).created
    if filters.get("status") or exited:
        all = True
    if before is not None or since is not None:
        all = True
    publish = _port_filter("publish", filters.get("publish", []))
    expose = _port_filter("expose", filters.get("expose", []))
    ancestors: set[str] = set()
    for value in filters.get("ancestor", []):
        try:
            ancestors.add(engine.images.resolve(value).id)
        except Exception:
            ancestors.add("\0" + value)
    out: list[dict[str, Any]] = []
    for c in containers:
        st = c.state.status
        if not all and st not in ("running", "paused", "restarting"):
            continue
        if before is not None and c.created >= before:
            continue
        if since is not None and c.created <= since:
            continue
        if filters.get("status") and st not in filters["status"]:
            continue
        if exited and (st != "exited" or c.state.exit_code not in exited):
            continue
        if filters.get("id") and not any(c.id.startswith(v) for v in filters["id"]):
            continue
        if filters.get("name") and not any(_name_matches(v, c.name) for v in filters["name"]):
            continue
        if not labels_match(filters.get("label", []), c.config.get("Labels") or {}):
            continue
        if ancestors and c.image_id not in ancestors and c.image_name not in filters["ancestor"]:
            continue
        if filters.get("health"):
            health = (c.state.health or {}).get("Status", "none")
            if health not in filters["health"]:
                continue
        if publish and not any(c.ports.get(p) for p in publish):
            continue
        if expose and not any(p in c.ports for p in expose):
            continue
        out.append(summary(engine, c, size))
        if 0 < limit <= len(out):
            break
    return out


def _port_filter(key: str, values: Sequence[str]) -> set[str]:
    """moby's portOp: `80`, `80/udp`, `8000-8080/tcp` as the "80/tcp" keys they name. The filters
    then look at NetworkSettings.Ports as dockerd 20.10 does: `publish` at its ports with a binding,
    `expose` at all of them (so a container that is not running matches neither)."""
    out: set[str] = set()
    for value in values:
        if ":" in value:
            raise DockyardError(f"filter for '{key}' should not contain ':': {value}")
        parts = value.split("/")
        port, proto = parts[0], (parts[1] if len(parts) > 1 and parts[1] else "tcp")
        try:
            start, end = _port_range(port)
        except ValueError as err:
            raise DockyardError(f"error while looking up for {key} {value}: {err}") from None
        out.update(f"{n}/{proto}" for n in range(start, end + 1))
    return out


def _port_range(text: str) -> tuple[int, int]:
    """nat.ParsePortRange, with Go's strconv.ParseUint errors."""
    if text == "":
        raise ValueError("Empty string specified for ports.")
    if "-" not in text:
        n = _parse_uint16(text)
        return n, n
    first, second = text.split("-")[:2]
    start, end = _parse_uint16(first), _parse_uint16(second)
    if end < start:
        raise ValueError(f"Invalid range specified for the Port: {text}")
    return start, end


def _parse_uint16(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def _name_matches(pattern: str, name: str) -> bool:
    import re

    try:
        return re.search(pattern, name) is not None or re.search(pattern, name.lstrip("/")) is not None
    except re.error:
        return pattern in name
