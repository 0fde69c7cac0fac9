"""The userland port proxy: what docker-proxy does, for every published port of one container, in
one process that lives inside the container's network namespace.

Kernel facts this rests on:
- A socket belongs to the network namespace it was created in, whatever namespace the process is
  in later. The host sockets (ports.bind_all) are made in the host's namespace before the proxy
  joins the container's, so accept() and recvfrom() still serve the host, while every socket the
  proxy creates afterwards (one per TCP connection, one per UDP client) is the container's, and
  127.0.0.1 there is the container's own loopback. One setns(CLONE_NEWNET) at start, none per
  connection; no veth, no bridge, no iptables.
- setns(CLONE_NEWNET) needs CAP_SYS_ADMIN over the namespace's user namespace: the daemon's root.
- /proc/<pid>/ns/net of a process that already exited does not open; the proxy then exits (its
  container is gone, and so is the need for it).
- PR_SET_PDEATHSIG(SIGKILL): if the monitor (the proxy's parent) is killed, the proxy dies too, so
  no port stays bound with nobody in charge of it.

Relaying, as docker-proxy (libnetwork/cmd/proxy) does it:
- TCP: each accepted connection gets a new connection to 127.0.0.1:<port> in the container; a refused
  or failed connection closes the client's. Bytes are copied both ways; an EOF is passed on as a
  half-close (shutdown SHUT_WR), so request/response protocols that close their write side work;
  the pair is closed when both directions are done or either side fails. A direction buffers at
  most 256 KiB before it stops reading its source.
- UDP: one socket in the container per client address, connected to 127.0.0.1:<port>; replies go
  back from the host socket to that client; a client idle for 90 s is forgotten (docker-proxy's
  UDPConnTrackTimeout).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import time
from typing import Any, NoReturn

from dockyard.eventloop import set_interest
from dockyard.fds import close_fds_except
from dockyard.network.ports import Bound

_READ = 65536
_BUFFER_LIMIT = 256 << 10
_UDP_TIMEOUT = 90.0
_UDP_MAX_FLOWS = 4096
_ACCEPT_BATCH = 64


def spawn(container_pid: int, bound: list[Bound]) -> int:
    """Fork the proxy for `bound` (host sockets) into the network namespace of `container_pid`; its
    pid. The caller keeps its copies of the sockets and should close them. The child closes every
    other descriptor it inherited (a stdin pipe held open by it would never reach EOF)."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the proxy
        _child(parent, container_pid, bound)
    return pid


