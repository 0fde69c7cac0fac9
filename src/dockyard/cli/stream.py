"""Streams of a hijacked attach or exec connection, in one thread with poll(2).

    container --frames--> Demux --> fd 1 / fd 2          (no tty: docker's stdcopy framing)
    container --bytes---> fd 1                            (tty: raw)
    fd 0 --EscapeFilter--> connection, then SHUT_WR       (stdin; ctrl-p ctrl-q detaches with a tty)
    signals --wakeup pipe--> resize (SIGWINCH) or POST kill (--sig-proxy)

A frame is an 8-byte header — stream (0 stdin, 1 stdout, 2 stderr, 3 daemon error), three zero
bytes, a big-endian 32-bit length — and the payload. Signals are caught with `_signal` handlers
that do nothing but let `set_wakeup_fd` write the signal number into a pipe that poll watches, so
the requests they cause are made by the loop, never inside a handler.
"""

from __future__ import annotations

import os
import select

from dockyard.cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal  # the typed face of `_signal`
    from collections.abc import Callable
    from types import FrameType

    from dockyard.cli.client import Connection
else:
    import _signal  # `signal` itself imports enum: ~2 ms

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_CTRL = ["@", *"abcdefghijklmnopqrstuvwxyz", "[", "\\", "]", "^", "_"]

# What docker's ForwardAllSignals passes on: everything catchable but SIGCHLD, SIGPIPE, SIGURG
# (and SIGWINCH, which becomes a resize).
FORWARDED = tuple(getattr(_signal, name) for name in (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGTRAP", "SIGABRT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM",
    "SIGSTKFLT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGIO",
    "SIGPWR", "SIGSYS") if hasattr(_signal, name))


def parse_detach_keys(spec: str) -> bytes:
    """moby/term ToBytes: `ctrl-p,ctrl-q`, single characters, `DEL`."""
    codes = bytearray()
    for key in spec.split(","):
        if len(key) == 1:
            codes.append(ord(key))
        elif key.startswith("ctrl-") and key[5:] in _CTRL:
            codes.append(_CTRL.index(key[5:]))
        elif key == "DEL":
            codes.append(127)
        else:
            raise CLIError(f"Unknown character: '{key}'")
    return bytes(codes)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Demux:
    """docker's stdcopy.StdCopy, fed piece by piece."""

    __slots__ = ("buf", "err_fd", "out_fd")

    def __init__(self, out_fd: int | None, err_fd: int | None) -> None:
        self.out_fd = out_fd
        self.err_fd = err_fd
        self.buf = b""

    def feed(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        end = len(buf)
        while end - pos >= 8:
            size = int.from_bytes(buf[pos + 4:pos + 8], "big")
            if end - pos - 8 < size:
                break
            kind = buf[pos]
            payload = buf[pos + 8:pos + 8 + size]
            pos += 8 + size
            if kind in (0, 1):
                if self.out_fd is not None:
                    write_all(self.out_fd, payload)
            elif kind == 2:
                if self.err_fd is not None:
                    write_all(self.err_fd, payload)
            elif kind == 3:
                raise CLIError(f"error from daemon in stream: {payload.decode('utf-8', 'replace')}")
            else:
                raise CLIError(f"Unrecognized input header: {kind}")
        self.buf = buf[pos:]


class EscapeFilter:
    """moby/term's escape proxy: holds back a possible start of the detach sequence; `feed`
    returns the bytes to send and whether the whole sequence was typed."""

    __slots__ = ("held", "keys")

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    return bytes(out), True
                continue
            if self.held:
                out += self.keys[:self.held]
                self.held = 0
                if byte == self.keys[0]:
                    self.held = 1
                    continue
            out.append(byte)
        return bytes(out), False


class Signals:
    """Catch signals for the life of a stream and hand their numbers to `handle` from the loop."""

    __slots__ = ("handle", "numbers", "previous", "read_fd", "write_fd")

    def __init__(self, numbers: tuple[int, ...], handle: Callable[[int], None]) -> None:
        self.numbers = numbers
        self.handle = handle
        self.previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
        self.read_fd = -1
        self.write_fd = -1

    def __enter__(self) -> Signals:
        if not self.numbers:
            return self
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for number in self.numbers:
            try:
                self.previous[number] = _signal.signal(number, _ignore)
            except (OSError, ValueError):
                pass
        return self

    def drain(self) -> None:
        try:
            data = os.read(self.read_fd, 512)
        except BlockingIOError:
            return
        for number in data:
            self.handle(number)

    def __exit__(self, *exc: object) -> None:
        if self.read_fd < 0:
            return
        for number, handler in self.previous.items():
            _signal.signal(number, handler)
        _signal.set_wakeup_fd(-1)
        self.drain()
        os.close(self.read_fd)
        os.close(self.write_fd)
        self.read_fd = -1


def _ignore(signum: int, frame: FrameType | None) -> None:
    pass


def pump(conn: Connection, *, tty: bool, stdin: bool, stdout: bool, stderr: bool,
         detach_keys: bytes | None = None, signals: Signals | None = None) -> bool:
    """Copy between the terminal and `conn` until the container's output ends (or, with no
    output attached, stdin does). True when the user typed the detach keys."""
    conn_fd = conn.fileno()
    out_fd = 1 if stdout else None
    err_fd = (1 if tty else 2) if stderr else None
    demux = None if tty else Demux(out_fd, err_fd)
    escape = EscapeFilter(detach_keys if detach_keys is not None else DEFAULT_DETACH_KEYS) if tty and stdin else None
    poller = select.poll()
    poller.register(conn_fd, select.POLLIN)
    if stdin:
        poller.register(0, select.POLLIN)
    if signals is not None and signals.read_fd >= 0:
        poller.register(signals.read_fd, select.POLLIN)
    want_output = stdout or stderr

    def output(data: bytes) -> None:
        if demux is not None:
            demux.feed(data)
        elif out_fd is not None:
            write_all(out_fd, data)

    while True:
        if conn.pending():
            data = conn.recv()
            if not data:
                return False
            output(data)
            continue
        for fd, _event in poller.poll():
            if fd == conn_fd:
                try:
                    data = conn.recv()
                except ConnectionResetError:
                    data = b""
                if not data:
                    return False
                output(data)
            elif fd == 0:
                try:
                    data = os.read(0, 65536)
                except OSError:
                    data = b""
                eof = not data
                if data and escape is not None:
                    data, detached = escape.feed(data)
                    if detached:
                        if data:
                            conn.send(data)
                        return True
                if data:
                    try:
                        conn.send(data)
                    except OSError:
                        eof = True
                if eof:
                    poller.unregister(0)
                    conn.shutdown_write()
                    if not want_output:
                        return False
            elif signals is not None and fd == signals.read_fd:
                signals.drain()
