"""Published ports: which host addresses a container's ports go to, and the listening sockets.

Docker's rules, as dockerd 20.10 applies them (moby daemon/network.go `buildCreateEndpointOptions`,
libnetwork bridge `allocatePorts`, portmapper, docker-proxy), without a bridge or iptables:

- The container's ExposedPorts drive. Each exposed port gets the HostConfig.PortBindings given for
  it or, with PublishAllPorts and none given, one binding on an ephemeral host port. A binding for a
  port that is not exposed is ignored, as dockerd ignores it (the docker CLI exposes every port it
  publishes).
- Bindings with an explicit host port are made first (nat.SortPortMap), so an ephemeral one never
  takes a port asked for by number.
- HostIp "" is the daemon's default binding address (dockerd's `--ip`, 0.0.0.0 by default). 0.0.0.0
  there means "::" as well when this host can listen on IPv6 (20.10's implicit IPv6 binding; that
  side is proxied to the container's IPv4 loopback, as docker-proxy proxies it to the container's
  IPv4 address). A HostIp given, 0.0.0.0 included, is that address only. A HostIp that does not
  parse counts as "" (dockerd's net.ParseIP gives nil there).
- HostPort "" or "0": an ephemeral port chosen by the kernel (bind to port 0; dockerd's allocator
  picks from the same ip_local_port_range), the same number for the IPv4 and IPv6 sockets. "a-b":
  the first port of the range that binds on every address.
- TCP listeners have SO_REUSEADDR (as Go's net.Listen) and IPv6 ones IPV6_V6ONLY (docker-proxy
  listens on "tcp6"/"udp6"), so 0.0.0.0:P and [::]:P are two sockets, as they are two docker-proxies.
- A failed bind keeps docker-proxy's words: `listen tcp4 0.0.0.0:18080: bind: address already in use`;
  the engine wraps it as dockerd does (`driver failed programming external connectivity on endpoint
  ...: Error starting userland proxy: ...`). A port another container of this daemon holds is refused
  before any bind with the port allocator's words (`port_allocated`).

SCTP ports are not published (they stay exposed-only).
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from typing import Any

from dockyard.errors import DockyardError

PROTOCOLS = ("tcp", "udp")  # published ones; sctp stays exposed-only
_EPHEMERAL_TRIES = 32  # an ephemeral port free on 0.0.0.0 but taken on ::, tried again this many times


class BindFailed(DockyardError):
    """A host port could not be bound; the message is docker-proxy's (`listen tcp4 ...: bind: ...`)."""


@dataclass(frozen=True)
class Request:
    """One PortBindings entry (or a PublishAllPorts one) as it will be bound: the container's port,
    the host addresses (0.0.0.0 and :: for HostIp "") and the host port range (0, 0: ephemeral)."""

    port: int
    proto: str
    host_ips: tuple[str, ...]
    host_port: int
    host_port_end: int

    @property
    def key(self) -> str:
        return f"{self.port}/{self.proto}"

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "proto": self.proto, "host_ips": list(self.host_ips),
                "host_port": self.host_port, "host_port_end": self.host_port_end}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Request:
        return cls(int(doc["port"]), str(doc["proto"]), tuple(str(ip) for ip in doc["host_ips"]),
                   int(doc["host_port"]), int(doc["host_port_end"]))


@dataclass
class Bound:
    """A listening (tcp) or bound (udp) host socket and the container port it leads to."""

    port: int
    proto: str
    host_ip: str
    host_port: int
    sock: socket.socket

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "proto": self.proto, "host_ip": self.host_ip, "host_port": self.host_port}


def publishes(host_config: dict[str, Any]) -> bool:
    """Whether a container in this HostConfig (inspect's form) has its ports published at all: not
    with `--network host` (dockerd warns at create and drops them), `none` (no network: dockerd's
    null driver ignores them) or `container:<x>` (refused at create)."""
    mode = str(host_config.get("NetworkMode") or "default")
    return mode not in ("host", "none") and not mode.startswith("container:")


def plan(exposed: dict[str, Any] | None, bindings: dict[str, Any] | None, publish_all: bool,
         default_ip: str = "0.0.0.0") -> list[Request]:
    """The requests to bind, in dockerd's order, from Config.ExposedPorts, HostConfig.PortBindings
    and HostConfig.PublishAllPorts (all as inspect shows them); `default_ip` for HostIp ""."""
    explicit: list[Request] = []
    ephemeral: list[Request] = []
    for key in sorted(exposed or {}, key=_port_order):
        number, proto = _split_port(key)
        if number is None or proto not in PROTOCOLS:
            continue
        given = (bindings or {}).get(key) or []
        if not given and publish_all:
            given = [{"HostIp": "", "HostPort": ""}]
        for b in given:
            if not isinstance(b, dict):
                continue
            start, end = _host_range(str(b.get("HostPort") or ""))
            request = Request(number, proto, _host_ips(str(b.get("HostIp") or ""), default_ip), start, end)
            (explicit if start else ephemeral).append(request)
    return explicit + ephemeral


def exposed_only(exposed: dict[str, Any] | None) -> dict[str, None]:
    """NetworkSettings.Ports entries of the exposed ports (null until something is bound to them)."""
    return {key: None for key in exposed or {}}


