"""The monitor zygote: a small fork of the daemon, made before the daemon grows, that forks monitors.

Why: a monitor is a fork, and a fork's cost grows with its parent. Forked from the full daemon
(aiohttp, SQLite, the image store: ~50 MB resident) a monitor and the two processes the runtime
forks from it copy that many page-table entries, and every object the monitor touches dirties a
page of that heap that it then owns (its USS). So `dockyardd` forks, first thing, a zygote that
has imported only what a monitor runs (the runtime and monitor.py), freezes its heap for the
collector, and serves one request: "fork a monitor for this configuration, with these two
sockets" (the bound monitor.sock listener and the control socketpair end, passed as SCM_RIGHTS).
Monitors are still forks of the daemon's interpreter, never a new one.

The zygote reaps the monitors it forked. It exits when the daemon's end of its socket closes (the
daemon stopped or was killed); its monitors are then orphans and carry on (re-parented to init),
which is what live restore wants. Without a zygote (it died, or a library user of Engine made
none) `monitor.spawn` forks from the caller as before.

Protocol (SOCK_SEQPACKET, one message each way per spawn):
    daemon -> zygote   JSON MonitorConfig, fds [listener, control]
    zygote -> daemon   {"pid": N} or {"error": "..."}
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import threading
from typing import NoReturn

_MAX_MESSAGE = 1 << 20


class Zygote:
    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self._lock = threading.Lock()
        self.broken = False

    @classmethod
    def fork(cls, preload: tuple[str, ...] = ()) -> Zygote:
        """Fork the zygote, which imports `preload` ("module" or "module:function", called once).
        Call it while the caller has no other thread (fork copies only the caller's)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the zygote
            ours.close()
            _serve(theirs, preload)
        theirs.close()
        return cls(pid, ours)

    def spawn(self, config: dict[str, object], listener: socket.socket, control: socket.socket) -> int:
        """Have the zygote fork a monitor; its pid. OSError when the zygote is gone."""
        with self._lock:
            if self.broken:
                raise OSError("the monitor zygote is gone")
            try:
                socket.send_fds(self.sock, [json.dumps(config).encode()], [listener.fileno(), control.fileno()])
                reply = self.sock.recv(4096)
            except OSError:
                self.broken = True
                raise
            if not reply:
                self.broken = True
                raise OSError("the monitor zygote is gone")
        doc = json.loads(reply)
        if "pid" not in doc:
            raise OSError(f"the monitor zygote could not fork: {doc.get('error')}")
        return int(doc["pid"])

    def close(self) -> None:
        """Let the zygote go (it exits at EOF) and reap it."""
        self.sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _serve(sock: socket.socket, preload: tuple[str, ...]) -> NoReturn:  # pragma: no cover - runs in the zygote
    import gc
    import importlib

    code = 0
    try:
        os.setsid()  # a Ctrl-C meant for a foreground daemon is not for the zygote
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        from dockyard.engine import monitor
        from dockyard.fds import close_fds_except

        close_fds_except({sock.fileno()})
        for name in preload:  # "module", or "module:function" to call once (a cache every fork shares)
            module_name, _, function = name.partition(":")
            try:
                module = importlib.import_module(module_name)
                if function:
                    getattr(module, function)()
            except Exception:
                pass
        gc.collect()
        gc.freeze()
        while True:
            _reap()
            ready, _, _ = select.select([sock], [], [], 1.0)
            if not ready:
                continue
            try:
                message, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 2)
            except OSError:
                break
            if not message:
                break
            try:
                cfg = monitor.MonitorConfig.from_json(json.loads(message))
                if len(fds) != 2:
                    raise ValueError("expected two descriptors")
                pid = os.fork()
            except (OSError, ValueError, KeyError, TypeError) as err:
                for fd in fds:
                    os.close(fd)
                sock.send(json.dumps({"error": str(err)}).encode())
                continue
            if pid == 0:
                sock.close()
                monitor._child(cfg, socket.socket(fileno=fds[0]), socket.socket(fileno=fds[1]))
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"pid": pid}).encode())
    except BaseException:
        code = 1
    os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
