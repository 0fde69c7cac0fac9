"""Signals on the container start path, and signal names as `kill` takes them.

`import signal` builds its Signals/Handlers enums (importing enum, ~3 ms); the runtime only needs
numbers and two calls, which the C module `_signal` provides as is. Names are parsed with the
`signal` module, off the start path.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no typeshed stub; typed wrappers below

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SIGHUP: int = _signal.SIGHUP
SIGINT: int = _signal.SIGINT
SIGQUIT: int = _signal.SIGQUIT
SIGKILL: int = _signal.SIGKILL
SIGUSR1: int = _signal.SIGUSR1
SIGUSR2: int = _signal.SIGUSR2
SIGPIPE: int = _signal.SIGPIPE
SIGALRM: int = _signal.SIGALRM
SIGTERM: int = _signal.SIGTERM
SIGCONT: int = _signal.SIGCONT
SIGWINCH: int = _signal.SIGWINCH
SIGXFSZ: int = _signal.SIGXFSZ
NSIG: int = _signal.NSIG



def set_handler(signum: int, handler: Callable[[int, object], None] | int) -> Callable[[int, object], None] | int:
    """Install `handler` (or SIG_DFL/SIG_IGN); return the previous one."""
    previous: Callable[[int, object], None] | int = _signal.signal(signum, handler)
    return previous


def reset_for_exec() -> None:
    """Default dispositions and an empty mask, as a new program should start.

    Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive execve."""
    for signum in (SIGPIPE, SIGXFSZ):
        _signal.signal(signum, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def parse_signal(text: str) -> int:
    """ "KILL", "SIGKILL", "9", "RTMIN+3" -> the signal number."""
    import signal

    if text.isdigit():
        number = int(text)
        if not 0 < number < signal.NSIG:
            raise InvalidArgument(f'unknown signal "{text}"')
        return number
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        pass
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
        base, _, offset = name[3:].partition("+") if "+" in name else name[3:].partition("-")
        edge = signal.SIGRTMIN if base == "RTMIN" else signal.SIGRTMAX
        try:
            step = int(offset or "0")
        except ValueError:
            raise InvalidArgument(f'unknown signal "{text}"') from None
        number = edge + step if "+" in name or not offset else edge - step
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return int(number)
    raise InvalidArgument(f'unknown signal "{text}"')
