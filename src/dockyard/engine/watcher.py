"""The daemon's ear on its monitors: one thread, one selector over every control connection.

Each running container (and exec) has a control connection to its monitor: the socketpair made at
fork, or a `watch` connection made when a restarted daemon re-adopts the monitor. The monitor
writes JSON lines on it (`{"event": "exit", ...}`); EOF without an exit means the monitor died.
`Watcher.add(sock, key)` hands a connection over; `on_event(key, message)` is called in the
watcher's thread for every line, and `on_event(key, None)` at EOF.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

Handler = Callable[[str, "dict[str, Any] | None"], None]


class Watcher:
    def __init__(self, on_event: Handler) -> None:
        self._on_event = on_event
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._pending: list[tuple[socket.socket, str, bytes]] = []
        self._socks: dict[str, socket.socket] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="monitor-watcher", daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket, key: str, buffered: bytes = b"") -> None:
        """Watch `sock` for `key` ("c:<id>" or "e:<exec id>"); `buffered` is data already read from it."""
        with self._lock:
            self._pending.append((sock, key, buffered))
            self._socks[key] = sock
        self._wake_w.send(b"x")

    def send(self, key: str, message: dict[str, Any]) -> bool:
        """Write a control message (resize, close-stdin) to the monitor of `key`."""
        with self._lock:
            sock = self._socks.get(key)
        if sock is None:
            return False
        try:
            sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._stopped = True
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        for key in list(self._socks):
            self._socks.pop(key).close()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        buffers: dict[int, bytearray] = {}
        while not self._stopped:
            for skey, _ in self._sel.select():
                if skey.data is None:
                    try:
                        self._wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    with self._lock:
                        pending, self._pending = self._pending, []
                    for sock, key, buffered in pending:
                        sock.setblocking(False)
                        buffers[sock.fileno()] = bytearray(buffered)
                        self._sel.register(sock, selectors.EVENT_READ, key)
                        if buffered:
                            self._dispatch(key, buffers[sock.fileno()])
                    continue
                fileobj = skey.fileobj
                assert isinstance(fileobj, socket.socket)
                sock = fileobj
                key = str(skey.data)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                buf = buffers.setdefault(sock.fileno(), bytearray())
                if data:
                    buf += data
                    self._dispatch(key, buf)
                    continue
                self._sel.unregister(sock)
                buffers.pop(sock.fileno(), None)
                with self._lock:
                    if self._socks.get(key) is sock:
                        del self._socks[key]
                sock.close()
                self._call(key, None)

    def _dispatch(self, key: str, buf: bytearray) -> None:
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                self._call(key, message)

    def _call(self, key: str, message: dict[str, Any] | None) -> None:
        try:
            self._on_event(key, message)
        except Exception:
            import traceback

            traceback.print_exc()
