"""The pure parts of runtime/cgroups: conversions, checks, the device rule emulator, path resolution.

No kernel here: every case is a value in and a value (or an error) out. The tables for the v1->v2
conversions are runc's own (opencontainers/cgroups utils_test.go).
"""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import DeviceRule, Resources
from dockyard.runtime.cgroups import convert, devices, paths, validate
from dockyard.runtime.cgroups.devices import WILDCARD, Emulator, Rule

# --- cpu -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shares", "weight"), [
    (0, 0),            # unset
    (1, 1),            # below the minimum
    (2, 1),            # minimum
    (3, 2),            # just above the minimum
    (1024, 100),       # default
    (262143, 10000),   # just below the maximum
    (262144, 10000),   # maximum
    (262145, 10000),   # above the maximum
])
def test_cpu_shares_to_weight_matches_runc(shares: int, weight: int) -> None:
    assert convert.cpu_shares_to_weight(shares) == weight


def test_cpu_shares_to_weight_is_monotonic() -> None:
    weights = [convert.cpu_shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights)


@pytest.mark.parametrize(("quota", "period", "line"), [
    (None, None, None),
    (0, 0, None),
    (50000, None, "50000 100000"),
    (50000, 200000, "50000 200000"),
    (-1, 200000, "max 200000"),
    (None, 250000, "max 250000"),
    (-1, None, "max 100000"),
])
def test_cpu_max(quota: int | None, period: int | None, line: str | None) -> None:
    assert convert.cpu_max(quota, period) == line


# --- memory ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("swap", "limit", "expected"), [
    (0, 0, None),          # all unset
    (-1, 0, -1),           # unlimited memory+swap, unset memory
    (300, -1, 300),        # unlimited memory
    (-1, -1, -1),          # all unlimited
    (-1, 1000, -1),        # unlimited memory+swap, set memory
    (1000, 1000, 0),       # memory+swap == memory: no swap
    (500, 200, 300),       # memory+swap > memory
    (0, -1, -1),           # unlimited memory, swap unset: unlimited swap too
    (None, None, None),
])
def test_swap_to_v2_matches_runc(swap: int | None, limit: int | None, expected: int | None) -> None:
    assert convert.swap_to_v2(swap, limit) == expected


