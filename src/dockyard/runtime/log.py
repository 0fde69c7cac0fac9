"""The runtime's log, as container managers read it.

runc writes one line per message to the `--log` file (stderr when none is given); with
`--log-format json` each line is `{"level": ..., "msg": ..., "time": ...}`. containerd's shim shows
the last `"level":"error"` line to the user, so the error wording here is what `docker run` prints.
"""

from __future__ import annotations

import os
import sys
import time

_fd = -1
_json = False
_debug = False


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Log to `path` (stderr when None). The file is opened once, here: the container's init keeps
    the descriptor through pivot_root and a user switch, after which the path may not resolve."""
    global _fd, _json, _debug
    if _fd >= 0:
        os.close(_fd)
        _fd = -1
    _json, _debug = fmt == "json", debug
    if path:
        # O_APPEND keeps lines whole when the init child and the parent both write.
        _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _write(level: str, msg: str) -> None:
    if _json:
        from dockyard.runtime import cjson

        line = cjson.dumps({"level": level, "msg": msg, "time": timestamp()}) + "\n"
    else:
        line = f'time="{timestamp()}" level={level} msg="{msg}"\n'
    if _fd < 0:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    os.write(_fd, line.encode())


def error(msg: str) -> None:
    _write("error", msg)
    # runc also prints the error on stderr when it logs to a file, for humans at a terminal.
    if _fd >= 0:
        sys.stderr.write(f"{msg}\n")
        sys.stderr.flush()


def warning(msg: str) -> None:
    _write("warning", msg)


def debug(msg: str) -> None:
    if _debug:
        _write("debug", msg)
