"""The cgroup v1 manager on the real kernel: real cgroups, real forked processes, real effects.

Every test works under its own parent ("/dockyard-test-<hex>") and removes it from every hierarchy
afterwards; every process it forks is killed by its pid at teardown, whatever happened.
"""

from __future__ import annotations

import errno
import mmap
import os
import signal
import struct
import time
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotImplemented, SystemCallError
from dockyard.oci.runtime_spec import Resources
from dockyard.runtime import cgroups
from dockyard.runtime.cgroups import fs, paths
from dockyard.runtime.cgroups.v1 import V1Manager
from tests.runtime.test_cgroups_helpers import CgroupParents, Children, cgroup_of, spin, try_open

pytestmark = pytest.mark.skipif(cgroups.cgroup_version() != 1, reason="needs a cgroup v1 (or hybrid) host")


def res(doc: dict[str, Any]) -> Resources:
    return Resources.from_json(doc)


def new(parent: CgroupParents, leaf: str = "c1") -> V1Manager:
    manager = cgroups.new_manager(parent.path(leaf), leaf)
    assert isinstance(manager, V1Manager)
    return manager


def read(manager: V1Manager, controller: str, name: str) -> str:
    return fs.read(manager.paths()[controller], name).strip()


# --- choosing and placing --------------------------------------------------------------------------


def test_this_host_is_v1_hybrid_with_separate_cpu_and_cpuacct(parent: CgroupParents) -> None:
    manager = new(parent)
    assert manager.version == 1
    p = manager.paths()
    assert p["cpu"] == f"/sys/fs/cgroup/cpu{parent.path()}"
    assert p["cpuacct"] == f"/sys/fs/cgroup/cpuacct{parent.path()}"
    assert p["name=systemd"] == f"/sys/fs/cgroup/systemd{parent.path()}"
    assert p[""] == f"/sys/fs/cgroup/unified{parent.path()}"  # hybrid: the unified hierarchy is joined too
    assert "net_cls" not in p and "hugetlb" not in p  # not mounted on this host
    assert not manager.exists()


def test_empty_cgroups_path_is_named_after_the_container() -> None:
    manager = cgroups.new_manager("", "ctr-42")
    assert manager.paths()["memory"] == "/sys/fs/cgroup/memory/dockyard-runtime/ctr-42"


def test_relative_cgroups_path_is_below_our_own_cgroup(parent: CgroupParents) -> None:
    relative = parent.path().lstrip("/")
    manager = cgroups.new_manager(relative, "c1")
    own = paths.own_cgroups()
    p = manager.paths()
    assert p["memory"] == os.path.normpath(f"/sys/fs/cgroup/memory/{own['memory']}/{relative}")
    assert own["memory"] != "/"  # this host puts us in memory:/process_api/<hash>, so it matters
    try:
        manager.create()
        assert os.path.isdir(p["memory"])
    finally:
        manager.destroy()
        for d in sorted({os.path.dirname(v) for v in p.values()}, key=len, reverse=True):
            fs.remove_tree(d)
    assert not os.path.exists(p["memory"])