@pytest.mark.parametrize(("swap", "limit", "message"), [
    (-2, 0, "without memory limit"),          # negative memory+swap
    (300, 400, "should be >= memory limit"),  # memory+swap < memory
    (300, 0, "without memory limit"),         # unset memory
    (300, -300, "invalid memory value"),      # negative memory
])
def test_swap_to_v2_refuses_what_runc_refuses(swap: int, limit: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        convert.swap_to_v2(swap, limit)


def test_swap_max_value_text() -> None:
    assert convert.swap_max_value(1000, 1000) == "0"
    assert convert.swap_max_value(-1, 1000) == "max"
    assert convert.swap_max_value(3 << 20, 1 << 20) == str(2 << 20)
    assert convert.swap_max_value(None, 1 << 20) is None


def test_memory_value() -> None:
    assert convert.memory_value(None) is None
    assert convert.memory_value(0) is None
    assert convert.memory_value(-1) == "max"
    assert convert.memory_value(1 << 20) == "1048576"


# --- block I/O, pids, hugetlb --------------------------------------------------------------------


@pytest.mark.parametrize(("weight", "io_weight"), [(0, 0), (10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight_matches_runc(weight: int, io_weight: int) -> None:
    assert convert.blkio_weight_to_io_weight(weight) == io_weight


@pytest.mark.parametrize(("limit", "text"), [(1, "1"), (100, "100"), (0, "max"), (-1, "max"), (-5, "max")])
def test_pids_max(limit: int, text: str) -> None:
    assert convert.pids_max(limit) == text


def test_io_max_line() -> None:
    assert convert.io_max_line(8, 0, "rbps", 1048576) == "8:0 rbps=1048576"
    assert convert.io_max_line(254, 16, "wiops", 0) == "254:16 wiops=max"  # 0 removes the limit, as in v1


@pytest.mark.parametrize(("dirname", "name"), [
    ("hugepages-2048kB", "2MB"), ("hugepages-1048576kB", "1GB"), ("hugepages-64kB", "64KB"),
    ("hugepages-32768kB", "32MB"), ("something-else", None),
])
def test_hugepage_names(dirname: str, name: str | None) -> None:
    assert convert.hugepage_dir_to_name(dirname) == name


# --- cpu lists -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "values"), [
    ("0", {0}), ("0-3", {0, 1, 2, 3}), ("0,2", {0, 2}), ("0-1,4-5", {0, 1, 4, 5}), (" 1 ", {1}),
    ("0-7:2/4", {0, 1, 4, 5}),
])
def test_parse_cpu_list(text: str, values: set[int]) -> None:
    assert convert.parse_cpu_list(text) == values


@pytest.mark.parametrize("text", ["0-", "-1", "a", "1,,2", "3-1", "", "0-3:0/2", "1.5"])
def test_parse_cpu_list_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidArgument):
        convert.parse_cpu_list(text)


def test_format_cpu_list() -> None:
    assert convert.format_cpu_list({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert convert.format_cpu_list(set()) == ""


# --- validate.check --------------------------------------------------------------------------------


def _res(j: dict[str, Any]) -> Resources:
    return Resources.from_json(j)


@pytest.mark.parametrize(("doc", "message"), [
    ({"cpu": {"shares": -5}}, "must not be negative"),
    ({"cpu": {"cpus": "0-"}}, "cpuset.cpus"),
    ({"cpu": {"mems": "x"}}, "cpuset.mems"),
    ({"cpu": {"period": 10}}, "period"),
    ({"cpu": {"quota": 10}}, "quota"),
    ({"cpu": {"idle": 3}}, "idle"),
    ({"cpu": {"burst": -1}}, "burst"),
    ({"memory": {"limit": 1 << 30, "swap": 1 << 20}}, "should be >= memory limit"),
    ({"memory": {"limit": -2}}, "memory limit"),
    ({"memory": {"swappiness": 101}}, "swappiness"),
    ({"blockIO": {"weight": 5}}, "blkio weight"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 2000}]}}, "8:0"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": -1}]}}, "rate"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 0}]}, "hugepage size"),
    ({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}}, "interface name"),
    ({"devices": [{"allow": True, "type": "x"}]}, "device rule type"),
    ({"devices": [{"allow": True, "type": "c", "access": "rwx"}]}, "device access"),
    ({"unified": {"memory.max": "1"}}, "unified resources require cgroup v2"),
])
def test_check_v1_refuses(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate.check(_res(doc), 1)


def test_check_v1_cpu_shares_range_is_runcs() -> None:
    with pytest.raises(InvalidArgument, match="minimum allowed cpu-shares is 2"):
        validate.check(_res({"cpu": {"shares": 1}}), 1)
    with pytest.raises(InvalidArgument, match="maximum allowed cpu-shares is 262144"):
        validate.check(_res({"cpu": {"shares": 262145}}), 1)
    validate.check(_res({"cpu": {"shares": 1}}), 2)  # v2 converts (clamps) instead


@pytest.mark.parametrize(("doc", "message"), [
    ({"memory": {"swap": 1 << 20}}, "without memory limit"),
    ({"unified": {"../memory.max": "1"}}, "CONTROLLER.PARAMETER"),
    ({"unified": {"nodot": "1"}}, "CONTROLLER.PARAMETER"),
])
def test_check_v2_refuses(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate.check(_res(doc), 2)


def test_check_accepts_a_typical_docker_spec() -> None:
    doc = {
        "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
        "memory": {"limit": 1 << 30, "swap": 2 << 30, "reservation": 1 << 29, "swappiness": 60},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1 << 20}]},
    }
    validate.check(_res(doc), 1)
    validate.check(_res(doc), 2)


