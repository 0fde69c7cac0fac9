"""Device nodes for `--device`, `--device-cgroup-rule` and `--privileged`, as moby/runc find them.

- `device_from_path(path, permissions)`: runc's `devices.DeviceFromPath` (lstat; a char or block
  node, or not a device);
- `devices_from_path(on_host, in_container, permissions)`: moby's `oci.DevicesFromPath` (a symlink is
  followed; a directory contributes every device below it);
- `host_devices()`: runc's `HostDevices` walk of /dev (skipping pts, shm, fd, mqueue, console and the
  .lxc/.lxd-mounts/.udev dirs), what a privileged container gets;
- `parse_cgroup_rule("c 1:3 mr")`: moby's `AppendDevicePermissionsFromCgroupRules`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Device, DeviceRule

__all__ = ["HostDevice", "device_from_path", "devices_from_path", "host_devices", "parse_cgroup_rule"]

_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


@dataclass(frozen=True)
class HostDevice:
    path: str
    type: str  # "c" | "b"
    major: int
    minor: int
    file_mode: int
    uid: int
    gid: int
    permissions: str = "rwm"

    def oci_device(self, path: str | None = None) -> Device:
        return Device(type=self.type, path=path or self.path, major=self.major, minor=self.minor,
                      file_mode=self.file_mode, uid=self.uid, gid=self.gid)

    def cgroup_rule(self) -> DeviceRule:
        return DeviceRule(allow=True, type=self.type, major=self.major, minor=self.minor, access=self.permissions)


def device_from_path(path: str, permissions: str = "rwm") -> HostDevice | None:
    """The device node at `path`, or None when it is not one. OSError when it cannot be read."""
    st = os.lstat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return HostDevice(path, kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode),
                      st.st_uid, st.st_gid, permissions)


def devices_from_path(on_host: str, in_container: str, permissions: str = "rwm") -> list[tuple[Device, DeviceRule]]:
    """moby's DevicesFromPath: OCI devices and their cgroup rules. InvalidArgument in moby's words
    (`error gathering device information while adding custom device "/dev/x": no such file or
    directory`) when nothing usable is there."""
    resolved = on_host
    try:
        if stat.S_ISLNK(os.lstat(on_host).st_mode):
            resolved = os.path.realpath(on_host)
    except OSError:
        pass
    try:
        device = device_from_path(resolved, permissions)
    except OSError as err:
        raise InvalidArgument(f'error gathering device information while adding custom device "{on_host}": '
                              f"{os.strerror(err.errno or 0).lower()}") from None
    if device is not None:
        return [(device.oci_device(in_container), device.cgroup_rule())]
    out: list[tuple[Device, DeviceRule]] = []
    if os.path.isdir(resolved):
        for dirpath, dirnames, filenames in os.walk(resolved):
            dirnames.sort()
            for name in sorted(filenames + dirnames):
                full = os.path.join(dirpath, name)
                try:
                    child = device_from_path(full, permissions)
                except OSError:
                    continue
                if child is None:
                    continue
                out.append((child.oci_device(full.replace(resolved, in_container, 1)), child.cgroup_rule()))
        return out
    raise InvalidArgument(f'error gathering device information while adding custom device "{on_host}": not a device node')


def host_devices(root: Path = Path("/dev")) -> list[HostDevice]:
    """Every char and block device below /dev, in runc's order (names sorted, depth first)."""
    out: list[HostDevice] = []
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name in _SKIP_DIRS:
                continue
            out.extend(host_devices(Path(entry.path)))
            continue
        if entry.name == "console":
            continue
        try:
            device = device_from_path(entry.path)
        except OSError:
            continue
        if device is not None:
            out.append(device)
    return out


def parse_cgroup_rule(rule: str) -> DeviceRule:
    """`c 1:3 mr` -> an allow rule; `*` for any major/minor (`-1` in runc's terms: left out)."""
    m = _RULE.match(rule)
    if not m:
        raise InvalidArgument(f"invalid device cgroup format '{rule}'")
    major = None if m.group(2) == "*" else int(m.group(2))
    minor = None if m.group(3) == "*" else int(m.group(3))
    return DeviceRule(allow=True, type=m.group(1), major=-1 if major is None else major,
                      minor=-1 if minor is None else minor, access=m.group(4))
