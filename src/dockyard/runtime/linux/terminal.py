"""The container's terminal: a pty made inside the container, its master handed to the manager.

Facts:
- The pty is opened from the container's own devpts (/dev/ptmx -> pts/ptmx after pivot_root), so
  its slave is /dev/pts/N inside the container and is bind-mounted onto /dev/console.
- TIOCGPTPEER opens the slave from the master without a path lookup (Linux >= 4.13).
- The master goes to the manager over the `--console-socket` unix socket as SCM_RIGHTS, with the
  pty's name as the message body, as runc sends it (containerd reads it this way).
- The init becomes a session leader (setsid) and takes the slave as its controlling terminal.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
from collections.abc import Callable

from dockyard.errors import SystemCallError

TIOCGPTPEER = 0x5441
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path) from the current /dev/ptmx."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise SystemCallError.from_oserror("open /dev/ptmx", err) from None
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    return master, int(slave), f"/dev/pts/{number}"


def set_size(fd: int, rows: int, cols: int) -> None:
    if rows and cols:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def send_master(console_socket: socket.socket, master: int) -> None:
    socket.send_fds(console_socket, [b"/dev/ptmx"], [master])


def recv_master(console_socket: socket.socket) -> int:
    _, fds, _, _ = socket.recv_fds(console_socket, 4096, 1)
    if not fds:
        raise SystemCallError("console socket closed before the pty master was sent", 0)
    return fds[0]


def become_controlling(slave: int) -> None:
    """Make `slave` stdin/stdout/stderr and the controlling terminal (caller is a session leader)."""
    for target in (0, 1, 2):
        os.dup2(slave, target)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if slave > 2:
        os.close(slave)


def connect_console_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        raise SystemCallError.from_oserror(f"connect to console socket {path}", err) from None
    return sock


def proxy(master: int, child_alive: Callable[[], bool]) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the container's side closes.

    Used by `run` in the foreground without a console socket; our terminal is put in raw mode so
    keys reach the container unchanged.
    """
    import selectors
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        try:
            rows, cols = get_size(0)
            set_size(master, rows, cols)
        except OSError:
            pass
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ)
    stdin_open = True
    try:
        sel.register(0, selectors.EVENT_READ)
    except (ValueError, PermissionError, OSError):
        stdin_open = False  # stdin is a file or /dev/null that cannot be polled: nothing to forward
    try:
        while True:
            for key, _ in sel.select(timeout=0.2):
                if key.fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: every slave fd is closed, the container is done
                        return
                    if not data:
                        return
                    _write_all(1, data)
                elif stdin_open:
                    data = os.read(0, 65536)
                    if not data:
                        sel.unregister(0)
                        stdin_open = False
                        os.write(master, b"\x04")  # EOF to the container's terminal
                    else:
                        _write_all(master, data)
            if not child_alive():
                _drain(master)
                return
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sel.close()


def _drain(master: int) -> None:
    os.set_blocking(master, False)
    try:
        while data := os.read(master, 65536):
            _write_all(1, data)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

