"""The messages between the runtime (parent) and the processes it forks to become a container.

A SOCK_SEQPACKET socketpair carries one small JSON object per packet, so a message is never split
or merged. The conversation for `create` (and, without the hook steps, for `exec`):

    parent                                  child (C1, then the init C2 forked inside the pid ns)
    ------                                  -----
    fork C1, put it in the cgroup
    "go"                         ->
                                 <-         "usermap"          (C1 made a user namespace)
    write uid_map/gid_map
    "usermap-done"               ->
                                 <-         "pid" {pid}        (C1 forked C2, then exits)
                                 <-         "hooks"            (C2: mounts done, before pivot_root)
    run prestart + createRuntime hooks
    "hooks-done"                 ->
                                 <-         "ready"            (C2: all set up; next it waits on exec.fifo,
                                                                or, for exec, calls execve)
                                 <-         "seccomp" + fd     (C2 loaded a filter with a notify listener;
                                                                the parent hands the fd to the agent)
    "seccomp-done"               ->
    any time:                    <-         "error" {message}  (the child gives up; it exits non-zero)

For `exec` the socket is close-on-exec in C2: EOF after "ready" means execve succeeded, an
"error" after "ready" means it failed.
"""

from __future__ import annotations

import _socket
import struct

from dockyard.errors import DockyardError
from dockyard.runtime import cjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MAX = 65536
_FD_SIZE = struct.calcsize("i")  # struct, not array: array imports collections.abc (~1.5 ms)


class ChildFailed(DockyardError):
    """The child reported an error, or died without a word."""


class Channel:
    """One end of the socketpair. `_socket` rather than `socket`: the latter imports enum and
    selectors (~3 ms of every container start) for conveniences this needs none of."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return cls(parent), cls(child)

    def send(self, kind: str, fd: int | None = None, **fields: Any) -> None:
        data = cjson.dumps({"type": kind, **fields}).encode()
        if fd is None:
            self.sock.send(data)
        else:
            rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))]
            self.sock.sendmsg([data], rights)

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None at EOF (every holder of the other end has closed it).

        A file descriptor sent with the message arrives as msg["fd"]."""
        data, ancillary, _, _ = self.sock.recvmsg(_MAX, _socket.CMSG_LEN(_FD_SIZE))
        if not data:
            return None
        msg: dict[str, Any] = cjson.loads(data)
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                msg["fd"] = struct.unpack("i", payload[:_FD_SIZE])[0]
        return msg

    def expect(self, kind: str) -> dict[str, Any]:
        """The next message, which must be `kind`; an error message or EOF raises ChildFailed."""
        return self.expect_one_of(kind)

    def expect_one_of(self, *kinds: str) -> dict[str, Any]:
        msg = self.recv()
        if msg is None:
            raise ChildFailed(f"container init exited before sending {' or '.join(kinds)}")
        if msg["type"] == "error":
            raise ChildFailed(str(msg.get("message", "unknown error")))
        if msg["type"] not in kinds:
            raise ChildFailed(f"unexpected message {msg['type']!r} (wanted {' or '.join(kinds)})")
        return msg

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()
