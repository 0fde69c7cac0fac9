"""User resolution inside a container's root filesystem, as runc's libcontainer/user does for Docker.

`resolve_user(rootfs, "name:group", group_add)` reads the rootfs's /etc/passwd and /etc/group
(opened inside the root: a symlink in the image cannot point the reader at the host's files) and
returns uid, gid, supplementary groups and home. The rules are libcontainer's `GetExecUser`:
a name must exist in passwd; a number need not (uid 1000 without an entry runs as 1000:0 with
home "/"); a group by name must exist in group; a missing passwd or group file is fine for numeric
ids only. Errors carry Docker's words:
`unable to find user x: no matching entries in passwd file`,
`unable to find group x: no matching entries in group file`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ExecUser", "resolve_user"]


@dataclass(frozen=True)
class ExecUser:
    uid: int = 0
    gid: int = 0
    sgids: tuple[int, ...] = ()  # supplementary groups from /etc/group membership and GroupAdd
    home: str = "/"
    additional_gids: tuple[int, ...] = field(default=())  # what the OCI spec gets: gid first, then sgids

    def __post_init__(self) -> None:
        if not self.additional_gids:
            object.__setattr__(self, "additional_gids", (self.gid, *self.sgids))


def resolve_user(rootfs: Path, user: str, group_add: Sequence[str] = ()) -> ExecUser:
    """Resolve Docker's `User` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) and HostConfig.GroupAdd
    against the files in `rootfs`. InvalidArgument for a malformed spec; NotFound with Docker's
    message when a name has no entry."""
    raise NotImplementedError
