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

import json
import socket

from dockyard.errors import DockyardError

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any

_MAX = 65536


class ChildFailed(DockyardError):
    """The child reported an error, or died without a word."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(parent), cls(child)

    def send(self, kind: str, fd: int | None = None, **fields: Any) -> None:
        data = json.dumps({"type": kind, **fields}).encode()
        if fd is None:
            self.sock.send(data)
        else:
            socket.send_fds(self.sock, [data], [fd])

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None at EOF (every holder of the other end has closed it).

        A file descriptor sent with the message arrives as msg["fd"]."""
        data, fds, _, _ = socket.recv_fds(self.sock, _MAX, 1)
        if not data:
            return None
        msg: dict[str, Any] = json.loads(data)
        if fds:
            msg["fd"] = fds[0]
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
