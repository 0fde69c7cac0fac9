"""The cgroup v1 devices controller: devices.allow, devices.deny, devices.list.

Facts:
- A new devices cgroup starts as a copy of its parent's rules.
- Each write to devices.allow / devices.deny is one rule ("c 1:3 rwm", "a").
- "a" written to devices.allow fails with EINVAL when the cgroup has children (a parent may
  not widen what its children inherited); a container's cgroup is a leaf, so it does not.
- devices.list reads back the allowed entries only, so an allow-all cgroup's deny exceptions
  are invisible (see devices.Emulator.transition).
"""

from __future__ import annotations

from dockyard.errors import SystemCallError
from dockyard.runtime.cgroups import devices, fs


def apply(path: str, target: devices.Emulator) -> None:
    """Bring the devices cgroup at `path` to `target` with the fewest rule writes, then check it."""
    current = devices.parse_list(fs.read(path, "devices.list"))
    for rule in current.transition(target):
        fs.write(path, "devices.allow" if rule.allow else "devices.deny", rule.cgroup_string())
    after = devices.parse_list(fs.read(path, "devices.list"))
    # What devices.list can show must now match exactly; for an allow-all target only the mode
    # can be checked (deny exceptions do not show), as in runc.
    if (not target.default_allow and after != target) or after.default_allow != target.default_allow:
        raise SystemCallError(f"the devices cgroup at {path} does not match the requested rules after writing them", 0)
