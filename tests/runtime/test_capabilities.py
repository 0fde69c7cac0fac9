"""Capabilities on a real kernel: each test applies them in a forked child and reads /proc back."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Capabilities
from dockyard.runtime.linux import capabilities as caps
from tests.runtime.forked import LogCapture, exec_into, read_proc_status, run_in_child

# Docker's default set (moby oci/caps/defaults.go).
DOCKER_DEFAULT = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip
UID = 1000


@pytest.fixture
def runtime_log(tmp_path: Path) -> Iterator[LogCapture]:
    with LogCapture(str(tmp_path / "runtime.log")) as cap:
        yield cap


@pytest.fixture
def user_writable_log() -> Iterator[LogCapture]:
    """A log the child can still append to after it switched to UID (pytest's tmp_path is 0700)."""
    directory = tempfile.mkdtemp(prefix="dockyard-caps-")
    try:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, "runtime.log")
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
        os.chmod(path, 0o666)
        with LogCapture(path) as cap:
            yield cap
    finally:
        shutil.rmtree(directory)


def mask_of(field: str) -> int:
    return int(field, 16)


def test_table_matches_the_kernel_abi() -> None:
    assert len(caps.NAMES) == 41
    assert caps.NUMBERS["CAP_CHOWN"] == 0
    assert caps.NUMBERS["CAP_SYS_ADMIN"] == 21
    assert caps.NUMBERS["CAP_AUDIT_READ"] == 37
    assert caps.NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.last_cap() >= 40  # this project's test kernels are newer than 5.9


def test_parse_gives_a_mask() -> None:
    assert caps.parse(["CAP_CHOWN", "CAP_KILL", "CAP_CHOWN"]) == 1 << 0 | 1 << 5
    assert caps.names(caps.parse(["CAP_KILL", "CAP_CHOWN"])) == ["CAP_CHOWN", "CAP_KILL"]
    assert caps.parse([]) == 0


def test_unknown_capability_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability "CAP_FOO"'):
        caps.parse(["CAP_CHOWN", "CAP_FOO"])
    with pytest.raises(InvalidArgument, match='unknown capability "chown"'):
        caps.CapabilitySets.from_spec(Capabilities(ambient=["chown"]))


def test_caps_the_kernel_does_not_know_are_skipped_with_a_warning(runtime_log: LogCapture) -> None:
    mask = caps.parse(["CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"], last=38)
    assert mask == 1 << 38
    [warning] = runtime_log.messages("warning")
    assert "CAP_BPF" in warning and "CAP_CHECKPOINT_RESTORE" in warning


def test_sets_from_spec_warn_once() -> None:
    sets = caps.CapabilitySets.from_spec(
        Capabilities(bounding=DOCKER_DEFAULT, effective=["CAP_KILL"], permitted=["CAP_KILL"], ambient=[])
    )
    assert sets.bounding == caps.parse(DOCKER_DEFAULT)
    assert sets.effective == sets.permitted == 1 << 5
    assert sets.inheritable == sets.ambient == 0


