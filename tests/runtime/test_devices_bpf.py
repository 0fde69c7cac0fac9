"""The cgroup v2 device filter: a real BPF program on a real cgroup, judged by real open(2) calls.

The cgroups live on this host's cgroup2 mount (/sys/fs/cgroup/unified); BPF device programs work
there in hybrid mode too. Each child process is placed in the cgroup before it tries anything.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
from typing import Any

import pytest

from dockyard.oci.runtime_spec import DeviceRule, Resources
from dockyard.runtime.cgroups import devices, devices_bpf, fs
from dockyard.runtime.cgroups.v2 import V2Manager
from tests.runtime.test_cgroups_helpers import UNIFIED, CgroupParents, Children, try_open

pytestmark = pytest.mark.skipif(not os.path.isfile(f"{UNIFIED}/cgroup.controllers"),
                                reason="needs cgroup2 mounted at /sys/fs/cgroup/unified")

DENIED = os.strerror(1)  # "Operation not permitted"


@pytest.fixture
def manager(parent: CgroupParents) -> V2Manager:
    m = V2Manager.new(parent.path(), "c1", root=UNIFIED)
    m.create()
    return m


def rules(*entries: dict[str, Any]) -> Resources:
    return Resources.from_json({"devices": list(entries)})


DENY_ALL = {"allow": False, "access": "rwm"}


def run_in(manager_path: str, children: Children, action: Any) -> Any:
    child = children(action)
    fs.add_proc(manager_path, child.pid)
    child.go()
    return child.result()


# --- the program itself (no kernel) ------------------------------------------------------------------


def _decode(code: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for i in range(0, len(code), 8):
        op, regs, off, imm = struct.unpack("=BBhi", code[i:i + 8])
        out.append((op, regs & 0xF, regs >> 4, off, imm))
    return out


def test_program_for_deny_all_is_the_prologue_and_a_zero_return() -> None:
    insns = _decode(devices_bpf.program(devices.target([DeviceRule(False, "a")])))
    assert len(insns) == 8
    assert insns[-2] == (0xB4, 0, 0, 0, 0)  # r0 = 0
    assert insns[-1][0] == 0x95              # exit


def test_program_blocks_jump_to_the_next_block() -> None:
    target = devices.target([DeviceRule(False, "a"), DeviceRule(True, "c", 1, 3, "r"), DeviceRule(True, "b", 7, None, "rwm")])
    insns = _decode(devices_bpf.program(target))
    # Block for "c 1:3 r": type, access (3 insns), major, minor, mov, exit = 8 instructions.
    block = insns[6:14]
    assert block[0] == (0x55, 2, 0, 7, devices_bpf.BPF_DEVCG_DEV_CHAR)  # if r2 != char goto +7 (next block)
    assert block[3] == (0x5D, 1, 3, 4, 0)                               # if r1 != r3 goto +4
    assert block[-2] == (0xB4, 0, 0, 0, 1)                              # r0 = 1
    # Block for "b 7:*": no access or minor check.
    second = insns[14:18]
    assert second[0] == (0x55, 2, 0, 3, devices_bpf.BPF_DEVCG_DEV_BLOCK)
    assert second[1] == (0x55, 4, 0, 2, 7)
    assert insns[-2] == (0xB4, 0, 0, 0, 0)


# --- the kernel enforcing it -------------------------------------------------------------------------


def test_denied_devices_give_eperm_and_allowed_ones_open(manager: V2Manager, children: Children) -> None:
    manager.set(rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                      {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}))
    got = run_in(manager.path, children, lambda: [
        try_open("/dev/zero", os.O_RDWR), try_open("/dev/null", os.O_RDONLY), try_open("/dev/null", os.O_WRONLY),
        try_open("/dev/full", os.O_RDONLY)])
    assert got == ["ok", "ok", DENIED, DENIED]
    assert [p.name for p in devices_bpf.attached(manager.path)] == [devices_bpf.PROGRAM_NAME]


def test_default_allow_with_a_deny_exception(manager: V2Manager, children: Children) -> None:
    manager.set(rules({"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 3,
                                                          "access": "rwm"}))
    got = run_in(manager.path, children, lambda: [try_open("/dev/null", os.O_RDONLY), try_open("/dev/zero", os.O_RDONLY)])
    assert got == [DENIED, "ok"]


def test_mknod_needs_the_m_access(manager: V2Manager, children: Children) -> None:
    manager.set(rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                      {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "m"}))

    def mknods() -> list[str]:
        out = []
        with tempfile.TemporaryDirectory() as d:
            for name, minor in (("null", 3), ("zero", 5)):
                try:
                    os.mknod(os.path.join(d, name), stat.S_IFCHR | 0o600, os.makedev(1, minor))
                    out.append("ok")
                except OSError as err:
                    out.append(os.strerror(err.errno or 0))
        return out

    assert run_in(manager.path, children, mknods) == [DENIED, "ok"]


def test_wildcard_minor_on_block_devices(manager: V2Manager, children: Children) -> None:
    if not os.path.exists("/dev/loop0") or os.major(os.stat("/dev/loop0").st_rdev) != 7:
        pytest.skip("no /dev/loop0 on this host")
    manager.set(rules(DENY_ALL, {"allow": True, "type": "b", "major": 7, "access": "r"}))
    got = run_in(manager.path, children, lambda: [try_open("/dev/loop0", os.O_RDONLY), try_open("/dev/null", os.O_RDONLY)])
    assert got == ["ok", DENIED]


def test_sub_cgroups_inherit_the_filter(manager: V2Manager, children: Children) -> None:
    manager.set(rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}))
    sub = os.path.join(manager.path, "nested")
    os.mkdir(sub)
    assert run_in(sub, children, lambda: [try_open("/dev/null", os.O_RDONLY), try_open("/dev/zero", os.O_RDONLY)]) \
        == [DENIED, "ok"]


def test_a_new_set_replaces_our_program(manager: V2Manager, children: Children) -> None:
    manager.set(rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}))
    first = devices_bpf.attached(manager.path)
    manager.set(rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}))
    second = devices_bpf.attached(manager.path)
    assert len(first) == len(second) == 1 and first[0].id != second[0].id
    got = run_in(manager.path, children, lambda: [try_open("/dev/null", os.O_RDONLY), try_open("/dev/zero", os.O_RDONLY)])
    assert got == [DENIED, "ok"]


def test_someone_elses_program_is_left_in_place(manager: V2Manager, children: Children) -> None:
    # A foreign filter that denies /dev/full only, attached as systemd would (BPF_F_ALLOW_MULTI).
    foreign = devices_bpf.program(devices.target([DeviceRule(True, "a"), DeviceRule(False, "c", 1, 7, "rwm")]))
    fd = devices_bpf.load_program(foreign, "other_filter")
    dir_fd = os.open(manager.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        devices_bpf._attach(dir_fd, fd, devices_bpf.BPF_F_ALLOW_MULTI)  # the internal call, to play the other party
    finally:
        os.close(dir_fd)
        os.close(fd)
    for _ in range(2):
        manager.set(rules({"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 3,
                                                              "access": "rwm"}))
    names = sorted(p.name for p in devices_bpf.attached(manager.path))
    assert names == [devices_bpf.PROGRAM_NAME, "other_filter"]
    got = run_in(manager.path, children, lambda: [try_open("/dev/null", os.O_RDONLY), try_open("/dev/full", os.O_RDONLY),
                                                  try_open("/dev/zero", os.O_RDONLY)])
    assert got == [DENIED, DENIED, "ok"]  # both filters must agree


def test_an_update_without_devices_keeps_the_filter(manager: V2Manager, children: Children) -> None:
    manager.set(rules(DENY_ALL, {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}))
    before = devices_bpf.attached(manager.path)
    manager.set(Resources.from_json({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}))
    assert devices_bpf.attached(manager.path) == before
