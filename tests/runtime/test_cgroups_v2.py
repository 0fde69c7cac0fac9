"""The cgroup v2 manager, run against this host's cgroup2 mount at /sys/fs/cgroup/unified.

This host is hybrid: the unified hierarchy has only the hugetlb controller, so the tests exercise
what it supports (directories, placement, cgroup.freeze, cgroup.kill, hugetlb limits, the BPF
device filter in test_devices_bpf.py) and check that a limit needing a missing controller
(memory, pids) is refused clearly. On a pure v2 host the same manager runs with root=/sys/fs/cgroup.
"""

from __future__ import annotations

import mmap
import os
import signal
import struct
import time
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotImplemented
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime import cgroups
from dockyard.runtime.cgroups import Hierarchy, fs, paths
from dockyard.runtime.cgroups.v2 import V2Manager
from tests.runtime.test_cgroups_helpers import UNIFIED, CgroupParents, Children, cgroup_of, spin

pytestmark = pytest.mark.skipif(not os.path.isfile(f"{UNIFIED}/cgroup.controllers"),
                                reason="needs cgroup2 mounted at /sys/fs/cgroup/unified")


def res(doc: dict[str, Any]) -> Resources:
    return Resources.from_json(doc)


def new(parent: CgroupParents, leaf: str = "c1") -> V2Manager:
    return V2Manager.new(parent.path(leaf), leaf, root=UNIFIED)


# --- paths and placement -----------------------------------------------------------------------------


def test_paths_resolve_below_the_given_root(parent: CgroupParents) -> None:
    assert new(parent).path == f"{UNIFIED}{parent.path()}"
    assert V2Manager.new("", "ctr-7", root=UNIFIED).path == f"{UNIFIED}/dockyard-runtime/ctr-7"
    # Relative: beside our own v2 cgroup (its parent), which is the root here.
    own = paths.own_cgroups()[""]
    expected = os.path.normpath(f"{UNIFIED}/{os.path.dirname(own)}/rel/c1")
    assert V2Manager.new("rel/c1", "c1", root=UNIFIED).path == expected
    with pytest.raises(InvalidArgument):
        V2Manager("/sys/fs/cgroup/memory/x", root=UNIFIED)


def test_create_hands_controllers_down_and_destroy_removes_the_tree(parent: CgroupParents) -> None:
    manager = new(parent)
    assert not manager.exists()
    manager.create()
    manager.create()  # idempotent
    assert manager.exists()
    top = f"{UNIFIED}{parent.name}"
    supported = fs.read(UNIFIED, "cgroup.controllers").split()
    assert set(supported) <= set(fs.read(UNIFIED, "cgroup.subtree_control").split())
    assert set(supported) <= set(fs.read(top, "cgroup.subtree_control").split())
    assert set(fs.read(manager.path, "cgroup.controllers").split()) == set(supported)
    os.mkdir(f"{manager.path}/nested")
    os.mkdir(f"{manager.path}/nested/deeper")
    manager.destroy()
    assert not manager.exists()