def test_unraisable_ambient_caps_are_dropped_before_fork(runtime_log: LogCapture) -> None:
    sets = caps.CapabilitySets.from_spec(
        Capabilities(permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_KILL"], ambient=["CAP_KILL", "CAP_CHOWN"])
    )
    assert sets.ambient == caps.parse(["CAP_KILL"])
    # runc is silent about this (its own default spec asks for such caps): a debug line only.
    assert runtime_log.messages("warning") == []
    assert runtime_log.messages("debug") == [
        "ignoring ambient capabilities that are not both permitted and inheritable: CAP_CHOWN"
    ]


def test_drop_bounding_keeps_only_the_set() -> None:
    keep = caps.parse(DOCKER_DEFAULT)

    def child(out: int) -> dict[str, str]:
        caps.drop_bounding(keep)
        return read_proc_status()

    status = run_in_child(child).value()
    assert mask_of(status["CapBnd"]) == keep
    # The bounding set limits future gains only: this root process still holds its other caps.
    assert mask_of(status["CapEff"]) & ~keep


def test_drop_bounding_without_setpcap_fails_clearly() -> None:
    def child_plain(out: int) -> str:
        from dockyard.runtime.linux import syscalls

        eff, perm, inh = syscalls.capget()
        syscalls.capset(eff & ~(1 << caps.NUMBERS["CAP_SETPCAP"]), perm, inh)
        try:
            caps.drop_bounding(0)
        except Exception as err:
            return str(err)
        return "no error"

    message = run_in_child(child_plain).value()
    assert message.startswith("unable to drop CAP_CHOWN from the bounding set: operation not permitted")


def _become_user_with(sets: caps.CapabilitySets) -> None:
    """The init's tail: bounding set, keep caps, user switch (the lead's code), capset + ambient."""
    caps.drop_bounding(sets.bounding)
    caps.keep_across_setuid()
    os.setgroups([])
    os.setresgid(UID, UID, UID)
    os.setresuid(UID, UID, UID)
    caps.apply(sets)


def test_ambient_caps_survive_execve_as_non_root() -> None:
    wanted = caps.parse(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"])
    bounding = caps.parse(["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"])
    sets = caps.CapabilitySets(bounding, wanted, wanted, wanted, wanted)

    def child(out: int) -> None:
        _become_user_with(sets)
        exec_into(out, ["/bin/cat", "/proc/self/status"])

    status = run_in_child(child).status_fields()
    assert status["Uid"].split() == [str(UID)] * 4
    assert mask_of(status["CapEff"]) == wanted
    assert mask_of(status["CapPrm"]) == wanted
    assert mask_of(status["CapInh"]) == wanted
    assert mask_of(status["CapAmb"]) == wanted
    assert mask_of(status["CapBnd"]) == bounding


def test_without_ambient_a_non_root_program_gets_nothing() -> None:
    wanted = caps.parse(["CAP_CHOWN"])
    sets = caps.CapabilitySets(wanted, wanted, wanted, wanted, 0)

    def child(out: int) -> None:
        _become_user_with(sets)
        # Before execve the init holds them...
        status = read_proc_status()
        assert mask_of(status["CapEff"]) == wanted, status["CapEff"]
        exec_into(out, ["/bin/busybox", "cat", "/proc/self/status"])

    status = run_in_child(child).status_fields()
    # ...after it, a non-root program without file caps or ambient caps has none.
    assert mask_of(status["CapEff"]) == 0
    assert mask_of(status["CapPrm"]) == 0
    assert mask_of(status["CapInh"]) == wanted


def test_root_gets_its_bounding_set_across_execve() -> None:
    wanted = caps.parse(DOCKER_DEFAULT)
    sets = caps.CapabilitySets(wanted, wanted, wanted, 0, 0)

    def child(out: int) -> None:
        caps.drop_bounding(sets.bounding)
        caps.apply(sets)
        exec_into(out, ["/bin/cat", "/proc/self/status"])

    status = run_in_child(child).status_fields()
    assert mask_of(status["CapEff"]) == wanted
    assert mask_of(status["CapBnd"]) == wanted
    assert mask_of(status["CapAmb"]) == 0


def test_ambient_cap_outside_inheritable_is_skipped_quietly(user_writable_log: LogCapture) -> None:
    # runc's own default spec asks for ambient caps it has no inheritable for; like runc, say so
    # only in the debug log (a warning would land on the container's stderr).
    chown, kill = caps.parse(["CAP_CHOWN"]), caps.parse(["CAP_KILL"])
    sets = caps.CapabilitySets(chown | kill, chown | kill, chown | kill, chown, chown | kill)

    def child(out: int) -> None:
        _become_user_with(sets)
        exec_into(out, ["/bin/cat", "/proc/self/status"])

    result = run_in_child(child)
    status = result.status_fields()
    assert "CapAmb" in status, result.text()
    assert mask_of(status["CapAmb"]) == chown
    assert mask_of(status["CapEff"]) == chown
    assert user_writable_log.messages("warning") == []
    [debug] = user_writable_log.messages("debug")
    assert debug == "can't raise ambient capability CAP_KILL: operation not permitted"


def test_apply_more_than_permitted_fails_clearly() -> None:
    chown = caps.parse(["CAP_CHOWN"])
    everything = caps.parse(caps.NAMES[: caps.last_cap() + 1])

    def child(out: int) -> str:
        caps.apply(caps.CapabilitySets(chown, chown, chown, 0, 0))
        try:
            caps.apply(caps.CapabilitySets(everything, everything, everything, 0, 0))
        except Exception as err:
            return f"{type(err).__name__}: {err}"
        return "no error"

    message = run_in_child(child).value()
    assert message.startswith("SystemCallError: unable to apply capabilities")
    assert message.endswith("operation not permitted")
