"""Resource limits on a real kernel, set in forked children."""

from __future__ import annotations

import errno
import resource

import pytest

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import Rlimit
from dockyard.runtime.linux import capabilities as caps
from dockyard.runtime.linux import rlimits, syscalls
from tests.runtime.forked import exec_into, run_in_child


def without_cap_sys_resource() -> None:
    """Make the child deterministic: with CAP_SYS_RESOURCE a hard limit may be raised."""
    eff, perm, inh = syscalls.capget()
    bit = 1 << caps.NUMBERS["CAP_SYS_RESOURCE"]
    syscalls.capset(eff & ~bit, perm & ~bit, inh & ~bit)


def test_every_oci_name_maps_to_a_resource() -> None:
    assert len(rlimits.RESOURCES) == 16
    assert rlimits.RESOURCES["RLIMIT_NOFILE"] == resource.RLIMIT_NOFILE
    assert rlimits.RESOURCES["RLIMIT_LOCKS"] == 10


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ([Rlimit("RLIMIT_FOO", 1, 1)], "unknown rlimit type 'RLIMIT_FOO'"),
        ([Rlimit("nofile", 1, 1)], "unknown rlimit type 'nofile'"),
        ([Rlimit("RLIMIT_NOFILE", 10, 10), Rlimit("RLIMIT_NOFILE", 20, 20)], "rlimit type RLIMIT_NOFILE is set more than once"),
        ([Rlimit("RLIMIT_NOFILE", hard=10, soft=20)], "invalid rlimit RLIMIT_NOFILE: soft limit 20 is above hard limit 10"),
        ([Rlimit("RLIMIT_CORE", hard=-1, soft=0)], "hard limit -1 is not an unsigned 64-bit value"),
        ([Rlimit("RLIMIT_CORE", hard=2**64, soft=0)], "is not an unsigned 64-bit value"),
    ],
)
def test_bad_rlimits_are_rejected_before_fork(limits: list[Rlimit], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        rlimits.parse(limits)
    assert message in str(info.value)


def test_limits_are_set_and_survive_execve() -> None:
    if rlimits.current("RLIMIT_FSIZE")[1] != rlimits.UNLIMITED:
        pytest.skip("needs an unlimited RLIMIT_FSIZE hard limit to start from")
    limits = [
        Rlimit("RLIMIT_NOFILE", hard=1024, soft=512),
        Rlimit("RLIMIT_CORE", hard=rlimits.UNLIMITED, soft=0),
        Rlimit("RLIMIT_FSIZE", hard=2**63 + 5, soft=2**62),  # above INT64_MAX: must stay exact
    ]

    def child(out: int) -> None:
        rlimits.apply(limits)
        assert rlimits.current("RLIMIT_NOFILE") == (512, 1024)
        assert rlimits.current("RLIMIT_CORE") == (0, rlimits.UNLIMITED)
        assert rlimits.current("RLIMIT_FSIZE") == (2**62, 2**63 + 5)
        exec_into(out, ["/bin/cat", "/proc/self/limits"])

    result = run_in_child(child)
    rows = {line[:26].strip(): line[26:].split() for line in result.text().splitlines()[1:]}
    assert rows["Max open files"][:2] == ["512", "1024"], result.text()
    assert rows["Max core file size"][:2] == ["0", "unlimited"]
    assert rows["Max file size"][:2] == [str(2**62), str(2**63 + 5)]


def test_parsed_limits_apply_too() -> None:
    parsed = rlimits.parse([Rlimit("RLIMIT_NOFILE", hard=900, soft=800)])

    def child(out: int) -> list[int]:
        rlimits.apply(parsed)
        return list(rlimits.current("RLIMIT_NOFILE"))

    assert run_in_child(child).value() == [800, 900]


def test_raising_the_hard_limit_without_cap_sys_resource_says_why() -> None:
    def child(out: int) -> dict[str, object]:
        without_cap_sys_resource()
        rlimits.apply([Rlimit("RLIMIT_NOFILE", hard=1024, soft=1024)])
        try:
            rlimits.apply([Rlimit("RLIMIT_NOFILE", hard=4096, soft=1024)])
        except SystemCallError as err:
            return {"message": str(err), "errno": err.errno}
        return {"message": "raised"}

    result = run_in_child(child).value()
    assert result == {
        "message": "error setting rlimit type RLIMIT_NOFILE: operation not permitted"
        " (raising the hard limit above 1024 needs CAP_SYS_RESOURCE)",
        "errno": errno.EPERM,
    }


def test_nofile_above_nr_open_says_why() -> None:
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())

    def child(out: int) -> str:
        try:
            rlimits.apply([Rlimit("RLIMIT_NOFILE", hard=nr_open + 1, soft=1024)])
        except SystemCallError as err:
            return str(err)
        return "raised"

    message = run_in_child(child).value()
    assert message == (
        f"error setting rlimit type RLIMIT_NOFILE: operation not permitted (RLIMIT_NOFILE cannot go above fs.nr_open, {nr_open})"
    )
