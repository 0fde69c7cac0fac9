"""User resolution inside a container's root filesystem, as runc's libcontainer/user does for Docker.

`resolve_user(rootfs, "name:group", group_add)` reads the rootfs's /etc/passwd and /etc/group
(opened inside the root: a symlink in the image cannot point the reader at the host's files) and
returns uid, gid, supplementary groups and home. The rules are libcontainer's `GetExecUser`:

- `user[:group]`; each part a name or a number (Go's Atoi: optional sign, digits);
- no user part: uid 0 (its passwd entry, if any, gives gid and home);
- a name must have a passwd entry (first match wins); a number need not (uid 1000 without an entry
  runs as 1000:0 with home "/");
- with an explicit group, the gid is that group's (by name it must exist); without one, the
  user's supplementary groups are the groups whose member list names the matched user;
- GroupAdd entries (`--group-add`) are group names or numbers, appended after those;
- a missing passwd or group file is fine for numeric ids only.

Errors carry Docker's words (NotFound):
`unable to find user x: no matching entries in passwd file`,
`unable to find group x: no matching entries in group file`,
`Unable to find group x: no matching entries in group file` (GroupAdd; the
wording of the runc library Debian's Docker 20.10 is built with).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import InvalidArgument, NotFound, SystemCallError
from dockyard.fsutil.paths import open_in_root

__all__ = ["ExecUser", "GroupEntry", "PasswdEntry", "read_group", "read_passwd", "resolve_user"]

_MAX_ID = 2**31 - 1
_GO_ATOI = re.compile(r"[+-]?[0-9]+\Z")


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


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: None when it would fail."""
    if not _GO_ATOI.match(text):
        return None
    return int(text)


def _fields(line: str, n: int) -> list[str]:
    parts = line.split(":")
    return [*parts, *[""] * n][:n]


def _read_in_root(rootfs: Path, path: str) -> str | None:
    """The text of `path` inside `rootfs`, or None when it does not exist."""
    try:
        fd = open_in_root(str(rootfs), path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in (20, 40):  # ENOTDIR, ELOOP: treat as absent, as Go's open failing is ignored
            return None
        raise SystemCallError.from_oserror(f"open {path} in {rootfs}", err) from None
    try:
        with os.fdopen(fd, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except OSError as err:
        raise SystemCallError.from_oserror(f"read {path} in {rootfs}", err) from None


def read_passwd(text: str) -> list[PasswdEntry]:
    """Entries of a passwd file, as libcontainer parses them (bad numbers read as 0)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _pw, uid, gid, _gecos, home, _shell = _fields(line, 7)
        out.append(PasswdEntry(name, _atoi(uid) or 0, _atoi(gid) or 0, home))
    return out


def read_group(text: str) -> list[GroupEntry]:
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _pw, gid, members = _fields(line, 4)
        out.append(GroupEntry(name, _atoi(gid) or 0, tuple(m for m in members.split(",")) if members else ()))
    return out


def _check_range(value: int) -> int:
    if value < 0 or value > _MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{_MAX_ID}")
    return value


def resolve_user(rootfs: Path, user: str, group_add: Sequence[str] = (), *,
                 read: Callable[[str], str | None] | None = None) -> ExecUser:
    """Resolve Docker's `User` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) and HostConfig.GroupAdd
    against the files in `rootfs`. NotFound with Docker's message when a name has no entry;
    InvalidArgument for an id out of range. `read(path)` replaces reading from `rootfs` (tests)."""
    reader = read or (lambda p: _read_in_root(rootfs, p))
    passwd_text = reader("/etc/passwd")
    group_text = reader("/etc/group")
    user_arg, group_arg = ([*user.split(":"), ""])[:2]
    uid_arg = _atoi(user_arg)
    gid_arg = _atoi(group_arg)

    uid, gid, home = 0, 0, "/"
    users = []
    if passwd_text is not None:
        for entry in read_passwd(passwd_text):
            if user_arg == "":
                hit = entry.uid == uid
            elif uid_arg is not None:
                hit = entry.uid == uid_arg
            else:
                hit = entry.name == user_arg
            if hit:
                users.append(entry)
    matched_name = ""
    if users:
        matched_name = users[0].name
        uid, gid, home = users[0].uid, users[0].gid, users[0].home
    elif user_arg != "":
        if uid_arg is None:
            raise NotFound(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid = _check_range(uid_arg)

    sgids: list[int] = []
    if group_arg != "" or matched_name != "":
        groups = []
        if group_text is not None:
            for g in read_group(group_text):
                if group_arg == "":
                    hit = matched_name in g.members
                elif gid_arg is not None:
                    hit = g.gid == gid_arg
                else:
                    hit = g.name == group_arg
                if hit:
                    groups.append(g)
        if group_arg != "":
            if groups:
                gid = groups[0].gid
            else:
                if gid_arg is None:
                    raise NotFound(f"unable to find group {group_arg}: no matching entries in group file")
                gid = _check_range(gid_arg)
        else:
            sgids = [g.gid for g in groups]

    if group_add:
        sgids.extend(_additional_groups(group_add, group_text))
    return ExecUser(uid=uid, gid=gid, sgids=tuple(sgids), home=home)


def _additional_groups(wanted: Sequence[str], group_text: str | None) -> list[int]:
    """libcontainer's GetAdditionalGroups: names or numbers, first matching entry, no duplicates."""
    groups = [g for g in read_group(group_text or "") if any(g.name == w or str(g.gid) == w for w in wanted)]
    seen: dict[int, None] = {}
    for w in wanted:
        found = False
        for g in groups:
            if (g.name == w or str(g.gid) == w) and g.gid not in seen:
                seen[g.gid] = None
                found = True
                break
        if not found:
            number = _atoi(w)
            if number is None:
                if any(g.name == w or str(g.gid) == w for g in groups):
                    continue  # already added through an earlier entry naming the same group
                raise NotFound(f"Unable to find group {w}: no matching entries in group file")
            seen[_check_range(number)] = None
    return list(seen)
