"""Where the hierarchies are mounted, which cgroup this process is in, and where a container's goes.

Facts:
- /proc/self/mountinfo lists every mount: "id parent maj:min root mountpoint opts [tags] - fstype
  source superopts". For cgroup v1 the super options name the hierarchy's controllers
  ("rw,cpu,cpuacct") or its name ("rw,name=systemd"); a cgroup2 mount has none. Paths escape
  space, tab, newline and backslash as octal (\\040).
- The "root" field is the cgroup the mount shows at its mount point: "/" normally, deeper
  inside a cgroup namespace or for a bind mount of a sub-cgroup.
- /proc/self/cgroup has one line per hierarchy, "id:controllers:path"; the v2 line is "0::path".
  The paths are relative to the hierarchy's root as seen from this cgroup namespace.
- The mount at /sys/fs/cgroup decides the mode: cgroup2 there is the unified (v2-only) layout;
  a tmpfs with one directory per v1 hierarchy is v1, and a cgroup2 mount beside them
  (/sys/fs/cgroup/unified) makes it "hybrid".
- Under v2 a cgroup with processes cannot also hand controllers to children ("no internal
  processes"), so runc resolves a relative cgroupsPath against the *parent* of its own cgroup
  there (fs2/defaultpath.go); under v1 it is the runtime's own cgroup per hierarchy.

cgroupsPath (OCI config-linux.md), as dockyard resolves it:
- absolute: relative to each hierarchy's root ("/dockyard/<id>" -> /sys/fs/cgroup/memory/dockyard/<id>);
- relative: v1, below this process's cgroup in each hierarchy; v2, below the parent of this
  process's cgroup (runc's behaviour, for the reason above);
- empty: "/dockyard-runtime/<container id>", absolute, so that the runtime's own placement (a
  systemd unit, a daemon's cgroup) does not decide where containers land.
"""

from __future__ import annotations

import os
import posixpath

from dockyard import errors
from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.records import record

CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "/dockyard-runtime"

# The v1 subsystems dockyard places a container in, in the order runc applies them; any other
# mounted hierarchy (a private named one) is left alone.
V1_SUBSYSTEMS = ("cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb",
                 "net_cls", "net_prio", "perf_event", "freezer", "rdma", "name=systemd", "misc")


@record(frozen=True)
class CgroupMount:
    mountpoint: str
    root: str                      # the cgroup shown at the mount point ("/" normally)
    version: int                   # 1 or 2
    controllers: tuple[str, ...]   # v1: ("cpu", "cpuacct") or ("name=systemd",); v2: ()

    def options(self) -> str:
        """mount(2) data that mounts this hierarchy again."""
        if self.version == 2:
            return ""
        if len(self.controllers) == 1 and self.controllers[0].startswith("name="):
            return "none," + self.controllers[0]
        return ",".join(self.controllers)


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field  # the usual case, without importing re on the container start path
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise SystemCallError.from_oserror(f"read {path}", err) from None


def _known_controllers() -> set[str]:
    names: set[str] = set()
    for line in _read("/proc/cgroups").splitlines():
        if line and not line.startswith("#"):
            names.add(line.split()[0])
    return names


def parse_mountinfo(text: str, known: set[str]) -> list[CgroupMount]:
    """The cgroup mounts in a mountinfo text, in mount order."""
    found: list[CgroupMount] = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2":
            found.append(CgroupMount(mountpoint, root, 2, ()))
            continue
        controllers = tuple(o for o in tail[2].split(",") if o in known or o.startswith("name="))
        found.append(CgroupMount(mountpoint, root, 1, controllers))
    return found


# What this process reads once: the cgroup hierarchies and controllers do not change while a
# runtime command runs, and every manager operation would otherwise parse mountinfo again.
_mountinfo: list[str] = []
_controllers: list[set[str]] = []


def _self_mountinfo() -> str:
    if not _mountinfo:
        _mountinfo.append(_read("/proc/self/mountinfo"))
    return _mountinfo[0]


def _controllers_once() -> set[str]:
    if not _controllers:
        _controllers.append(_known_controllers())
    return _controllers[0]


def mounts() -> list[CgroupMount]:
    """This mount namespace's cgroup mounts; one per hierarchy, preferring those under /sys/fs/cgroup."""
    every = parse_mountinfo(_self_mountinfo(), _controllers_once())
    # A hierarchy can be mounted twice (bind mounts, a container's view); keep one of each,
    # preferring the canonical place, and the last mount there (it hides earlier ones).
    chosen: dict[tuple[int, tuple[str, ...]], CgroupMount] = {}
    for m in every:
        key = (m.version, m.controllers)
        if m.version == 2:
            key = (2, (m.mountpoint,))  # v2 mounts all show the same hierarchy; keyed by place
        old = chosen.get(key)
        if old is None or _canonical(m) >= _canonical(old):
            chosen[key] = m
    return list(chosen.values())


def _canonical(m: CgroupMount) -> int:
    if m.mountpoint == CGROUP_ROOT or os.path.dirname(m.mountpoint) == CGROUP_ROOT:
        return 1
    return 0