def test_create_is_idempotent_and_destroy_removes_every_directory(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create()
    manager.create()
    assert manager.exists()
    assert all(os.path.isdir(d) for d in manager.paths().values())
    manager.destroy()
    assert not manager.exists()
    assert not any(os.path.exists(d) for d in manager.paths().values())
    manager.destroy()  # already gone is fine


def test_cpuset_values_are_copied_down_so_tasks_can_join(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    top = f"/sys/fs/cgroup/cpuset{parent.name}"
    for d in (top, manager.paths()["cpuset"]):
        assert fs.read(d, "cpuset.cpus").strip() == fs.read("/sys/fs/cgroup/cpuset", "cpuset.cpus").strip()
        assert fs.read(d, "cpuset.mems").strip() != ""
    child = children.sleeper()
    manager.add(child.pid)  # would fail with ENOSPC if cpus/mems were empty


def test_add_places_the_process_in_every_hierarchy(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    child = children.sleeper()
    manager.add(child.pid)
    placed = cgroup_of(child.pid)
    for controller in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd", ""):
        assert placed[controller] == parent.path(), controller
    assert manager.pids() == [child.pid]
    child.kill()
    assert manager.pids() == []
    manager.destroy()


def test_load_manager_rebuilds_the_same_manager(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    child = children.sleeper()
    manager.add(child.pid)
    loaded = cgroups.load_manager(manager.paths())
    assert isinstance(loaded, V1Manager)
    assert loaded.paths() == manager.paths()
    assert loaded.pids() == [child.pid]
    loaded.freeze()
    assert manager.frozen()
    loaded.thaw()


def test_hierarchies_describe_the_mounts_for_the_container(parent: CgroupParents) -> None:
    manager = new(parent)
    found = {h.name: h for h in manager.hierarchies()}
    assert found["memory"].host_mountpoint == "/sys/fs/cgroup/memory"
    assert found["memory"].mount_options == "memory"
    assert found["memory"].container_path == parent.path()
    assert found["name=systemd"].mount_options == "none,name=systemd"
    assert found[""].host_mountpoint == "/sys/fs/cgroup/unified"
    assert "cpu" in found and "cpuacct" in found


# --- limits in the kernel's files --------------------------------------------------------------------


def test_limits_reach_the_kernel_files(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({
        # kernel: written because memory.kmem.limit_in_bytes exists, though 6.x ignores the value.
        "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20, "swappiness": 10,
                   "kernel": 32 << 20, "kernelTCP": 16 << 20, "disableOOMKiller": True},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 10},
        "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1 << 20}],
                    "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
    }))
    assert read(manager, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read(manager, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(manager, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(manager, "memory", "memory.swappiness") == "10"
    assert read(manager, "memory", "memory.kmem.tcp.limit_in_bytes") == str(16 << 20)
    assert "oom_kill_disable 1" in read(manager, "memory", "memory.oom_control")
    assert read(manager, "cpu", "cpu.shares") == "512"
    assert read(manager, "cpu", "cpu.cfs_quota_us") == "50000"
    assert read(manager, "cpu", "cpu.cfs_period_us") == "100000"
    assert read(manager, "cpu", "cpu.cfs_burst_us") == "10000"
    assert read(manager, "cpuset", "cpuset.cpus") == "0"
    assert read(manager, "pids", "pids.max") == "10"
    assert read(manager, "blkio", "blkio.bfq.weight") == "300"  # no CFQ on this kernel: the bfq file
    assert read(manager, "blkio", "blkio.throttle.read_bps_device") == f"254:0 {1 << 20}"
    assert read(manager, "blkio", "blkio.throttle.write_iops_device") == "254:0 100"
    # hugetlb is only on the unified hierarchy here; the v1 manager writes it there.
    assert read(manager, "", "hugetlb.2MB.max") == str(4 << 20)
    assert read(manager, "", "hugetlb.2MB.rsvd.max") == str(4 << 20)


def test_pids_limit_zero_or_negative_means_max(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"pids": {"limit": 5}}))
    manager.set(res({"pids": {"limit": -1}}))
    assert read(manager, "pids", "pids.max") == "max"
    manager.set(res({"pids": {"limit": 0}}))
    assert read(manager, "pids", "pids.max") == "max"


def test_cpu_idle(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"cpu": {"idle": 1}}))
    assert read(manager, "cpu", "cpu.idle") == "1"


def test_realtime_cpu_bandwidth(parent: CgroupParents) -> None:
    # One level below the root, whose rt budget (950000 of 1000000) has room for it.
    manager = cgroups.new_manager(parent.name, "c1")
    manager.create(res({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}}))
    assert fs.read(manager.paths()["cpu"], "cpu.rt_runtime_us").strip() == "10000"
    assert fs.read(manager.paths()["cpu"], "cpu.rt_period_us").strip() == "1000000"
    manager.destroy()


