"""network/proxy.py's relay, run in a fork of the test (no namespace joined: the "container" is
this process's loopback). The namespace part is tested with real containers in tests/api/test_ports.py."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from dockyard.network import ports
from dockyard.network.proxy import Proxy


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def proxy_for(targets: list[tuple[int, str]]) -> Iterator[list[int]]:
    """A proxy process relaying a host port on 127.0.0.1 to each (target port, proto); the host ports."""
    bound = ports.bind_all([ports.Request(port, proto, ("127.0.0.1",), 0, 0) for port, proto in targets])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the proxy
        try:
            Proxy(bound).run()
        finally:
            os._exit(1)
    try:
        for b in bound:
            b.sock.close()
        yield [b.host_port for b in bound]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _serve_tcp(server: socket.socket) -> None:
    """Per connection: read to EOF, then answer with the length and digest of what came, and close."""
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            digest, size = hashlib.sha256(), 0
            while chunk := conn.recv(65536):
                digest.update(chunk)
                size += len(chunk)
            conn.sendall(f"{size} {digest.hexdigest()}".encode())


def test_tcp_relay_large_transfer_half_close_and_refused() -> None:
    refused_port = _free_port(socket.SOCK_STREAM)  # nothing listens there
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with proxy_for([(server.getsockname()[1], "tcp"), (refused_port, "tcp")]) as (port, refused):
            thread = threading.Thread(target=_serve_tcp, args=(server,), daemon=True)
            thread.start()
            payload = os.urandom(3 << 20)  # more than the relay buffers in each direction
            for _ in range(2):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    c.sendall(payload)
                    c.shutdown(socket.SHUT_WR)  # the half-close reaches the server through the proxy
                    answer = b""
                    while chunk := c.recv(65536):
                        answer += chunk
                assert answer.decode() == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
            with socket.create_connection(("127.0.0.1", refused), timeout=10) as c:
                with contextlib.suppress(ConnectionResetError):
                    assert c.recv(10) == b""  # the container side refused: the client's connection is closed
            server.shutdown(socket.SHUT_RDWR)
        thread.join(5)


def test_udp_relay_keeps_clients_apart() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)
        with proxy_for([(server.getsockname()[1], "udp")]) as (port,), \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
            a.settimeout(10)
            b.settimeout(10)
            seen = set()
            for client, text in ((a, b"from a"), (b, b"from b"), (a, b"a again")):
                client.sendto(text, ("127.0.0.1", port))
                data, peer = server.recvfrom(100)
                assert data == text
                seen.add(peer)
                server.sendto(b"re: " + data, peer)
                assert client.recvfrom(100) == (b"re: " + text, ("127.0.0.1", port))
            assert len(seen) == 2  # one container-side socket per client


def test_the_proxy_dies_with_its_parent() -> None:
    """PR_SET_PDEATHSIG: a monitor killed with -9 takes its proxy (and the host ports) along."""
    from dockyard.network import proxy

    if os.geteuid() != 0:
        pytest.skip("joins a network namespace: needs root")
    r, w = os.pipe()
    monitor = os.fork()
    if monitor == 0:  # pragma: no cover - stands for the monitor
        try:
            [b] = ports.bind_all([ports.Request(80, "tcp", ("127.0.0.1",), 0, 0)])
            child = proxy.spawn(os.getpid(), [b])  # joins our own namespace: the host's
            os.write(w, f"{child} {b.host_port}\n".encode())
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        child, port = (int(x) for x in f.readline().split())
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        os.kill(monitor, signal.SIGKILL)
        os.waitpid(monitor, 0)
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(f"/proc/{child}")
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # released
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(monitor, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(monitor, 0)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
