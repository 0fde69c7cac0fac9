"""The kinds of error dockyard raises, shared by every subsystem.

    DockyardError
    ├── InvalidArgument      bad input: malformed JSON, a broken Dockerfile, an unknown flag value
    ├── NotFound             a container, image, blob or path that does not exist
    ├── AlreadyExists        a name or id that is taken
    ├── Conflict             the object is in use or in the wrong state for the operation
    ├── NotImplemented       valid input this host or this build cannot honour
    ├── PermissionDenied     the kernel or a peer refused
    ├── Unavailable          a peer or the daemon cannot be reached
    └── SystemCallError      a failed system call; carries errno and names the call and the path

Foreign errors (OSError, sqlite3.Error, json.JSONDecodeError) are translated at the edge of the
subsystem that met them; only the API layer maps these kinds to HTTP status codes.
"""

from __future__ import annotations

import os


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""


class InvalidArgument(DockyardError):
    pass


class NotFound(DockyardError):
    pass


class AlreadyExists(DockyardError):
    pass


class Conflict(DockyardError):
    pass


class NotImplemented(DockyardError):
    pass


class PermissionDenied(DockyardError):
    pass


class Unavailable(DockyardError):
    pass


class SystemCallError(DockyardError):
    """A system call failed. The message reads like runc's: ``mount /proc to /rootfs/proc: <strerror>``."""

    def __init__(self, what: str, errno: int) -> None:
        self.what = what
        self.errno = errno
        super().__init__(f"{what}: {os.strerror(errno).lower()}" if errno else what)

    @classmethod
    def from_oserror(cls, what: str, err: OSError) -> SystemCallError:
        return cls(what, err.errno or 0)
