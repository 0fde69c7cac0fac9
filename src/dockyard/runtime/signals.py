"""Signal names and numbers, as `kill` takes them: "KILL", "SIGKILL", "9"."""

from __future__ import annotations

import signal

from dockyard.errors import InvalidArgument


def parse_signal(text: str) -> int:
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
