"""Ending a command-line process without the interpreter's teardown.

At exit CPython clears every module and runs a last garbage collection: 2-4 ms of every `dockyard`
command and of every container `dockyard-runtime` starts. Once a command has returned, with its
output flushed and no other thread left, none of that teardown changes anything the user sees,
so the launchers `make` writes end with `exit_now(main())`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Exit with `code` at once; fall back to `sys.exit` (the full teardown) when a thread that is
    not a daemon is still running or flushing the output fails, so that it can report the error."""
    threading = sys.modules.get("threading")
    if threading is not None and any(t.is_alive() and not t.daemon for t in threading.enumerate()
                                     if t is not threading.main_thread()):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(code)
    os._exit(code)