def test_add_places_the_process(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    child = children.sleeper()
    manager.add(child.pid)
    assert cgroup_of(child.pid)[""] == parent.path()
    assert manager.pids() == [child.pid]


def test_pids_include_sub_cgroups(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    os.mkdir(f"{manager.path}/sub")
    first, second = children.sleeper(), children.sleeper()
    manager.add(first.pid)
    fs.add_proc(f"{manager.path}/sub", second.pid)
    assert manager.pids() == sorted([first.pid, second.pid])


def test_load_manager_and_hierarchies(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create()
    loaded = cgroups.load_manager(manager.paths())
    assert isinstance(loaded, V2Manager)
    assert loaded.paths() == {"": manager.path}
    assert loaded.hierarchies() == [Hierarchy("", UNIFIED, "", parent.path())]


# --- freezer and kill --------------------------------------------------------------------------------


def _count_forever(counter: mmap.mmap) -> None:
    n = 0
    while True:
        n += 1
        counter[:8] = struct.pack("Q", n)


def test_a_frozen_process_does_not_progress(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    counter = mmap.mmap(-1, 8)
    child = children(lambda: _count_forever(counter))
    manager.add(child.pid)
    child.go()

    def value() -> int:
        return int(struct.unpack("Q", counter[:8])[0])

    time.sleep(0.1)
    manager.freeze()
    assert manager.frozen()
    assert (fs.read_keyed(manager.path, "cgroup.events") or {})["frozen"] == 1
    stopped = value()
    time.sleep(0.3)
    assert value() == stopped
    manager.thaw()
    assert not manager.frozen()
    deadline = time.monotonic() + 10
    while value() == stopped and time.monotonic() < deadline:
        time.sleep(0.01)
    assert value() > stopped


def test_kill_all_sigkill_uses_cgroup_kill(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    started = [children.sleeper() for _ in range(3)]
    for child in started:
        manager.add(child.pid)
        child.go()
    manager.kill_all(signal.SIGKILL)
    for child in started:
        assert os.WTERMSIG(child.wait()) == signal.SIGKILL


def test_kill_all_other_signals_freeze_signal_thaw(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    child = children.sleeper()
    manager.add(child.pid)
    child.go()
    manager.kill_all(signal.SIGTERM)
    assert os.WTERMSIG(child.wait()) == signal.SIGTERM
    assert not manager.frozen()


# --- limits ------------------------------------------------------------------------------------------


def test_hugetlb_limits(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}, {"pageSize": "1GB", "limit": 0}]}))
    assert fs.read(manager.path, "hugetlb.2MB.max").strip() == str(8 << 20)
    assert fs.read(manager.path, "hugetlb.2MB.rsvd.max").strip() == str(8 << 20)
    assert fs.read(manager.path, "hugetlb.1GB.max").strip() == "0"
    manager.set(res({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]}))
    assert fs.read(manager.path, "hugetlb.2MB.max").strip() == str(2 << 20)


def test_unified_resources_are_written_last(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}],
                        "unified": {"hugetlb.2MB.max": str(4 << 20), "cgroup.max.descendants": "5"}}))
    assert fs.read(manager.path, "hugetlb.2MB.max").strip() == str(4 << 20)
    assert fs.read(manager.path, "cgroup.max.descendants").strip() == "5"


@pytest.mark.parametrize(("doc", "message"), [
    ({"memory": {"limit": 64 << 20}}, r"the memory controller is not available in .* \(available: hugetlb\)"),
    ({"pids": {"limit": 10}}, "the pids controller is not available"),
    ({"memory": {"limit": 64 << 20}, "cpu": {"shares": 512}}, "cpu, memory controllers are not available"),
    ({"unified": {"memory.max": "1000000"}}, "controller 'memory' not available"),
    ({"cpu": {"realtimeRuntime": 1000}}, "realtime"),
    ({"network": {"classID": 7}}, "net_cls"),
])
def test_missing_controllers_are_refused_clearly(parent: CgroupParents, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(NotImplemented, match=message):
        new(parent).create(res(doc))
    assert parent.dirs() == []


@pytest.mark.parametrize("doc", [
    {"memory": {"limit": 64 << 20, "swap": 32 << 20}},
    {"memory": {"swap": 32 << 20}},          # v2 needs the limit to compute swap.max
    {"cpu": {"cpus": "0-"}},
    {"cpu": {"shares": -1}},
    {"hugepageLimits": [{"pageSize": "4MB", "limit": 0}]},
    {"unified": {"../../escape": "1"}},
    {"unified": {"hugetlb.2MB.nosuchfile": "1"}},
    {"devices": [{"allow": True, "type": "c", "major": -3}]},
])
def test_invalid_values_are_refused_and_leave_nothing_behind(parent: CgroupParents, doc: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        new(parent).create(res(doc))
    assert parent.dirs() == []


# --- stats -------------------------------------------------------------------------------------------


def test_stats(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    busy = children(lambda: spin(0.3))
    manager.add(busy.pid)
    busy.go()
    busy.result()
    busy.wait()
    sleeper = children.sleeper()
    manager.add(sleeper.pid)
    st = manager.stats()
    assert st["cpu"]["usage"]["total"] >= 20_000_000  # ns, of a 0.3 s spin on a possibly busy host
    assert st["cpu"]["usage"]["user"] + st["cpu"]["usage"]["kernel"] > 0
    assert st["pids"] == {"current": 1, "limit": 0}  # counted from cgroup.procs: no pids controller here
    assert st["hugetlb"]["2MB"]["usage"] == 0
    assert st["memory"]["usage"]["usage"] == 0  # no memory controller here
    assert manager.oom_kill_count() == 0
