"""config.json features, each driven through `dockyard-runtime run` on a busybox bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.runtime.conftest import Bundle, RuntimeCLI


def run_out(runtime: RuntimeCLI, bundle: Bundle, script: str, name: str = "c1") -> str:
    bundle.process["args"] = ["sh", "-c", script]
    bundle.write()
    return runtime.ok("run", "-b", str(bundle.path), name)


# -- root, mounts, devices ---------------------------------------------------------------------


def test_readonly_root(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.config["root"]["readonly"] = True
    out = run_out(runtime, bundle, "touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-ok")
    assert "Read-only file system" in out and "rc=1" in out and "shm-ok" in out


def test_bind_mounts_ro_and_rw(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("host file\n")
    bundle.config["mounts"] += [
        {"destination": "/mnt/rw", "type": "bind", "source": str(rw), "options": ["rbind", "rw"]},
        {"destination": "/mnt/ro", "type": "bind", "source": str(ro), "options": ["rbind", "ro", "nosuid"]},
    ]
    out = run_out(runtime, bundle, "echo data > /mnt/rw/new; cat /mnt/ro/f; echo x > /mnt/ro/g 2>/dev/null || echo refused;"
                                   " grep /mnt/ro /proc/mounts | cut -d' ' -f4 | cut -d, -f1-2")
    assert (rw / "new").read_text() == "data\n"
    assert out.splitlines() == ["host file", "refused", "ro,nosuid"]
    assert not (ro / "g").exists()


def test_bind_mount_of_a_file_and_a_relative_source(runtime: RuntimeCLI, bundle: Bundle) -> None:
    (bundle.path / "hello.txt").write_text("from the bundle\n")
    bundle.config["mounts"].append({"destination": "/etc/hello", "type": "bind", "source": "hello.txt",
                                    "options": ["bind", "ro"]})
    assert run_out(runtime, bundle, "cat /etc/hello") == "from the bundle\n"


def test_tmpfs_options_and_tmpcopyup(runtime: RuntimeCLI, bundle: Bundle) -> None:
    (bundle.rootfs / "seed").mkdir()
    (bundle.rootfs / "seed" / "kept").write_text("copied up\n")
    bundle.config["mounts"] += [
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1770", "noexec"]},
        {"destination": "/seed", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]},
    ]
    out = run_out(runtime, bundle, "stat -c %a /scratch; grep ' /scratch ' /proc/mounts | cut -d' ' -f4;"
                                   " cat /seed/kept; echo new > /seed/kept2")
    lines = out.splitlines()
    assert lines[0] == "1770"
    assert "noexec" in lines[1] and "size=1024k" in lines[1]
    assert lines[2] == "copied up"
    assert not (bundle.rootfs / "seed" / "kept2").exists(), "the tmpfs must not write through"


def test_mount_destination_symlink_stays_inside_rootfs(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    # /evil -> /../../../tmp in the image must resolve to <rootfs>/tmp, not the host's /tmp.
    os.symlink("/../../../../../tmp", bundle.rootfs / "evil")
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("m")
    bundle.config["mounts"].append({"destination": "/evil/inside", "type": "bind", "source": str(src),
                                    "options": ["rbind"]})
    assert run_out(runtime, bundle, "cat /tmp/inside/marker") == "m"
    assert (bundle.rootfs / "tmp" / "inside").is_dir()
    assert not Path("/tmp/inside").exists()


def test_extra_devices(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 0o600,
                                "uid": 0, "gid": 0}]
    out = run_out(runtime, bundle, "ls -l /dev/fuse /dev/null | cut -c1-10; ls /dev | tr '\\n' ' '")
    lines = out.splitlines()
    assert lines[0] == "crw-------" and lines[1] == "crw-rw-rw-"
    for name in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd",
                 "stdin", "stdout", "stderr"):
        assert name in lines[2].split(), name


def test_device_cgroup_denies_what_is_not_allowed(runtime: RuntimeCLI, bundle: Bundle) -> None:
    # The device node exists, but the cgroup's deny-all rule (runc's default spec) refuses it.
    bundle.linux["devices"] = [{"type": "c", "path": "/dev/kmsg", "major": 1, "minor": 11}]
    bundle.linux["resources"]["devices"] = [{"allow": False, "access": "rwm"},
                                            {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwm"}]
    out = run_out(runtime, bundle, "head -c1 /dev/kmsg >/dev/null 2>&1 && echo opened || echo denied; echo x > /dev/null && echo null-ok")
    assert out.splitlines() == ["denied", "null-ok"]


def test_masked_and_readonly_paths(runtime: RuntimeCLI, bundle: Bundle) -> None:
    # /proc/keys (a file) reads as /dev/null, /proc/acpi (a directory) as an empty tmpfs, /proc/sys is
    # read-only; /proc/kcore, which this kernel does not have, is skipped without an error.
    out = run_out(runtime, bundle, "wc -c < /proc/keys; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro")
    assert out.split() == ["0", "0", "ro"]


def test_no_pivot(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sh", "-c", "ls / | tr '\\n' ' '"]
    bundle.write()
    out = runtime.ok("run", "--no-pivot", "-b", str(bundle.path), "c1")
    assert "bin" in out.split() and "etc" in out.split()


# -- namespaces --------------------------------------------------------------------------------


def test_hostname_domainname_and_sysctl(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.config["hostname"] = "box"
    bundle.config["domainname"] = "example.test"
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}
    assert run_out(runtime, bundle, "hostname; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax").split() == [
        "box", "example.test", "1", "123456789"]


def test_sysctl_outside_a_private_namespace_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"] if ns["type"] != "network"]
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1
    assert b"sysctl 'net.ipv4.ip_forward' not allowed in host network namespace" in result.stderr


def test_new_network_namespace_has_loopback_up(runtime: RuntimeCLI, bundle: Bundle) -> None:
    out = run_out(runtime, bundle, "ip -o link | cut -d: -f2 | tr -d ' ' | tr '\\n' ' '; cat /sys/class/net/lo/operstate")
    assert out.split()[0] == "lo" and len(out.split()) == 2
    assert out.split()[-1] in ("unknown", "up")


def test_join_a_network_namespace_by_path(runtime: RuntimeCLI, bundle: Bundle) -> None:
    name = f"dyt{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # A mark only this namespace has: forwarding on (a new namespace starts with it off).
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        for ns in bundle.linux["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{name}"
        assert run_out(runtime, bundle, "cat /proc/sys/net/ipv4/ip_forward") == "1\n"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def test_user_namespace_with_mappings(runtime: RuntimeCLI, bundle: Bundle) -> None:
    # The mapped root (host uid 100000) must be able to reach the rootfs: pytest's temporary
    # directories are 0700, so this bundle lives in a directory of its own under /tmp.
    home = Path(tempfile.mkdtemp(prefix="dockyard-userns-"))
    try:
        home.chmod(0o755)
        shutil.copytree(bundle.rootfs, home / "rootfs", symlinks=True)
        subprocess.run(["chown", "-R", "100000:100000", str(home / "rootfs")], check=True)
        bundle.linux["namespaces"].append({"type": "user"})
        bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        bundle.process["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map; touch /root/ok;"
                                  " ls -n /root/ok | awk '{print $3}'; echo x > /dev/null && echo dev-ok"]
        (home / "config.json").write_text(json.dumps(bundle.config))
        out = runtime.ok("run", "-b", str(home), "c1")
        lines = out.split("\n")
        assert lines[0] == "0"
        assert lines[1].split() == ["0", "100000", "65536"]
        assert lines[2] == "0" and lines[3] == "dev-ok"
        assert (home / "rootfs" / "root" / "ok").stat().st_uid == 100000
    finally:
        shutil.rmtree(home)


def test_user_namespace_without_mappings_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["namespaces"].append({"type": "user"})
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1
    assert b"user namespaces enabled, but no uid or gid mappings found" in result.stderr


def test_time_namespace_offsets(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["namespaces"].append({"type": "time"})
    bundle.linux["timeOffsets"] = {"boottime": {"secs": 86400 * 400, "nanosecs": 0}}
    out = run_out(runtime, bundle, "cut -d' ' -f1 /proc/uptime")
    assert float(out) > 86400 * 400


def test_cgroup_namespace_shows_the_container_cgroup_as_root(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["namespaces"].append({"type": "cgroup"})
    out = run_out(runtime, bundle, "grep memory /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert out.splitlines()[0].endswith(":memory:/")


def test_unknown_namespace_type_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["namespaces"].append({"type": "bogus"})
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1
    assert b"unknown namespace type 'bogus'" in result.stderr


# -- cgroups -----------------------------------------------------------------------------------


def test_resources_reach_the_cgroup(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["resources"].update({
        "memory": {"limit": 64 << 20, "swap": 128 << 20, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 42},
    })
    out = run_out(runtime, bundle, "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes"
                                   " cpu/cpu.shares cpu/cpu.cfs_quota_us pids/pids.max memory/memory.swappiness")
    assert out.split() == [str(64 << 20), str(128 << 20), "512", "50000", "42", "10"]


def test_pids_limit_is_enforced(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["resources"]["pids"] = {"limit": 5}
    # busybox sh exits when a fork fails, so the forks that hit the limit are made by a subshell,
    # and the shell reads the subshell's error with builtins only (no fork of its own to race).
    out = run_out(runtime, bundle, "(for i in 1 2 3 4 5 6 7 8; do sleep 1 & done) 2>/tmp/err; "
                                   "read -r line </tmp/err; echo \"$line\"")
    assert out == "sh: can't fork: Resource temporarily unavailable\n"


def test_memory_limit_oom_kills(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    bundle.process["args"] = ["sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived"]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 137
    assert b"survived" not in result.stdout


def test_invalid_resources_leave_nothing(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["resources"]["cpu"] = {"cpus": "0-"}
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1
    assert b"invalid" in result.stderr
    from tests.runtime.conftest import cgroup_dirs

    assert cgroup_dirs(bundle.linux["cgroupsPath"]) == []


# -- process -----------------------------------------------------------------------------------


def test_capabilities_from_the_spec(runtime: RuntimeCLI, bundle: Bundle) -> None:
    caps = ["CAP_CHOWN", "CAP_NET_RAW"]
    bundle.process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    out = run_out(runtime, bundle, "grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status | cut -f2")
    assert out.split() == ["0000000000002001"] * 3


def test_unknown_capability_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["capabilities"]["bounding"].append("CAP_BOGUS")
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1 and b'unknown capability "CAP_BOGUS"' in result.stderr


def test_rlimits_and_their_errors(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
                                 {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    assert run_out(runtime, bundle, "ulimit -n; ulimit -Hn; ulimit -c").split() == ["321", "654", "0"]
    hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout)
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard * 4}]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c2")
    assert result.returncode == 1
    assert b"error setting rlimit type RLIMIT_NOFILE: operation not permitted" in result.stderr


def test_seccomp_profile(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    out = run_out(runtime, bundle, "mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status; touch /tmp/file && echo touch-ok")
    assert "Operation not permitted" in out and "Seccomp:\t2" in out and "touch-ok" in out


def test_no_new_privileges_and_oom_score_adj(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["noNewPrivileges"] = True
    bundle.process["oomScoreAdj"] = 500
    assert run_out(runtime, bundle, "grep NoNewPrivs /proc/self/status | cut -f2; cat /proc/self/oom_score_adj").split() == ["1", "500"]


def test_personality(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["personality"] = {"domain": "LINUX32"}
    assert run_out(runtime, bundle, "uname -m") == "i686\n"


def test_apparmor_profile_on_a_host_without_apparmor_warns(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["apparmorProfile"] = "docker-default"
    bundle.process["args"] = ["echo", "ran"]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 0 and result.stdout == b"ran\n"
    if not Path("/sys/module/apparmor/parameters/enabled").exists() or \
            Path("/sys/module/apparmor/parameters/enabled").read_text().strip() != "Y":
        assert b"apparmor is not enabled on this host" in result.stderr


def test_preserve_fds(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    secret = tmp_path / "passed"
    secret.write_text("through fd 3\n")
    bundle.process["args"] = ["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"]
    bundle.write()
    # The shell opens fd 3 in the runtime's process only, as a manager passing a socket would.
    result = subprocess.run(["sh", "-c", f'exec 3<"{secret}"; exec "$0" "$@"', runtime.binary, "--root",
                             str(runtime.root), "run", "--preserve-fds", "1", "-b", str(bundle.path), "c1"],
                            capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().split()
    assert lines[0:3] == ["through", "fd", "3"]
    assert lines[3] == "5"  # 0, 1, 2, 3 and the one ls opens


# -- errors leave nothing behind ---------------------------------------------------------------


@pytest.mark.parametrize("breakage", ["bad-json", "no-rootfs", "no-config", "missing-command", "bad-field"])
def test_bad_input_gives_a_clear_error_and_leaves_nothing(runtime: RuntimeCLI, bundle: Bundle, breakage: str) -> None:
    expected = {
        "bad-json": b"config.json: invalid JSON",
        "no-rootfs": b"invalid rootfs: stat",
        "no-config": b"JSON specification file config.json not found",
        "missing-command": b'exec: "no-such-cmd": executable file not found in $PATH',
        "bad-field": b"config.json.process.args: expected a list of strings",
    }[breakage]
    config = bundle.path / "config.json"
    if breakage == "bad-json":
        config.write_text('{"ociVersion": ')
    elif breakage == "no-rootfs":
        bundle.config["root"]["path"] = "nope"
        bundle.write()
    elif breakage == "no-config":
        config.unlink()
    elif breakage == "missing-command":
        bundle.process["args"] = ["no-such-cmd"]
        bundle.write()
    else:
        bundle.process["args"] = "true"
        bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1", json_log=True)
    assert result.returncode == 1
    assert expected in result.stderr
    [record] = [json.loads(line) for line in runtime.log.read_text().splitlines()]
    assert record["level"] == "error" and expected.decode() in record["msg"], "the --log file has it as JSON"
    assert runtime.ok("list", "-q").split() == []
    from tests.runtime.conftest import cgroup_dirs

    assert cgroup_dirs(bundle.linux["cgroupsPath"]) == []
    assert str(bundle.path) not in Path("/proc/self/mountinfo").read_text(), "a mount was left behind"


def test_idmapped_bind_mount(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    # The kernel's (and the spec's) direction: ids on the source filesystem (containerID) are shown
    # at the mount as hostID. Host root's files appear owned by 1000, and what uid 1000 writes
    # there lands on disk as root's.
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "owned-by-root").write_text("x")
    bundle.config["mounts"].append({
        "destination": "/mapped", "type": "bind", "source": str(shared), "options": ["rbind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    })
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    out = run_out(runtime, bundle, "stat -c '%u:%g' /mapped/owned-by-root /mapped; touch /mapped/new && echo wrote")
    assert out.split() == ["1000:1000", "1000:1000", "wrote"]
    assert (shared / "new").stat().st_uid == 0 and (shared / "new").stat().st_gid == 0


def test_idmap_needs_mappings(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["mounts"].append({"destination": "/m", "type": "bind", "source": str(tmp_path),
                                    "options": ["rbind", "idmap"]})
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1 and b"idmap needs uidMappings and gidMappings" in result.stderr


def test_session_keyring(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["maskedPaths"].remove("/proc/keys")
    assert "_ses.c1" in run_out(runtime, bundle, "cat /proc/keys")
    bundle.process["args"] = ["cat", "/proc/keys"]
    bundle.write()
    assert "_ses.c2" not in runtime.ok("run", "--no-new-keyring", "-b", str(bundle.path), "c2")


def test_intel_rdt_is_refused_clearly(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["intelRdt"] = {"closID": "x", "l3CacheSchema": "L3:0=ff"}
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1 and b"Intel RDT (resctrl) is not supported" in result.stderr


@pytest.mark.parametrize(("propagation", "shared"), [("rprivate", False), ("rshared", True)])
def test_rootfs_propagation(runtime: RuntimeCLI, bundle: Bundle, propagation: str, shared: bool) -> None:
    # Applied to "/" after pivot_root; the rootfs's parent was made private first, so a shared
    # container root is a peer group of its own and never the host's.
    bundle.linux["rootfsPropagation"] = propagation
    line = run_out(runtime, bundle, "awk '$5 == \"/\"' /proc/self/mountinfo").strip()
    optional = line.split(" - ")[0].split()[6:]
    assert any(o.startswith("shared:") for o in optional) == shared, line
    assert not any(o.startswith("master:") for o in optional), line


def test_made_directories_get_mode_0755(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    # Mount points and the cwd are made with umask 0 in the init: every level must still be 0755.
    bundle.config["mounts"].append({"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs"})
    bundle.process["cwd"] = "/w/x/y"
    assert run_out(runtime, bundle, "stat -c %a /a /a/b /w /w/x /w/x/y").split() == ["755"] * 5
