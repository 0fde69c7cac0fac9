"""Linux security modules: the AppArmor profile and SELinux label the container process execs into.

Facts:
- Both LSMs take the new label "on exec": the init writes it to a /proc attribute of its own
  thread and the kernel switches at the next execve, so the init itself keeps running unconfined
  until then (and an error surfaces as a failing execve, EACCES, if the profile does not exist).
- AppArmor: enabled when /sys/module/apparmor/parameters/enabled reads "Y" (runc also wants
  securityfs's /sys/kernel/security/apparmor). The request is the text "exec <profile>" written to
  /proc/thread-self/attr/apparmor/exec (Linux 5.8+, LSM stacking) or, on older kernels,
  /proc/thread-self/attr/exec. The profile must be loaded on the host; Docker's is "docker-default".
- SELinux: enabled when selinuxfs is mounted (normally at /sys/fs/selinux). The label, e.g.
  "system_u:system_r:container_t:s0:c1,c2", is written to /proc/thread-self/attr/exec; mounts get
  the mount label through the mount data option context="<label>" (mounting with context= on a
  kernel without SELinux fails with EINVAL, so the helper adds it only when SELinux is on).
- /proc/thread-self, not /proc/self: the attributes are per thread, and the init is one thread.
- Neither is enabled on dockyard's test host, so a profile or label given there is warned about and
  ignored, as Docker does when the host has no AppArmor. `prepare` makes that decision (and logs)
  before fork; `apply` in the init only writes.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemCallError
from dockyard.records import record
from dockyard.runtime import log

_APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
_APPARMOR_FS = "/sys/kernel/security/apparmor"
_SELINUX_MOUNTS = ("/sys/fs/selinux", "/selinux")
_MOUNTINFO = "/proc/self/mountinfo"


def apparmor_enabled() -> bool:
    if not os.path.isdir(_APPARMOR_FS):
        return False
    try:
        with open(_APPARMOR_ENABLED, "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    for path in _SELINUX_MOUNTS:
        if os.path.exists(os.path.join(path, "enforce")):
            return True
    # selinuxfs mounted somewhere unusual.
    try:
        with open(_MOUNTINFO, "rb") as f:
            return any(line.split(b" - ", 1)[-1].startswith(b"selinuxfs ") for line in f)
    except OSError:
        return False


def _write_attr(paths: tuple[str, ...], value: str, what: str) -> None:
    path = next((p for p in paths if os.path.exists(p)), paths[-1])
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        raise SystemCallError.from_oserror(f"{what}: open {path}", err) from None
    try:
        os.write(fd, value.encode())
    except OSError as err:
        raise SystemCallError.from_oserror(f"{what}: write {path}", err) from None
    finally:
        os.close(fd)


def apply_apparmor(profile: str, enabled: bool | None = None) -> None:
    """Ask for `profile` at the next execve. With AppArmor off, warn and go on, as Docker does."""
    if not profile:
        return
    if enabled is None:
        enabled = apparmor_enabled()
    if not enabled:
        log.warning(f"apparmor is not enabled on this host; ignoring profile {profile!r}")
        return
    _write_attr(
        ("/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"),
        f"exec {profile}",
        f"apparmor failed to apply profile {profile!r}",
    )


def apply_selinux(label: str, enabled: bool | None = None) -> None:
    """Ask for the SELinux process `label` at the next execve. With SELinux off, warn and go on."""
    if not label:
        return
    if enabled is None:
        enabled = selinux_enabled()
    if not enabled:
        log.warning(f"selinux is not enabled on this host; ignoring process label {label!r}")
        return
    _write_attr(("/proc/thread-self/attr/exec",), label, f"can't set process label {label!r}")


def mount_label_data(data: str, label: str, enabled: bool | None = None) -> str:
    """Mount data with the SELinux mount label appended as context="<label>" (go-selinux's
    FormatMountLabel). Unchanged when there is no label or SELinux is off."""
    if not label:
        return data
    if enabled is None:
        enabled = selinux_enabled()
    if not enabled:
        return data
    context = f'context="{label}"'
    return f"{data},{context}" if data else context


@record(frozen=True)
class ExecLabels:
    """The labels the init will actually request: empty where the LSM is off or nothing was asked."""

    apparmor_profile: str = ""
    selinux_label: str = ""


def prepare(apparmor_profile: str, selinux_label: str) -> ExecLabels:
    """Decide before fork, in the runtime's process: the warnings for an LSM that is off then land in
    the runtime's log, which the init (past pivot_root, maybe another user) may no longer reach."""
    if apparmor_profile and not apparmor_enabled():
        log.warning(f"apparmor is not enabled on this host; ignoring profile {apparmor_profile!r}")
        apparmor_profile = ""
    if selinux_label and not selinux_enabled():
        log.warning(f"selinux is not enabled on this host; ignoring process label {selinux_label!r}")
        selinux_label = ""
    return ExecLabels(apparmor_profile, selinux_label)


def apply(labels: ExecLabels) -> None:
    """In the init: request the prepared labels for the next execve (no checks, no logging)."""
    if labels.apparmor_profile:
        apply_apparmor(labels.apparmor_profile, enabled=True)
    if labels.selinux_label:
        apply_selinux(labels.selinux_label, enabled=True)