# --- the device emulator ---------------------------------------------------------------------------


def _rules(*specs: tuple[bool, str, int | None, int | None, str]) -> list[DeviceRule]:
    return [DeviceRule(allow, kind, major, minor, access) for allow, kind, major, minor, access in specs]


def test_emulator_allowlist_merges_access() -> None:
    emu = devices.target(_rules((False, "a", None, None, "rwm"), (True, "c", 1, 3, "r"), (True, "c", 1, 3, "w"),
                                (True, "c", 1, 5, "rwm")))
    assert not emu.default_allow
    assert [r.cgroup_string() for r in emu.clean_rules()] == ["c 1:3 rw", "c 1:5 rwm"]


def test_emulator_starts_deny_all_like_runc() -> None:
    assert devices.target([]) == Emulator(default_allow=False)


def test_emulator_denylist() -> None:
    emu = devices.target(_rules((True, "a", None, None, "rwm"), (False, "c", 1, 3, "rwm")))
    assert emu.default_allow
    clean = emu.clean_rules()
    assert clean[0] == Rule("a", WILDCARD, WILDCARD, "rwm", True)
    assert clean[1:] == [Rule("c", 1, 3, "rwm", False)]


def test_emulator_refuses_to_punch_holes_in_wildcards() -> None:
    with pytest.raises(InvalidArgument, match="punch a hole"):
        devices.target(_rules((True, "c", None, None, "rwm"), (False, "c", 1, 3, "r")))


def test_emulator_removes_part_of_an_exception() -> None:
    emu = devices.target(_rules((True, "c", 1, 3, "rwm"), (False, "c", 1, 3, "w")))
    assert [r.cgroup_string() for r in emu.clean_rules()] == ["c 1:3 rm"]


def test_transition_from_allow_all_resets_first() -> None:
    current = devices.parse_list("a *:* rwm\n")
    target = devices.target(_rules((True, "c", 1, 3, "rwm")))
    assert [(r.allow, r.cgroup_string()) for r in current.transition(target)] == [
        (False, "a *:* rwm"), (True, "c 1:3 rwm")]


def test_transition_between_allowlists_is_minimal() -> None:
    current = devices.parse_list("c 1:3 rwm\nc 1:5 rwm\n")
    target = devices.target(_rules((True, "c", 1, 3, "rwm"), (True, "c", 1, 7, "r")))
    # Nothing disruptive: 1:5 goes, 1:7 comes, 1:3 is untouched.
    assert [(r.allow, r.cgroup_string()) for r in current.transition(target)] == [
        (False, "c 1:5 rwm"), (True, "c 1:7 r")]


def test_parse_list() -> None:
    emu = devices.parse_list("c 1:3 rwm\nb *:* m\nc 136:* rw\n")
    assert emu.exceptions == {devices.Match(1, 3, "c"): 7, devices.Match(WILDCARD, WILDCARD, "b"): 4,
                              devices.Match(136, WILDCARD, "c"): 3}
    with pytest.raises(InvalidArgument):
        devices.parse_list("x 1:3 rwm\n")


