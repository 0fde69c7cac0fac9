"""Personality, scheduler, I/O priority, oom_score_adj and no_new_privs, set in forked children."""

from __future__ import annotations

import errno
import os
import platform

import pytest

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import IOPriority, Personality, Scheduler
from dockyard.runtime.linux import capabilities as caps
from dockyard.runtime.linux import process_attrs as attrs
from dockyard.runtime.linux import syscalls
from tests.runtime.forked import exec_into, read_proc_status, run_in_child

MACHINE_32 = {"x86_64": "i686", "aarch64": "armv8l"}[platform.machine()]


def read_personality() -> int:
    with open("/proc/self/personality") as f:
        return int(f.read(), 16)


# --- personality ------------------------------------------------------------------------------------


def test_linux32_personality_changes_uname_across_execve() -> None:
    def child(out: int) -> None:
        attrs.set_personality(Personality("LINUX32", ["ADDR_NO_RANDOMIZE"]))
        assert read_personality() == 0x0008 | 0x0040000
        assert os.uname().machine == MACHINE_32
        exec_into(out, ["/bin/busybox", "uname", "-m"])

    assert run_in_child(child).text().strip() == MACHINE_32


def test_linux_personality() -> None:
    def child(out: int) -> list[object]:
        attrs.set_personality(Personality("LINUX32"))
        attrs.set_personality(Personality("LINUX"))
        return [read_personality(), os.uname().machine]

    assert run_in_child(child).value() == [0, platform.machine()]


@pytest.mark.parametrize(
    ("personality", "message"),
    [(Personality("LINUX64"), "invalid personality domain LINUX64"), (Personality("LINUX", ["FAST"]), "invalid personality flag FAST")],
)
def test_bad_personality(personality: Personality, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        attrs.parse_personality(personality)


# --- scheduler -------------------------------------------------------------------------------------


def test_batch_policy_with_nice() -> None:
    def child(out: int) -> list[int]:
        attrs.set_scheduler(Scheduler("SCHED_BATCH", nice=5))
        return [os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)]

    assert run_in_child(child).value() == [os.SCHED_BATCH, 5]


def test_fifo_policy_with_priority_and_reset_on_fork() -> None:
    def child(out: int) -> list[int]:
        attrs.set_scheduler(Scheduler("SCHED_FIFO", priority=10, flags=["SCHED_FLAG_RESET_ON_FORK"]))
        got = syscalls.sched_getattr()
        return [got.sched_policy, got.sched_priority, got.sched_flags & 0x01]

    assert run_in_child(child).value() == [os.SCHED_FIFO, 10, 1]


def test_idle_policy() -> None:
    def child(out: int) -> int:
        attrs.set_scheduler(Scheduler("SCHED_IDLE"))
        return os.sched_getscheduler(0)

    assert run_in_child(child).value() == os.SCHED_IDLE


def test_deadline_policy() -> None:
    ms = 1_000_000

    def child(out: int) -> list[int] | str:
        try:
            attrs.set_scheduler(Scheduler("SCHED_DEADLINE", runtime=10 * ms, deadline=100 * ms, period=100 * ms))
        except SystemCallError as err:
            return str(err)
        got = syscalls.sched_getattr()
        return [got.sched_policy, got.sched_runtime, got.sched_deadline, got.sched_period]

    result = run_in_child(child).value()
    if isinstance(result, str):
        # Admission control can refuse (EBUSY), or a restricted cpuset (EPERM): the message says so.
        assert result.startswith("error setting scheduler: "), result
        pytest.skip(f"this kernel refuses SCHED_DEADLINE here: {result}")
    assert result == [6, 10 * ms, 100 * ms, 100 * ms]


def test_iso_policy_is_refused_by_the_kernel() -> None:
    def child(out: int) -> str:
        try:
            attrs.set_scheduler(Scheduler("SCHED_ISO"))
        except SystemCallError as err:
            return str(err)
        return "set"

    assert run_in_child(child).value() == "error setting scheduler: invalid argument"


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (Scheduler("SCHED_FAST"), "invalid scheduler policy: SCHED_FAST"),
        (Scheduler("SCHED_OTHER", flags=["SCHED_FLAG_TURBO"]), "invalid scheduler flag: SCHED_FLAG_TURBO"),
        (Scheduler("SCHED_OTHER", nice=20), "invalid scheduler nice value 20"),
        (Scheduler("SCHED_OTHER", priority=5), "priority can only be specified for SCHED_FIFO or SCHED_RR"),
        (Scheduler("SCHED_BATCH", runtime=5), "runtime/deadline/period can only be specified for SCHED_DEADLINE"),
        (Scheduler("SCHED_RR", priority=-1), "invalid scheduler priority -1"),
    ],
)
def test_bad_scheduler(scheduler: Scheduler, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        attrs.parse_scheduler(scheduler)


# --- I/O priority ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("klass", "level", "expected"),
    [("IOPRIO_CLASS_BE", 5, 2 << 13 | 5), ("IOPRIO_CLASS_IDLE", 0, 3 << 13), ("IOPRIO_CLASS_RT", 2, 1 << 13 | 2)],
)
def test_io_priority(klass: str, level: int, expected: int) -> None:
    def child(out: int) -> int:
        attrs.set_io_priority(IOPriority(klass, level))
        return syscalls.ioprio_get(attrs.IOPRIO_WHO_PROCESS, 0)

    assert run_in_child(child).value() == expected


@pytest.mark.parametrize(
    ("priority", "message"),
    [(IOPriority("IOPRIO_CLASS_FAST", 0), "invalid io priority class: IOPRIO_CLASS_FAST"), (IOPriority("IOPRIO_CLASS_BE", 8), "invalid io priority 8")],
)
def test_bad_io_priority(priority: IOPriority, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        attrs.parse_io_priority(priority)


# --- oom_score_adj ---------------------------------------------------------------------------------


def test_oom_score_adj() -> None:
    def child(out: int) -> int:
        attrs.set_oom_score_adj(500)
        with open("/proc/self/oom_score_adj") as f:
            return int(f.read())

    assert run_in_child(child).value() == 500


def test_lowering_oom_score_adj_needs_cap_sys_resource() -> None:
    def child(out: int) -> list[object]:
        eff, perm, inh = syscalls.capget()
        bit = 1 << caps.NUMBERS["CAP_SYS_RESOURCE"]
        syscalls.capset(eff & ~bit, perm & ~bit, inh & ~bit)
        attrs.set_oom_score_adj(500)
        try:
            attrs.set_oom_score_adj(-500)
        except SystemCallError as err:
            return [err.errno, str(err)]
        return ["lowered"]

    assert run_in_child(child).value() == [errno.EACCES, "set oom_score_adj to -500: permission denied"]


def test_oom_score_adj_range() -> None:
    with pytest.raises(InvalidArgument, match="invalid oomScoreAdj 1001"):
        attrs.set_oom_score_adj(1001)


# --- no_new_privs ----------------------------------------------------------------------------------


def test_no_new_privs_survives_execve() -> None:
    def child(out: int) -> None:
        assert read_proc_status()["NoNewPrivs"] == "0"
        attrs.set_no_new_privs()
        exec_into(out, ["/bin/cat", "/proc/self/status"])

    assert run_in_child(child).status_fields()["NoNewPrivs"] == "1"