def _child(parent: int, container_pid: int, bound: list[Bound]) -> NoReturn:  # pragma: no cover
    code = 0
    try:
        from dockyard.runtime.linux import syscalls as sc

        sc.prctl(sc.PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the monitor died before the line above
            os._exit(0)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        keep = {b.sock.fileno() for b in bound}
        close_fds_except(keep)
        with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
            f.write("dockyard-proxy")
        _raise_nofile()
        fd = os.open(f"/proc/{container_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, sc.CLONE_NEWNET, "network")
        finally:
            os.close(fd)
        Proxy(bound).run()
    except BaseException:
        code = 1
    os._exit(code)


def _raise_nofile() -> None:
    """Two descriptors per TCP connection: the soft limit goes up to the hard one, as Go programs
    (docker-proxy) do it at start. Only here: the container's limits come from its spec."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Pair:
    """One proxied TCP connection: the host side (`client`) and the container side (`upstream`)."""

    __slots__ = ("client", "client_eof", "client_shut", "closed", "connecting", "to_client", "to_upstream", "up_eof",
                 "up_shut", "upstream")

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.to_client = bytearray()
        self.to_upstream = bytearray()
        self.client_eof = False  # the client sent EOF (passed on once to_upstream is empty)
        self.up_eof = False
        self.up_shut = self.client_shut = False  # our write side of that socket is shut
        self.connecting = True
        self.closed = False


class _Flow:
    """One UDP client: its address, the host socket it wrote to, the container-side socket."""

    __slots__ = ("address", "host", "last", "upstream")

    def __init__(self, host: socket.socket, address: Any, upstream: socket.socket) -> None:
        self.host = host
        self.address = address
        self.upstream = upstream
        self.last = time.monotonic()


class Proxy:
    def __init__(self, bound: list[Bound], target_host: str = "127.0.0.1") -> None:
        self.bound = bound
        self.target_host = target_host
        self.sel = selectors.DefaultSelector()
        self.flows: dict[tuple[int, Any], _Flow] = {}  # (host socket fd, client address) -> flow

    def run(self) -> NoReturn:
        for b in self.bound:
            b.sock.setblocking(False)
            self.sel.register(b.sock, selectors.EVENT_READ, ("listen" if b.proto == "tcp" else "udp", b))
        next_sweep = time.monotonic() + _UDP_TIMEOUT / 3
        while True:
            for key, mask in self.sel.select(timeout=10.0 if self.flows else None):
                kind, obj = key.data
                if kind == "listen":
                    self._accept(obj)
                elif kind == "udp":
                    self._udp_from_client(obj)
                elif kind == "flow":
                    self._udp_from_upstream(obj)
                else:
                    self._pair_event(obj, kind, mask)
            now = time.monotonic()
            if self.flows and now >= next_sweep:
                self._sweep(now)
                next_sweep = now + _UDP_TIMEOUT / 3

    # -- TCP ------------------------------------------------------------------------------------

    def _accept(self, b: Bound) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                client, _ = b.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE and friends: the connection stays queued, try again later
                return
            try:
                upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError:
                client.close()
                continue
            client.setblocking(False)
            upstream.setblocking(False)
            pair = _Pair(client, upstream)
            code = upstream.connect_ex((self.target_host, b.port))
            if code not in (0, errno.EINPROGRESS):
                self._close(pair)
                continue
            self.sel.register(upstream, selectors.EVENT_WRITE, ("up", pair))

    def _pair_event(self, pair: _Pair, side: str, mask: int) -> None:
        if pair.closed:
            return
        if pair.connecting:
            err = pair.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close(pair)  # refused: docker-proxy closes the client's connection too
                return
            pair.connecting = False
            self.sel.register(pair.client, selectors.EVENT_READ, ("client", pair))
            self._update(pair)
            return
        mine, other = (pair.client, pair.upstream) if side == "client" else (pair.upstream, pair.client)
        outgoing = pair.to_upstream if side == "client" else pair.to_client
        incoming = pair.to_client if side == "client" else pair.to_upstream
        if mask & selectors.EVENT_WRITE and incoming:
            if not self._send(pair, mine, incoming):
                return
        if mask & selectors.EVENT_READ:
            try:
                data = mine.recv(_READ)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._close(pair)
                return
            if data == b"":
                if side == "client":
                    pair.client_eof = True
                else:
                    pair.up_eof = True
            elif data:
                outgoing += data
                if not self._send(pair, other, outgoing):
                    return
        self._update(pair)

    def _send(self, pair: _Pair, sock: socket.socket, buf: bytearray) -> bool:
        try:
            n = sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._close(pair)
            return False
        del buf[:n]
        return True

    def _update(self, pair: _Pair) -> None:
        """Interest for both sockets from the buffers and EOFs; pass an EOF on once its direction is
        flushed; close the pair when both directions are done."""
        if pair.client_eof and not pair.to_upstream and not pair.up_shut:
            pair.up_shut = True
            with contextlib.suppress(OSError):
                pair.upstream.shutdown(socket.SHUT_WR)
        if pair.up_eof and not pair.to_client and not pair.client_shut:
            pair.client_shut = True
            with contextlib.suppress(OSError):
                pair.client.shutdown(socket.SHUT_WR)
        if pair.client_eof and pair.up_eof and not pair.to_client and not pair.to_upstream:
            self._close(pair)
            return
        for sock, side, reading, outgoing, incoming in (
                (pair.client, "client", not pair.client_eof, pair.to_upstream, pair.to_client),
                (pair.upstream, "up", not pair.up_eof, pair.to_client, pair.to_upstream)):
            events = 0
            if reading and len(outgoing) < _BUFFER_LIMIT:
                events |= selectors.EVENT_READ
            if incoming:
                events |= selectors.EVENT_WRITE
            set_interest(self.sel, sock, events, (side, pair))

    def _close(self, pair: _Pair) -> None:
        pair.closed = True
        for sock in (pair.client, pair.upstream):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(sock)
            sock.close()

    # -- UDP ------------------------------------------------------------------------------------

    def _udp_from_client(self, b: Bound) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                data, address = b.sock.recvfrom(_READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            key = (b.sock.fileno(), address)
            flow = self.flows.get(key)
            if flow is None:
                flow = self._new_flow(b, address)
                if flow is None:
                    continue
                self.flows[key] = flow
            flow.last = time.monotonic()
            with contextlib.suppress(OSError):  # a full buffer or an earlier ICMP error: the datagram is lost
                flow.upstream.send(data)

    def _new_flow(self, b: Bound, address: Any) -> _Flow | None:
        if len(self.flows) >= _UDP_MAX_FLOWS:
            self._drop_flow(min(self.flows, key=lambda k: self.flows[k].last))
        try:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            return None
        try:
            upstream.setblocking(False)
            upstream.connect((self.target_host, b.port))
        except OSError:
            upstream.close()
            return None
        flow = _Flow(b.sock, address, upstream)
        self.sel.register(upstream, selectors.EVENT_READ, ("flow", flow))
        return flow

    def _udp_from_upstream(self, flow: _Flow) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                data = flow.upstream.recv(_READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ECONNREFUSED: nothing listens in the container (yet)
                return
            flow.last = time.monotonic()
            with contextlib.suppress(OSError):
                flow.host.sendto(data, flow.address)

    def _sweep(self, now: float) -> None:
        for key in [k for k, f in self.flows.items() if now - f.last > _UDP_TIMEOUT]:
            self._drop_flow(key)

    def _drop_flow(self, key: tuple[int, Any]) -> None:
        flow = self.flows.pop(key)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(flow.upstream)
        flow.upstream.close()