# --- paths -----------------------------------------------------------------------------------------

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 /docker/abc /mnt/my\\040cg rw - cgroup cgroup rw,pids
"""
KNOWN = {"cpu", "cpuacct", "memory", "devices", "pids", "hugetlb"}
OWN = "0::/user.slice\n4:memory:/process_api/h1\n3:devices:/\n2:cpu,cpuacct:/svc\n1:name=systemd:/init.scope\n"


def test_parse_mountinfo() -> None:
    found = paths.parse_mountinfo(MOUNTINFO, KNOWN)
    assert [(m.mountpoint, m.version, m.controllers, m.root) for m in found] == [
        ("/sys/fs/cgroup/cpu,cpuacct", 1, ("cpu", "cpuacct"), "/"),
        ("/sys/fs/cgroup/memory", 1, ("memory",), "/"),
        ("/sys/fs/cgroup/devices", 1, ("devices",), "/"),
        ("/sys/fs/cgroup/systemd", 1, ("name=systemd",), "/"),
        ("/sys/fs/cgroup/unified", 2, (), "/"),
        ("/mnt/my cg", 1, ("pids",), "/docker/abc"),
    ]
    assert found[3].options() == "none,name=systemd"
    assert found[0].options() == "cpu,cpuacct"


def test_own_cgroups() -> None:
    own = paths.own_cgroups(OWN)
    assert own == {"": "/user.slice", "memory": "/process_api/h1", "devices": "/", "cpu": "/svc",
                   "cpuacct": "/svc", "name=systemd": "/init.scope"}


@pytest.mark.parametrize(("raw", "cleaned"), [
    ("/a/b", "/a/b"), ("/a/../../etc", "/etc"), ("a/b", "a/b"), ("../../a", "a"), ("a//b/./c/", "a/b/c"), ("", ""),
])
def test_clean_cannot_climb_out(raw: str, cleaned: str) -> None:
    assert paths.clean(raw) == cleaned


def test_inner_path() -> None:
    assert paths.inner_path("", "c1") == "/dockyard-runtime/c1"
    assert paths.inner_path("/dockyard/c1", "c1") == "/dockyard/c1"
    assert paths.inner_path("rel/c1", "c1") == "rel/c1"
    for bad_id in ("", "a/b", ".."):
        with pytest.raises(InvalidArgument):
            paths.inner_path("", bad_id)
    with pytest.raises(InvalidArgument):
        paths.inner_path("/..", "c1")


def test_v1_paths_absolute_and_relative() -> None:
    found = paths.parse_mountinfo(MOUNTINFO, KNOWN)[:5]
    own = paths.own_cgroups(OWN)
    absolute = paths.v1_paths("/dockyard/c1", found, own)
    assert absolute == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct/dockyard/c1", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/dockyard/c1",
        "memory": "/sys/fs/cgroup/memory/dockyard/c1", "devices": "/sys/fs/cgroup/devices/dockyard/c1",
        "name=systemd": "/sys/fs/cgroup/systemd/dockyard/c1", "": "/sys/fs/cgroup/unified/dockyard/c1",
    }
    relative = paths.v1_paths("x/c1", found, own)
    assert relative["memory"] == "/sys/fs/cgroup/memory/process_api/h1/x/c1"
    assert relative["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/svc/x/c1"
    assert relative["devices"] == "/sys/fs/cgroup/devices/x/c1"
    # v2's relative paths sit beside our own cgroup, not in it (runc: "no internal processes").
    assert relative[""] == "/sys/fs/cgroup/unified/x/c1"


def test_v1_paths_follow_the_mount_root() -> None:
    found = paths.parse_mountinfo(MOUNTINFO, KNOWN)
    pids_mount = found[5]
    assert paths.container_path("/mnt/my cg/c1", pids_mount) == "/docker/abc/c1"
    own = paths.own_cgroups("5:pids:/docker/abc/sub\n3:devices:/\n")
    assert paths.v1_paths("c1", [pids_mount, found[2]], own)["pids"] == "/mnt/my cg/sub/c1"


def test_v2_path() -> None:
    mount = paths.CgroupMount("/sys/fs/cgroup", "/", 2, ())
    own = {"": "/system.slice/dockyard.service"}
    assert paths.v2_path("/dockyard/c1", mount, own) == "/sys/fs/cgroup/dockyard/c1"
    assert paths.v2_path("c1", mount, own) == "/sys/fs/cgroup/system.slice/c1"
    assert paths.v2_path("c1", mount, {"": "/"}) == "/sys/fs/cgroup/c1"
