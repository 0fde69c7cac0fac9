"""Entering namespaces: joining existing ones by path, making new ones, mapping ids.

Facts:
- setns(2) into a mount or user namespace needs a single-threaded caller; the runtime forks
  before it touches namespaces and never starts threads, so this holds.
- unshare(CLONE_NEWPID) and unshare(CLONE_NEWTIME) move only the caller's future children into the
  new namespace; the first child forked after it is PID 1 there. So the runtime unshares in a
  first child (C1) and forks the container's init (C2) from it.
- A user namespace is made first and alone: the parent writes its uid_map/gid_map (a process
  cannot map itself to ids it does not own), and every namespace made after it belongs to it.
- timens_offsets can only be written before any process has entered the new time namespace,
  i.e. between unshare(CLONE_NEWTIME) and the fork.
- The namespace files are opened before the first setns, because joining a mount namespace
  changes what paths mean.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemCallError
from dockyard.oci.runtime_spec import IDMapping, TimeOffset
from dockyard.runtime.linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# Join order: the user namespace first (it grants the rights to join the others), mount last.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def open_namespaces(paths: dict[str, str]) -> dict[str, int]:
    """Open every namespace to join (type -> path); the caller closes the fds."""
    fds: dict[str, int] = {}
    try:
        for kind in JOIN_ORDER:
            path = paths.get(kind)
            if path:
                try:
                    fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as err:
                    raise SystemCallError.from_oserror(f"open namespace {kind} at {path}", err) from None
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds


def join(fds: dict[str, int], kinds: Iterable[str]) -> None:
    for kind in JOIN_ORDER:
        if kind in fds and kind in kinds:
            sc.setns(fds[kind], sc.NAMESPACE_FLAGS[kind], kind)


def unshare(kinds: Iterable[str]) -> None:
    flags = 0
    for kind in kinds:
        flags |= sc.NAMESPACE_FLAGS[kind]
    if flags:
        sc.unshare(flags)


def _format_map(mappings: list[IDMapping]) -> bytes:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings).encode()


def write_id_maps(pid: int, uid_mappings: list[IDMapping], gid_mappings: list[IDMapping]) -> None:
    """Map ids for the user namespace of `pid` (called by the parent, which owns the host ids)."""
    for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        path = f"/proc/{pid}/{name}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, _format_map(mappings))
            finally:
                os.close(fd)
        except OSError as err:
            raise SystemCallError.from_oserror(f"write {name} for pid {pid}", err) from None


def write_time_offsets(offsets: dict[str, TimeOffset]) -> None:
    text = "".join(f"{clock} {off.secs} {off.nanosecs}\n" for clock, off in offsets.items())
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(text)
    except OSError as err:
        raise SystemCallError.from_oserror("write /proc/self/timens_offsets", err) from None


def maps_root(mappings: list[IDMapping]) -> bool:
    return any(m.container_id == 0 for m in mappings)


def proc_paths(pid: int, kinds: Iterable[str]) -> dict[str, str]:
    """Where a running container's namespaces can be joined from."""
    return {kind: f"/proc/{pid}/ns/{sc.NAMESPACE_PROC_NAMES[kind]}" for kind in kinds}
