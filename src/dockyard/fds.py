"""Descriptors a forked child must not keep.

A monitor, a port proxy and a build step's runner are forks of the daemon (or of its zygote) that
live on: whatever the parent had open (listeners, client connections, pipes, the event loop's
wakeup fd) would stay open in them, keeping sockets alive and pipes from reaching EOF.
"""

from __future__ import annotations

import contextlib
import os


def close_fds_except(keep: set[int]) -> None:
    """Close every descriptor but stdin, stdout, stderr and `keep`."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
