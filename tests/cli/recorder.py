"""A pass-through recorder between a client and the daemon's unix socket (or TLS/TCP in front of it).

Everything is forwarded unchanged, both ways, with half-closes, so hijacked attach/exec streams
work; what the client sent is kept per connection and parsed into requests afterwards. Tests use
it to see what a client put on the wire (API version, create bodies) — the daemon stays real.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


class Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


def parse_requests(data: bytes) -> list[Request]:
    requests: list[Request] = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    rest = rest.partition(b"\r\n")[2]
                    break
                body += rest[:size]
                rest = rest[size + 2:]
        else:
            length = int(headers.get("content-length", "0"))
            body, rest = rest[:length], rest[length:]
        requests.append(Request(method, path, headers, body))
        if headers.get("upgrade"):
            break  # the rest is a hijacked stream
        data = rest
    return requests


class Recorder:
    def __init__(self) -> None:
        self.connections: list[bytearray] = []
        self.lock = threading.Lock()

    def requests(self) -> list[Request]:
        with self.lock:
            return [r for conn in self.connections for r in parse_requests(bytes(conn))]

    def clear(self) -> None:
        with self.lock:
            self.connections.clear()


def _pipe(src: socket.socket, dst: socket.socket, record: bytearray | None, lock: threading.Lock) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record is not None:
                with lock:
                    record.extend(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            # a plain TCP half-close also for TLS (socket.socket's shutdown, not SSLSocket's, which
            # would drop the TLS session the other direction still uses)
            socket.socket.shutdown(dst, socket.SHUT_WR)


@contextmanager
def recording_proxy(target: str, listen: Path | None = None, tcp: bool = False,
                    tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, Recorder]]:
    """Listen on a unix socket (or 127.0.0.1:random with `tcp`, wrapped in `tls` if given) and
    forward to the unix socket path `target`. Yields the address for -H and the recorder."""
    recorder = Recorder()
    if tcp:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    else:
        assert listen is not None
        with suppress(FileNotFoundError):
            os.unlink(listen)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(listen))
        address = f"unix://{listen}"
    server.listen(64)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    def handle(client: socket.socket) -> None:
        if tls is not None:
            try:
                client = tls.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):
                client.close()
                return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(target)
        record = bytearray()
        with recorder.lock:
            recorder.connections.append(record)
        back = threading.Thread(target=_pipe, args=(upstream, client, None, recorder.lock), daemon=True)
        back.start()
        _pipe(client, upstream, record, recorder.lock)
        back.join(timeout=60)
        for s in (client, upstream):
            with suppress(OSError):
                s.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield address, recorder
    finally:
        stop.set()
        with suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=5)
        if listen is not None and not tcp:
            with suppress(FileNotFoundError):
                os.unlink(listen)
