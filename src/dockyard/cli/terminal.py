"""The local terminal: raw mode while a container's tty is attached, and its size.

Only `-t` paths import this module (termios is a C module; `tty` is not needed). Raw mode is
moby/term's MakeRaw (cfmakeraw): no echo, no line editing, no signals from ^C/^Z (they reach the
container as bytes), no output post-processing. `RawMode` restores the saved attributes on exit,
whatever ends the stream.
"""

from __future__ import annotations

import os
import termios

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


def is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def size(fd: int) -> tuple[int, int]:
    """(rows, columns) of the terminal on `fd`; (0, 0) when it is not one."""
    try:
        rows, cols = termios.tcgetwinsize(fd)
    except (OSError, termios.error):
        return 0, 0
    return int(rows), int(cols)


class RawMode:
    """`with RawMode(fd):` — the terminal on `fd` in raw mode for the block (a no-op for non-ttys)."""

    __slots__ = ("fd", "saved")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[int | list[bytes | int]] | None = None

    def __enter__(self) -> RawMode:
        if not is_terminal(self.fd):
            return self
        attrs = termios.tcgetattr(self.fd)
        self.saved = [a if not isinstance(a, list) else list(a) for a in attrs]
        iflag, oflag, cflag, lflag = attrs[0], attrs[1], attrs[2], attrs[3]
        iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                   | termios.IGNCR | termios.ICRNL | termios.IXON)
        oflag &= ~termios.OPOST
        lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
        cflag &= ~(termios.CSIZE | termios.PARENB)
        cflag |= termios.CS8
        cc = list(attrs[6])
        cc[termios.VMIN] = 1
        cc[termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, attrs[4], attrs[5], cc])
        return self

    def restore(self) -> None:
        if self.saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            except termios.error:
                pass
            self.saved = None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.restore()