def cgroup_version() -> int:
    """2 when cgroup2 is mounted at /sys/fs/cgroup (unified mode), else 1 (v1 or hybrid)."""
    at_root = [m for m in parse_mountinfo(_self_mountinfo(), set()) if m.mountpoint == CGROUP_ROOT]
    if at_root:
        return at_root[-1].version
    # Not a cgroup mount itself: the v1 (or hybrid) tmpfs layout, if anything is there at all.
    return 1


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """This process's cgroup per controller ("memory", "name=systemd"), and "" for the v2 line."""
    own: dict[str, str] = {}
    for line in (text if text is not None else _read("/proc/self/cgroup")).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "":
            own[""] = parts[2]
        for controller in parts[1].split(","):
            if controller:
                own[controller] = parts[2]
    return own


def clean(path: str) -> str:
    """runc's CleanPath: '..' cannot climb out; an absolute path stays absolute, a relative one relative."""
    if path == "":
        return ""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    return cleaned if path.startswith("/") else cleaned.lstrip("/")


def inner_path(cgroups_path: str, container_id: str) -> str:
    """The container's cgroup path before it is placed in a hierarchy (absolute or relative)."""
    if cgroups_path:
        inner = clean(cgroups_path)
        if inner in ("", "/"):
            raise InvalidArgument(f"cgroupsPath {cgroups_path!r} names the root cgroup; a container needs its own")
        return inner
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id {container_id!r} for a cgroup name")
    return f"{DEFAULT_PARENT}/{container_id}"


def _below_mount(mount: CgroupMount, cgroup: str) -> str:
    """Where a cgroup path (as /proc/self/cgroup names it) is under a mount point."""
    rel = posixpath.relpath(cgroup, mount.root) if mount.root != "/" else cgroup.lstrip("/")
    if rel == "." or rel.startswith(".."):
        rel = ""  # our cgroup is outside what this mount shows: the mount's root is the closest
    return posixpath.join(mount.mountpoint, rel) if rel else mount.mountpoint


def v1_paths(inner: str, found: list[CgroupMount] | None = None, own: dict[str, str] | None = None) -> dict[str, str]:
    """The container's directory per v1 subsystem, plus "" for the hybrid unified hierarchy."""
    found = mounts() if found is None else found
    own = own_cgroups() if own is None else own
    paths: dict[str, str] = {}
    for m in found:
        if m.version != 1:
            continue
        for controller in m.controllers:
            if controller not in V1_SUBSYSTEMS:
                continue
            if inner.startswith("/"):
                base = m.mountpoint
            else:
                base = _below_mount(m, own.get(controller, "/"))
            paths[controller] = posixpath.join(base, inner.lstrip("/"))
    if "devices" not in paths:
        # runc refuses too: without the devices controller a container could open any device.
        raise errors.NotImplemented("the devices cgroup is not mounted: refusing to run a container without device restrictions")
    unified = hybrid_mount(found)
    if unified is not None:
        paths[""] = v2_path(inner, unified, own)
    return paths


def hybrid_mount(found: list[CgroupMount] | None = None) -> CgroupMount | None:
    """The cgroup2 mount beside v1 hierarchies (hybrid mode), if there is one."""
    found = mounts() if found is None else found
    v2 = [m for m in found if m.version == 2 and m.mountpoint != CGROUP_ROOT]
    v2.sort(key=lambda m: m.mountpoint != posixpath.join(CGROUP_ROOT, "unified"))
    return v2[0] if v2 else None


def v2_mount(root: str, found: list[CgroupMount] | None = None) -> CgroupMount:
    """The cgroup2 mount at `root` (its own mount record, for the root field)."""
    found = mounts() if found is None else found
    for m in found:
        if m.version == 2 and m.mountpoint == root:
            return m
    raise errors.NotImplemented(f"no cgroup2 hierarchy is mounted at {root}")


def v2_path(inner: str, mount: CgroupMount, own: dict[str, str] | None = None) -> str:
    if inner.startswith("/"):
        return posixpath.join(mount.mountpoint, inner.lstrip("/"))
    own = own_cgroups() if own is None else own
    parent = posixpath.dirname(own.get("", "/")) or "/"
    return posixpath.join(_below_mount(mount, parent), inner)


def mount_for(path: str, found: list[CgroupMount] | None = None) -> CgroupMount | None:
    """The mount whose mount point is the longest prefix of `path`."""
    found = mounts() if found is None else found
    best: CgroupMount | None = None
    for m in found:
        if path == m.mountpoint or path.startswith(m.mountpoint.rstrip("/") + "/"):
            if best is None or len(m.mountpoint) > len(best.mountpoint):
                best = m
    return best


def container_path(path: str, mount: CgroupMount) -> str:
    """A cgroup directory as the hierarchy itself names it ("/dockyard/<id>")."""
    rel = posixpath.relpath(path, mount.mountpoint)
    rel = "" if rel == "." else rel
    return posixpath.join(mount.root, rel) if rel else mount.root
