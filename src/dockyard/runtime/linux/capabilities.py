"""Linux capabilities for the container process: names, the five sets, and applying them.

Facts:
- A thread has five capability sets. Bounding caps what can ever be gained again (via execve of a
  file with file capabilities); permitted is what it may hold; effective is what the kernel checks;
  inheritable is what may pass through execve to a file's inheritable caps; ambient is what a
  non-root program keeps across execve without file capabilities (Linux 4.3+).
- Dropping a cap from the bounding set (prctl PR_CAPBSET_DROP) needs CAP_SETPCAP in the effective
  set, so the bounding set is dropped first, while the init is still fully privileged.
- setresuid() from uid 0 to a non-zero uid clears permitted, effective and ambient unless
  PR_SET_KEEPCAPS is set; with it, permitted survives and effective is still cleared, so capset()
  must run after the user switch to restore effective. KEEPCAPS is reset by execve anyway.
- At execve a non-root, non-setuid program gets P' = ambient (file caps aside) and E' = ambient:
  ambient is the only way caps reach a non-root container process. A cap can be raised into
  ambient only when it is in both permitted and inheritable (else EPERM), and capset() drops from
  ambient anything that leaves permitted or inheritable, so ambient is raised last.
- Capability numbers are fixed by the kernel ABI (include/uapi/linux/capability.h); 40,
  CAP_CHECKPOINT_RESTORE (Linux 5.9), is the highest today. /proc/sys/kernel/cap_last_cap tells
  which the running kernel knows; asking capset() for more fails with EINVAL, so those are skipped
  with a warning, as runc does.
- Bits above cap_last_cap are never dropped from the bounding set (the kernel rejects them), while
  caps the kernel knows but this table does not are dropped like any other.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import Capabilities
from dockyard.records import record, replace
from dockyard.runtime import log
from dockyard.runtime.linux import syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# Index = capability number (include/uapi/linux/capability.h).
NAMES: tuple[str, ...] = (
    "CAP_CHOWN",  # 0
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",  # 5
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",  # 10
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",  # 15
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",  # 20
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",  # 25
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",  # 30
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",  # 35
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",  # 40
)
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(NAMES)}

_CAP_LAST_CAP = "/proc/sys/kernel/cap_last_cap"

# prctl(2) options not in syscalls.py.
_PR_CAP_AMBIENT_IS_SET = 1


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open(_CAP_LAST_CAP, "rb") as f:
            return int(f.read())
    except OSError as err:
        raise SystemCallError.from_oserror(f"read {_CAP_LAST_CAP}", err) from err


def name(number: int) -> str:
    return NAMES[number] if number < len(NAMES) else f"CAP_{number}"


def names(mask: int) -> list[str]:
    """The names of the caps in `mask`, lowest number first."""
    return [name(n) for n in range(mask.bit_length()) if mask >> n & 1]


def parse(cap_names: Iterable[str], last: int | None = None, *, unavailable: set[str] | None = None) -> int:
    """The mask of `cap_names`. A name not in the table is an error; a cap the running kernel does not
    know (above `last`, read from /proc when None) is left out and added to `unavailable`, or warned
    about here when no set is given."""
    if last is None:
        last = last_cap()
    mask = 0
    skipped: set[str] = set()
    for cap in cap_names:
        number = NUMBERS.get(cap)
        if number is None:
            raise InvalidArgument(f'unknown capability "{cap}"')
        if number > last:
            skipped.add(cap)
            continue
        mask |= 1 << number
    if unavailable is not None:
        unavailable |= skipped
    elif skipped:
        _warn_unavailable(skipped)
    return mask


def _warn_unavailable(skipped: set[str]) -> None:
    log.warning(f"ignoring capabilities the running kernel does not know: {', '.join(sorted(skipped))}")


@record(frozen=True)
class CapabilitySets:
    """The five sets as masks, parsed once from the spec (before fork, so a bad name fails `create`
    early and every warning lands in the parent's log, not in the init's)."""

    bounding: int = 0
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0

    @classmethod
    def from_spec(cls, caps: Capabilities) -> CapabilitySets:
        last = last_cap()
        skipped: set[str] = set()

        def mask(cap_names: list[str]) -> int:
            return parse(cap_names, last, unavailable=skipped)

        sets = cls(
            bounding=mask(caps.bounding),
            effective=mask(caps.effective),
            permitted=mask(caps.permitted),
            inheritable=mask(caps.inheritable),
            ambient=mask(caps.ambient),
        )
        if skipped:
            _warn_unavailable(skipped)
        # An ambient cap must be in permitted and inheritable, or raising it fails in the init: leave
        # it out. runc's own default spec asks for such caps and runc says nothing, so neither do we
        # (but in the debug log).
        unraisable = sets.ambient & ~(sets.permitted & sets.inheritable)
        if unraisable:
            log.debug(
                "ignoring ambient capabilities that are not both permitted and inheritable: "
                + ", ".join(names(unraisable))
            )
            sets = replace(sets, ambient=sets.ambient & ~unraisable)
        return sets


def drop_bounding(keep: int, last: int | None = None) -> None:
    """Drop from the bounding set every cap the kernel knows that is not in `keep`.
    Needs CAP_SETPCAP in the effective set: call it before switching user."""
    if last is None:
        last = last_cap()
    for number in range(last + 1):
        if keep >> number & 1:
            continue
        # Reading first spares a failing drop of a cap that is already gone (EPERM without SETPCAP).
        if syscalls.prctl(syscalls.PR_CAPBSET_READ, number) == 0:
            continue
        try:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, number)
        except SystemCallError as err:
            raise SystemCallError(f"unable to drop {name(number)} from the bounding set", err.errno) from None


def keep_across_setuid() -> None:
    """PR_SET_KEEPCAPS: keep the permitted set when the init switches from uid 0 to the container's
    uid (effective is still cleared; `apply` restores it)."""
    try:
        syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    except SystemCallError as err:
        raise SystemCallError("unable to set keep caps", err.errno) from None


def apply(caps: CapabilitySets) -> None:
    """Set effective, permitted and inheritable, then raise the ambient caps. Call after the user
    switch. An ambient cap that cannot be raised (missing from permitted or inheritable) is skipped
    with a debug note, as runc does, rather than failing the container."""
    try:
        # Clear KEEPCAPS again before capset, as runc does; it has served its purpose.
        syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
        syscalls.capset(caps.effective, caps.permitted, caps.inheritable)
    except SystemCallError as err:
        wanted = f"effective={names(caps.effective)} permitted={names(caps.permitted)}"
        raise SystemCallError(f"unable to apply capabilities ({wanted})", err.errno) from None
    try:
        syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    except SystemCallError as err:
        raise SystemCallError("unable to clear the ambient capabilities", err.errno) from None
    for number in range(caps.ambient.bit_length()):
        if not caps.ambient >> number & 1:
            continue
        try:
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, number)
        except SystemCallError as err:
            log.debug(f"can't raise ambient capability {name(number)}: {os.strerror(err.errno).lower()}")


def ambient_is_set(number: int) -> bool:
    return syscalls.prctl(syscalls.PR_CAP_AMBIENT, _PR_CAP_AMBIENT_IS_SET, number) == 1
