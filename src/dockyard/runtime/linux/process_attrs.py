"""Per-process attributes the init sets on itself before execve: personality, scheduler, I/O
priority, oom_score_adj and no_new_privs.

Facts:
- personality(2) sets the execution domain (PER_LINUX 0x0, PER_LINUX32 0x8, which makes uname(2)
  report i686/armv8l on 64-bit hosts) OR'd with flag bits such as ADDR_NO_RANDOMIZE 0x0040000. It is
  inherited across fork and execve, and never fails: it returns the old persona. The OCI spec says
  no flags are defined yet (runc warns and ignores them); the kernel's flag names are accepted here.
- sched_setattr(2) (Linux 3.14+, no glibc wrapper) sets policy, nice, priority, flags and the
  SCHED_DEADLINE runtime/deadline/period in one call. Real-time policies and lowering nice need
  CAP_SYS_NICE; SCHED_DEADLINE also needs the task's affinity to span its whole root domain (EPERM
  when a cpuset restricts it, which runc reports as "can't be used together with AllowedCPUs").
- ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level) sets the I/O priority of the calling
  thread (the only thread the init has). IOPRIO_CLASS_RT needs CAP_SYS_ADMIN (or CAP_SYS_NICE on
  newer kernels); levels are 0..7.
- /proc/self/oom_score_adj takes -1000..1000. Lowering it below the lowest value a privileged
  writer set (oom_score_adj_min) needs CAP_SYS_RESOURCE: EACCES otherwise.
- PR_SET_NO_NEW_PRIVS can only be set, never cleared, and survives fork and execve: setuid bits
  and file capabilities stop granting anything, and seccomp no longer needs CAP_SYS_ADMIN.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import IOPriority, Personality, Scheduler
from dockyard.records import record
from dockyard.runtime.linux import syscalls

# --- personality -----------------------------------------------------------------------------------

PERSONALITY_DOMAINS: dict[str, int] = {"LINUX": 0x0000, "LINUX32": 0x0008}
PERSONALITY_FLAGS: dict[str, int] = {
    "UNAME26": 0x0020000,
    "ADDR_NO_RANDOMIZE": 0x0040000,
    "FDPIC_FUNCPTRS": 0x0080000,
    "MMAP_PAGE_ZERO": 0x0100000,
    "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000,
    "ADDR_LIMIT_32BIT": 0x0800000,
    "SHORT_INODE": 0x1000000,
    "WHOLE_SECONDS": 0x2000000,
    "STICKY_TIMEOUTS": 0x4000000,
    "ADDR_LIMIT_3GB": 0x8000000,
}


def parse_personality(p: Personality) -> int:
    domain = PERSONALITY_DOMAINS.get(p.domain)
    if domain is None:
        raise InvalidArgument(f"invalid personality domain {p.domain}")
    persona = domain
    for flag in p.flags:
        bit = PERSONALITY_FLAGS.get(flag)
        if bit is None:
            raise InvalidArgument(f"invalid personality flag {flag}")
        persona |= bit
    return persona


def set_personality(p: Personality | int) -> None:
    persona = p if isinstance(p, int) else parse_personality(p)
    try:
        syscalls.personality(persona)
    except SystemCallError as err:
        raise SystemCallError(f"set_personality {persona:#x}", err.errno) from None


# --- scheduler -------------------------------------------------------------------------------------

SCHED_POLICIES: dict[str, int] = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,  # reserved by the kernel, never implemented: sched_setattr gives EINVAL
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS: dict[str, int] = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}


@record(frozen=True)
class SchedulerAttrs:
    """A checked process.scheduler, ready for sched_setattr."""

    policy: int
    flags: int
    nice: int
    priority: int
    runtime: int
    deadline: int
    period: int


def parse_scheduler(s: Scheduler) -> SchedulerAttrs:
    """Check the record as runc's validator does: a known policy and flags, nice in -20..19, a
    priority only for SCHED_FIFO/SCHED_RR, and runtime/deadline/period only for SCHED_DEADLINE."""
    policy = SCHED_POLICIES.get(s.policy)
    if policy is None:
        raise InvalidArgument(f"invalid scheduler policy: {s.policy}")
    flags = 0
    for flag in s.flags:
        bit = SCHED_FLAGS.get(flag)
        if bit is None:
            raise InvalidArgument(f"invalid scheduler flag: {flag}")
        flags |= bit
    if not -20 <= s.nice <= 19:
        raise InvalidArgument(f"invalid scheduler nice value {s.nice}: must be in -20..19")
    if s.priority and s.policy not in ("SCHED_FIFO", "SCHED_RR"):
        raise InvalidArgument("scheduler priority can only be specified for SCHED_FIFO or SCHED_RR")
    if (s.runtime or s.deadline or s.period) and s.policy != "SCHED_DEADLINE":
        raise InvalidArgument("scheduler runtime/deadline/period can only be specified for SCHED_DEADLINE")
    for what, value in (("priority", s.priority), ("runtime", s.runtime), ("deadline", s.deadline), ("period", s.period)):
        if value < 0:
            raise InvalidArgument(f"invalid scheduler {what} {value}: must not be negative")
    return SchedulerAttrs(policy, flags, s.nice, s.priority, s.runtime, s.deadline, s.period)


def set_scheduler(s: Scheduler | SchedulerAttrs) -> None:
    attrs = s if isinstance(s, SchedulerAttrs) else parse_scheduler(s)
    attr = syscalls.SchedAttr()
    attr.sched_policy = attrs.policy
    attr.sched_flags = attrs.flags
    attr.sched_nice = attrs.nice
    attr.sched_priority = attrs.priority
    attr.sched_runtime = attrs.runtime
    attr.sched_deadline = attrs.deadline
    attr.sched_period = attrs.period
    try:
        syscalls.sched_setattr(attr)
    except SystemCallError as err:
        raise SystemCallError("error setting scheduler", err.errno) from None


# --- I/O priority ----------------------------------------------------------------------------------

IOPRIO_CLASSES: dict[str, int] = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_SHIFT = 13


def parse_io_priority(p: IOPriority) -> int:
    klass = IOPRIO_CLASSES.get(p.klass)
    if klass is None:
        raise InvalidArgument(f"invalid io priority class: {p.klass}")
    if not 0 <= p.priority <= 7:
        raise InvalidArgument(f"invalid io priority {p.priority}: must be in 0..7")
    return klass << _IOPRIO_CLASS_SHIFT | p.priority


def set_io_priority(p: IOPriority | int) -> None:
    ioprio = p if isinstance(p, int) else parse_io_priority(p)
    try:
        syscalls.ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio)
    except SystemCallError as err:
        raise SystemCallError("failed to set io priority", err.errno) from None


# --- oom_score_adj ---------------------------------------------------------------------------------

_OOM_SCORE_ADJ = "/proc/self/oom_score_adj"


def check_oom_score_adj(value: int) -> int:
    if not -1000 <= value <= 1000:
        raise InvalidArgument(f"invalid oomScoreAdj {value}: must be in -1000..1000")
    return value


def set_oom_score_adj(value: int) -> None:
    check_oom_score_adj(value)
    try:
        with open(_OOM_SCORE_ADJ, "w") as f:
            f.write(str(value))
    except OSError as err:
        raise SystemCallError.from_oserror(f"set oom_score_adj to {value}", err) from None


# --- no_new_privs ----------------------------------------------------------------------------------


def set_no_new_privs() -> None:
    try:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    except SystemCallError as err:
        raise SystemCallError("prctl(SET_NO_NEW_PRIVS)", err.errno) from None
