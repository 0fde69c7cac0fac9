"""AppArmor and SELinux exec labels. dockyard's test host has neither LSM enabled, so these check
the warning path and that forcing a write reaches the real kernel, which refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import SystemCallError
from dockyard.runtime.linux import lsm
from tests.runtime.forked import LogCapture, run_in_child


@pytest.fixture
def runtime_log(tmp_path: Path) -> Iterator[LogCapture]:
    with LogCapture(str(tmp_path / "runtime.log")) as cap:
        yield cap


needs_no_apparmor = pytest.mark.skipif(lsm.apparmor_enabled(), reason="AppArmor is enabled on this host")
needs_no_selinux = pytest.mark.skipif(lsm.selinux_enabled(), reason="SELinux is enabled on this host")


@needs_no_apparmor
def test_apparmor_profile_is_warned_about_when_apparmor_is_off(runtime_log: LogCapture) -> None:
    lsm.apply_apparmor("docker-default")
    assert runtime_log.messages("warning") == ["apparmor is not enabled on this host; ignoring profile 'docker-default'"]


def test_empty_profile_and_label_do_nothing(runtime_log: LogCapture) -> None:
    lsm.apply_apparmor("")
    lsm.apply_selinux("")
    assert runtime_log.messages("warning") == []


@needs_no_selinux
def test_selinux_label_is_warned_about_when_selinux_is_off(runtime_log: LogCapture) -> None:
    lsm.apply_selinux("system_u:system_r:container_t:s0")
    assert runtime_log.messages("warning") == [
        "selinux is not enabled on this host; ignoring process label 'system_u:system_r:container_t:s0'"
    ]


@needs_no_apparmor
def test_forced_apparmor_write_reaches_the_kernel() -> None:
    # Without AppArmor, /proc/thread-self/attr/apparmor/ does not exist and the legacy attr/exec
    # belongs to no module that takes "exec <profile>": the kernel refuses the write.
    def child(out: int) -> str:
        try:
            lsm.apply_apparmor("docker-default", enabled=True)
        except SystemCallError as err:
            return str(err)
        return "applied"

    message = run_in_child(child).value()
    assert message.startswith("apparmor failed to apply profile 'docker-default': write /proc/thread-self/attr/exec: ")


@needs_no_selinux
def test_forced_selinux_write_reaches_the_kernel() -> None:
    def child(out: int) -> str:
        try:
            lsm.apply_selinux("system_u:system_r:container_t:s0", enabled=True)
        except SystemCallError as err:
            return str(err)
        return "applied"

    message = run_in_child(child).value()
    assert message.startswith("can't set process label 'system_u:system_r:container_t:s0': write /proc/thread-self/attr/exec: ")


def test_prepare_decides_and_warns_before_fork(runtime_log: LogCapture) -> None:
    labels = lsm.prepare("docker-default", "system_u:system_r:container_t:s0")
    expected = lsm.ExecLabels(
        "docker-default" if lsm.apparmor_enabled() else "",
        "system_u:system_r:container_t:s0" if lsm.selinux_enabled() else "",
    )
    assert labels == expected
    assert len(runtime_log.messages("warning")) == (not expected.apparmor_profile) + (not expected.selinux_label)
    if labels == lsm.ExecLabels():
        lsm.apply(labels)  # nothing to request: no write, no log
        assert len(runtime_log.messages("warning")) == 2


def test_mount_label_data() -> None:
    label = "system_u:object_r:container_file_t:s0:c1,c2"
    assert lsm.mount_label_data("", label, enabled=True) == f'context="{label}"'
    assert lsm.mount_label_data("mode=755", label, enabled=True) == f'mode=755,context="{label}"'
    assert lsm.mount_label_data("mode=755", label, enabled=False) == "mode=755"
    assert lsm.mount_label_data("mode=755", "", enabled=True) == "mode=755"
    if not lsm.selinux_enabled():
        assert lsm.mount_label_data("mode=755", label) == "mode=755"
