"""network/ports.py: dockerd's rules for what a container's ports are published on, and the bound
sockets (all on loopback)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from dockyard.network import ports
from dockyard.network.ports import BindFailed, Request

ANY = ("0.0.0.0", "::") if ports.ipv6_listenable() else ("0.0.0.0",)


def test_exposed_ports_drive_and_explicit_ones_come_first() -> None:
    exposed = {"90/tcp": {}, "80/tcp": {}, "53/udp": {}, "7/sctp": {}, "100/tcp": {}}
    bindings = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostIp": "", "HostPort": ""}],
                "100/tcp": [{"HostIp": "", "HostPort": "9000-9002"}, {"HostIp": "::1", "HostPort": "0"}],
                "99/tcp": [{"HostIp": "", "HostPort": "9999"}],  # not exposed: dockerd ignores it
                "7/sctp": [{"HostIp": "", "HostPort": "7"}]}  # sctp is not published
    assert ports.plan(exposed, bindings, False) == [
        Request(80, "tcp", ("127.0.0.1",), 8080, 8080), Request(100, "tcp", ANY, 9000, 9002),
        Request(53, "udp", ANY, 0, 0), Request(100, "tcp", ("::1",), 0, 0)]
    # -P: every exposed port without a binding gets an ephemeral one.
    assert ports.plan(exposed, bindings, True)[3] == Request(90, "tcp", ANY, 0, 0)
    assert ports.plan(None, bindings, True) == []


@pytest.mark.parametrize(("host_ip", "default", "expected"), [
    ("", "0.0.0.0", ANY), ("0.0.0.0", "0.0.0.0", ("0.0.0.0",)), ("::", "0.0.0.0", ("::",)),
    ("bogus", "0.0.0.0", ANY), ("::ffff:127.0.0.1", "0.0.0.0", ("127.0.0.1",)),
    ("", "127.0.0.1", ("127.0.0.1",)), ("::1", "127.0.0.1", ("::1",)),
])
def test_host_addresses(host_ip: str, default: str, expected: tuple[str, ...]) -> None:
    [r] = ports.plan({"80/tcp": {}}, {"80/tcp": [{"HostIp": host_ip, "HostPort": "80"}]}, False, default)
    assert r.host_ips == expected


@pytest.mark.parametrize(("host_port", "expected"), [
    ("", (0, 0)), ("0", (0, 0)), ("8080", (8080, 8080)), ("8080/tcp", (8080, 8080)), ("8000-8010", (8000, 8010))])
def test_host_ports(host_port: str, expected: tuple[int, int]) -> None:
    [r] = ports.plan({"80/tcp": {}}, {"80/tcp": [{"HostPort": host_port}]}, False)
    assert (r.host_port, r.host_port_end) == expected
    assert Request.from_json(r.to_json()) == r


def test_network_modes() -> None:
    assert ports.publishes({"NetworkMode": "default"}) and ports.publishes({"NetworkMode": "bridge"})
    assert ports.publishes({})
    assert not any(ports.publishes({"NetworkMode": m}) for m in ("host", "none", "container:abc"))


def test_network_settings_ports_and_the_allocator_check() -> None:
    bound = [{"port": 80, "proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080},
             {"port": 80, "proto": "tcp", "host_ip": "::", "host_port": 8080}]
    shown = ports.network_ports({"80/tcp": {}, "90/udp": {}}, bound)
    assert shown == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
                     "90/udp": None}
    taken = ports.allocated(shown)
    assert taken == {("tcp", "0.0.0.0", 8080), ("tcp", "::", 8080)}
    ports.check_allocated([Request(80, "udp", ("0.0.0.0",), 8080, 8080)], taken)  # another protocol
    ports.check_allocated([Request(80, "tcp", ("127.0.0.1",), 8080, 8080)], taken)  # another address
    with pytest.raises(BindFailed, match=r"^Bind for :::8080 failed: port is already allocated$"):
        ports.check_allocated([Request(81, "tcp", ("::",), 8080, 8080)], taken)


@contextlib.contextmanager
def held(kind: int = socket.SOCK_STREAM) -> Iterator[int]:
    """A loopback port held by this test (listening, for TCP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            s.listen()
        yield s.getsockname()[1]


def free(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_bind_ephemeral_tcp_and_udp() -> None:
    both = ("127.0.0.1", "::1") if ports.ipv6_listenable() else ("127.0.0.1",)
    bound = ports.bind_all([Request(80, "tcp", both, 0, 0), Request(53, "udp", ("127.0.0.1",), 0, 0)])
    try:
        assert [(b.port, b.proto, b.host_ip) for b in bound] == \
            [(80, "tcp", ip) for ip in both] + [(53, "udp", "127.0.0.1")]
        assert len({b.host_port for b in bound[:len(both)]}) == 1  # one number on every address
        assert all(b.host_port > 0 for b in bound)
        assert bound[0].sock.type == socket.SOCK_STREAM and bound[-1].sock.type == socket.SOCK_DGRAM
        assert bound[-1].to_json() == {"port": 53, "proto": "udp", "host_ip": "127.0.0.1",
                                       "host_port": bound[-1].host_port}
    finally:
        for b in bound:
            b.sock.close()


def test_bind_failure_leaves_nothing_bound() -> None:
    with held() as taken, held() as first_port:
        pass  # two ports free a moment ago; now hold only `taken`
    with socket.socket() as s:
        s.bind(("127.0.0.1", taken))
        s.listen()
        with pytest.raises(BindFailed) as info:
            ports.bind_all([Request(80, "tcp", ("127.0.0.1",), first_port, first_port),
                            Request(81, "tcp", ("127.0.0.1",), taken, taken)])
        assert str(info.value) == f"listen tcp4 127.0.0.1:{taken}: bind: address already in use"
        assert free(first_port)  # the first binding was undone
        if free(taken + 1):  # a range moves on to its next port
            [b] = ports.bind_all([Request(80, "tcp", ("127.0.0.1",), taken, taken + 1)])
            with b.sock:
                assert b.host_port == taken + 1
    with held(socket.SOCK_DGRAM) as udp, pytest.raises(BindFailed, match=f"^listen udp4 127.0.0.1:{udp}: bind: "):
        ports.bind_all([Request(53, "udp", ("127.0.0.1",), udp, udp)])