def network_ports(exposed: dict[str, Any] | None, bound: list[dict[str, Any]]) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports of a running container: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort":
    "18080"}], "90/tcp": null}` from the exposed ports and what `Bound.to_json()` reported."""
    out: dict[str, list[dict[str, str]] | None] = dict(exposed_only(exposed))
    for b in bound:
        key = f"{b['port']}/{b['proto']}"
        entries = out.get(key)
        if entries is None:
            entries = out[key] = []
        entries.append({"HostIp": str(b["host_ip"]), "HostPort": str(b["host_port"])})
    return out


def allocated(ports: dict[str, Any] | None) -> set[tuple[str, str, int]]:
    """(proto, host ip, host port) of each binding in a NetworkSettings.Ports map."""
    out: set[tuple[str, str, int]] = set()
    for key, entries in (ports or {}).items():
        _, proto = _split_port(key)
        for e in entries or []:
            try:
                out.add((proto, str(e.get("HostIp", "")), int(e.get("HostPort", ""))))
            except (TypeError, ValueError):
                continue
    return out


def check_allocated(requests: list[Request], taken: set[tuple[str, str, int]]) -> None:
    """dockerd's port allocator: a host port (by number) already bound for another container is
    refused before anything is bound (`Bind for 0.0.0.0:18080 failed: port is already allocated`)."""
    for r in requests:
        if r.host_port and r.host_port == r.host_port_end:
            for ip in r.host_ips:
                if (r.proto, ip, r.host_port) in taken:
                    raise BindFailed(port_allocated(ip, r.host_port))


def port_allocated(ip: str, port: int) -> str:
    """portallocator.ErrPortAlreadyAllocated (the address as Go prints it: `:::80` for ::)."""
    return f"Bind for {ip}:{port} failed: port is already allocated"


def bind_all(requests: list[Request]) -> list[Bound]:
    """Bind every request (see the module docstring); all or nothing: on a failure every socket
    made is closed and BindFailed says which address failed."""
    bound: list[Bound] = []
    try:
        for r in requests:
            bound.extend(_bind_request(r))
    except BaseException:
        for b in bound:
            b.sock.close()
        raise
    return bound


def _bind_request(r: Request) -> list[Bound]:
    if r.host_port == 0:
        last: BindFailed | None = None
        for _ in range(_EPHEMERAL_TRIES):
            try:
                return _bind_on_every_ip(r, 0)
            except _Retry as retry:
                last = retry.error
        assert last is not None
        raise last
    error: BindFailed | None = None
    for port in range(r.host_port, r.host_port_end + 1):
        try:
            return _bind_on_every_ip(r, port)
        except _Retry as retry:
            error = retry.error
    assert error is not None
    raise error


class _Retry(Exception):
    def __init__(self, error: BindFailed) -> None:
        super().__init__(str(error))
        self.error = error


def _bind_on_every_ip(r: Request, port: int) -> list[Bound]:
    """Bind `port` (0: the kernel's choice, kept for the next addresses) on each of r's addresses.
    _Retry when one is in use and another port may do (an ephemeral port or a range)."""
    out: list[Bound] = []
    try:
        for ip in r.host_ips:
            try:
                sock = _listen(r.proto, ip, port)
            except OSError as err:
                failed = BindFailed(_listen_error(r.proto, ip, port, err))
                if err.errno == errno.EADDRINUSE and (r.host_port == 0 or r.host_port != r.host_port_end):
                    raise _Retry(failed) from None
                raise failed from None
            port = sock.getsockname()[1]
            out.append(Bound(r.port, r.proto, ip, port, sock))
    except BaseException:
        for b in out:
            b.sock.close()
        raise
    return out


def _listen(proto: str, ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        if proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((ip, port))
        if proto == "tcp":
            sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _listen_error(proto: str, ip: str, port: int, err: OSError) -> str:
    """Go's *net.OpError text for a failed Listen: `listen tcp4 0.0.0.0:80: bind: address already in use`."""
    version = "6" if ":" in ip else "4"
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    text = os.strerror(err.errno).lower() if err.errno else str(err)
    return f"listen {proto}{version} {address}: bind: {text}"


_V6: list[bool] = []


def ipv6_listenable() -> bool:
    """netutils.IsV6Listenable: can a socket listen on [::1]? (Not when IPv6 is disabled.)"""
    if not _V6:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
            _V6.append(True)
        except OSError:
            _V6.append(False)
    return _V6[0]


def _host_ips(text: str, default_ip: str) -> tuple[str, ...]:
    ip = _parse_ip(text)
    if ip is None:
        if default_ip == "0.0.0.0":  # and :: where IPv6 works (20.10's implicit binding)
            return ("0.0.0.0", "::") if ipv6_listenable() else ("0.0.0.0",)
        return (default_ip,)
    return (ip,)


def _parse_ip(text: str) -> str | None:
    """An address as Go's net.ParseIP reads it (an IPv4-mapped IPv6 one is IPv4); None if not one."""
    import ipaddress  # here: the monitors import this module, and only plan() needs it

    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def valid_default_ip(text: str) -> str:
    """dockerd's `--ip` (opts.IPOpt): the address, normalised; ValueError in its words when not one."""
    ip = _parse_ip(text)
    if ip is None:
        raise ValueError(f"{text} is not an ip address")
    return ip


def _host_range(text: str) -> tuple[int, int]:
    """HostPort as nat.ParsePortRange reads it ("/proto" dropped): "" and "0" are ephemeral."""
    text = text.split("/", 1)[0]
    lo, sep, hi = text.partition("-")
    try:
        start = int(lo) if lo else 0
        end = int(hi) if sep else start
    except ValueError:
        return 0, 0
    if not 0 <= start <= end <= 65535:
        return 0, 0
    return start, end


def _split_port(key: str) -> tuple[int | None, str]:
    number, _, proto = key.partition("/")
    try:
        return int(number), (proto or "tcp").lower()
    except ValueError:
        return None, (proto or "tcp").lower()


def _port_order(key: str) -> tuple[int, str]:
    number, proto = _split_port(key)
    return (number if number is not None else -1), proto