def test_memory_and_swap_can_be_lowered_and_raised_in_one_update(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"memory": {"limit": 64 << 20, "swap": 64 << 20}}))
    manager.set(res({"memory": {"limit": 256 << 20, "swap": 512 << 20}}))  # memsw must go first
    assert read(manager, "memory", "memory.memsw.limit_in_bytes") == str(512 << 20)
    manager.set(res({"memory": {"limit": 32 << 20, "swap": 48 << 20}}))    # the limit must go first
    assert read(manager, "memory", "memory.limit_in_bytes") == str(32 << 20)
    assert read(manager, "memory", "memory.memsw.limit_in_bytes") == str(48 << 20)
    manager.set(res({"memory": {"limit": -1}}))                              # unlimited: swap too
    assert int(read(manager, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


def test_devices_allowlist(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create(res({"devices": [{"allow": False, "access": "rwm"},
                                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}))
    assert read(manager, "devices", "devices.list") == "c 1:3 rwm"
    first = children(lambda: [try_open("/dev/null", os.O_RDWR), try_open("/dev/zero", os.O_RDONLY)])
    manager.add(first.pid)
    first.go()
    assert first.result() == ["ok", "Operation not permitted"]
    # An update widens access without ever resetting the list.
    manager.set(res({"devices": [{"allow": False, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                 {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}]}))
    assert read(manager, "devices", "devices.list").splitlines() == ["c 1:3 rwm", "c 1:5 r"]
    second = children(lambda: [try_open("/dev/zero", os.O_RDONLY), try_open("/dev/zero", os.O_WRONLY)])
    manager.add(second.pid)
    second.go()
    assert second.result() == ["ok", "Operation not permitted"]


def test_update_without_devices_leaves_the_rules_alone(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"devices": [{"allow": False, "access": "rwm"},
                                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}))
    manager.set(res({"pids": {"limit": 7}}))
    assert read(manager, "devices", "devices.list") == "c 1:3 rwm"


# --- real effects ------------------------------------------------------------------------------------


def _fork_until_refused() -> list[Any]:
    """In the child: fork sleepers until the kernel refuses; kill and reap them; report."""
    made: list[int] = []
    refused: int | None = None
    for _ in range(5):
        try:
            pid = os.fork()
        except OSError as err:
            refused = err.errno
            break
        if pid == 0:
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        made.append(pid)
    for pid in made:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return [len(made), refused]


def test_a_process_over_pids_max_cannot_fork(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create(res({"pids": {"limit": 3}}))
    child = children(_fork_until_refused)
    manager.add(child.pid)
    child.go()
    assert child.result() == [2, errno.EAGAIN]  # the child itself plus two more make three
    assert int(read(manager, "pids", "pids.events").split()[-1]) >= 1


def test_a_memory_hog_is_oom_killed(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create(res({"memory": {"limit": 64 << 20, "swap": 64 << 20}}))
    assert manager.oom_kill_count() == 0
    hog = children(lambda: len(b"\x01" * (512 << 20)))
    manager.add(hog.pid)
    hog.go()
    status = hog.wait()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert manager.oom_kill_count() == 1
    usage = manager.stats()["memory"]["usage"]
    assert usage["limit"] == 64 << 20
    assert usage["max"] == 64 << 20  # it got to the limit (this kernel leaves failcnt at 0 on OOM)


def test_a_limit_below_usage_is_refused_with_the_usage(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    flag = mmap.mmap(-1, 1)

    def hold() -> None:
        data = b"\x01" * (96 << 20)
        flag[0] = 1
        time.sleep(600)
        del data

    holder = children(hold)
    manager.add(holder.pid)
    holder.go()
    deadline = time.monotonic() + 10
    while flag[0] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(SystemCallError, match="unable to set memory limit to 16777216 \\(current usage") as info:
        manager.set(res({"memory": {"limit": 16 << 20}}))
    assert info.value.errno == errno.EBUSY
    assert holder.alive()


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
    assert not manager.frozen()
    manager.freeze()
    assert manager.frozen()
    assert read(manager, "freezer", "freezer.state") == "FROZEN"
    stopped = value()
    time.sleep(0.3)
    assert value() == stopped
    manager.thaw()
    assert not manager.frozen()
    deadline = time.monotonic() + 10
    while value() == stopped and time.monotonic() < deadline:
        time.sleep(0.01)
    assert value() > stopped


def test_kill_all_signals_every_process(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    started = [children.sleeper() for _ in range(2)]
    for child in started:
        manager.add(child.pid)
        child.go()
    manager.kill_all(signal.SIGTERM)
    for child in started:
        status = child.wait()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    assert not manager.frozen()


def test_kill_all_keeps_a_paused_container_paused_except_for_sigkill(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create()
    child = children.sleeper()
    manager.add(child.pid)
    child.go()
    manager.freeze()
    manager.kill_all(signal.SIGTERM)
    assert manager.frozen()
    time.sleep(0.1)
    assert child.alive()  # the signal waits until the thaw
    manager.kill_all(signal.SIGKILL)
    assert not manager.frozen()  # SIGKILL thaws, or the frozen task could never die
    status = child.wait()
    # Which of the two queued signals the thawed task dies of is the kernel's business (a
    # frozen task's pending-signal state decides whether SIGTERM took the fatal fast path).
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGTERM, signal.SIGKILL)


def test_stats_have_runcs_shape(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create(res({"pids": {"limit": 50}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}))
    busy = children(lambda: spin(0.3))
    manager.add(busy.pid)
    busy.go()
    busy.result()
    sleeper = children.sleeper()
    manager.add(sleeper.pid)
    st = manager.stats()
    assert set(st) == {"cpu", "memory", "pids", "blkio", "hugetlb"}
    usage = st["cpu"]["usage"]
    assert usage["total"] >= 20_000_000  # ns; the 0.3 s spin gets less than that on a busy host
    assert len(usage["percpu"]) == os.cpu_count()
    assert usage["user"] + usage["kernel"] > 0
    assert set(st["cpu"]["throttling"]) == {"periods", "throttledPeriods", "throttledTime"}
    assert st["memory"]["usage"]["usage"] > 0
    assert "total_rss" in st["memory"]["raw"]
    assert st["pids"]["limit"] == 50 and st["pids"]["current"] >= 1
    assert st["hugetlb"]["2MB"] == {"usage": 0, "max": 0, "failcnt": 0}


def test_an_update_changes_a_running_container(parent: CgroupParents, children: Children) -> None:
    manager = new(parent)
    manager.create(res({"memory": {"limit": 64 << 20}, "pids": {"limit": 10}}))
    child = children.sleeper()
    manager.add(child.pid)
    child.go()
    manager.set(res({"memory": {"limit": 128 << 20}, "pids": {"limit": 20}, "cpu": {"shares": 256}}))
    assert read(manager, "memory", "memory.limit_in_bytes") == str(128 << 20)
    assert read(manager, "pids", "pids.max") == "20"
    assert read(manager, "cpu", "cpu.shares") == "256"
    assert child.alive()


# --- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [
    {"cpu": {"shares": -5}},
    {"cpu": {"cpus": "0-"}},
    {"cpu": {"cpus": "7"}},  # this host has 0-1
    {"memory": {"limit": 64 << 20, "swap": 32 << 20}},
    {"blockIO": {"weight": 5}},
    {"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]},
    {"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "q"}]},
    {"unified": {"memory.max": "100"}},
])
def test_invalid_values_are_refused_and_leave_nothing_behind(parent: CgroupParents, doc: dict[str, Any]) -> None:
    manager = new(parent)
    with pytest.raises(InvalidArgument):
        manager.create(res(doc))
    assert parent.dirs() == []


def test_unified_resources_need_cgroup_v2(parent: CgroupParents) -> None:
    with pytest.raises(InvalidArgument, match="unified resources require cgroup v2"):
        new(parent).create(res({"unified": {"pids.max": "10"}}))


def test_a_refused_update_writes_nothing(parent: CgroupParents) -> None:
    manager = new(parent)
    manager.create(res({"pids": {"limit": 10}, "memory": {"limit": 64 << 20}}))
    with pytest.raises(InvalidArgument):
        manager.set(res({"pids": {"limit": 20}, "memory": {"limit": 128 << 20}, "cpu": {"cpus": "0-"}}))
    assert read(manager, "pids", "pids.max") == "10"
    assert read(manager, "memory", "memory.limit_in_bytes") == str(64 << 20)


@pytest.mark.parametrize(("doc", "message"), [
    ({"network": {"classID": 42}}, "net_cls cgroup is not mounted"),
    ({"network": {"priorities": [{"name": "eth0", "priority": 5}]}}, "net_prio cgroup is not mounted"),
    ({"blockIO": {"leafWeight": 500}}, "blkio.leaf_weight"),
])
def test_what_this_host_lacks_is_refused_only_when_asked(parent: CgroupParents, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(NotImplemented, match=message):
        new(parent).create(res(doc))
    assert parent.dirs() == []
    new(parent).create(res({"pids": {"limit": 5}}))  # the same host, not asked: fine
