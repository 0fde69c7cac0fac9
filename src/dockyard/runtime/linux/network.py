"""The one piece of networking the runtime does itself: bring up "lo" in a new network namespace.

Facts: a new network namespace has only a loopback interface, and it is down; runc brings it up
(the "loopback" network of libcontainer). Everything else (veth, bridges, addresses) is the
engine's job, done from outside the container.
"""

from __future__ import annotations

import _socket
import fcntl
import struct

from dockyard.errors import SystemCallError

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    # _socket, not socket: see dockyard.runtime.sync.
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack("16sH14x", req)[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    except OSError as err:
        raise SystemCallError.from_oserror("bring up loopback interface lo", err) from None
    finally:
        sock.close()
