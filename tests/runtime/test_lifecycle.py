"""create / start / run / state / kill / delete through the `dockyard-runtime` command line."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.runtime.conftest import Bundle, RuntimeCLI, cgroup_dirs


def test_run_true_exits_zero_and_leaves_nothing(runtime: RuntimeCLI, bundle: Bundle) -> None:
    result = runtime("run", "--bundle", str(bundle.path), "c1")
    assert result.returncode == 0, result.stderr.decode()
    assert runtime.ok("list", "-q").split() == []
    assert cgroup_dirs(bundle.linux["cgroupsPath"]) == []


def test_run_returns_the_exit_code_and_output(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sh", "-c", "echo out; echo err >&2; exit 7"]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 7
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_killed_by_signal_reports_128_plus_signal(runtime: RuntimeCLI, bundle: Bundle) -> None:
    # PID 1 of a pid namespace cannot be killed from inside it: run in the host's pid namespace.
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"] if ns["type"] != "pid"]
    bundle.process["args"] = ["sh", "-c", "kill -9 $$"]
    bundle.write()
    assert runtime("run", "-b", str(bundle.path), "c1").returncode == 137


def test_process_settings_reach_the_process(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sh", "-c", "echo $FOO; pwd; id -u; id -g; id -G; hostname; echo $HOME; umask"]
    bundle.process["env"].append("FOO=bar baz")
    bundle.process["cwd"] = "/tmp/work"
    bundle.process["user"] = {"uid": 1000, "gid": 100, "additionalGids": [10, 50], "umask": 0o027}
    bundle.config["hostname"] = "boxname"
    bundle.write()
    out = runtime.ok("run", "-b", str(bundle.path), "c1").splitlines()
    assert out == ["bar baz", "/tmp/work", "1000", "100", "100 10 50", "boxname", "/", "0027"]


def test_home_comes_from_the_containers_passwd(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sh", "-c", "echo $HOME"]
    bundle.process["user"] = {"uid": 33, "gid": 33}
    bundle.write()
    assert runtime.ok("run", "-b", str(bundle.path), "c1") == "/var/www\n"


def test_create_start_state_delete(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    marker = bundle.rootfs / "tmp" / "started"
    bundle.process["args"] = ["sh", "-c", "touch /tmp/started; exec sleep 60"]
    bundle.write()
    pid_file = tmp_path / "init.pid"
    runtime.ok("create", "--bundle", str(bundle.path), "--pid-file", str(pid_file), "c1")
    state = runtime.state("c1")
    assert state["status"] == "created"
    assert state["id"] == "c1" and state["bundle"] == str(bundle.path)
    assert int(pid_file.read_text()) == state["pid"] > 0
    time.sleep(0.1)
    assert not marker.exists(), "the process must not run before start"
    runtime.ok("start", "c1")
    _wait_for(marker.exists)
    assert runtime.state("c1")["status"] == "running"
    assert "c1" in runtime.ok("list")
    listed = json.loads(runtime.ok("list", "--format", "json"))
    assert [c["id"] for c in listed] == ["c1"]
    refused = runtime("delete", "c1")
    assert refused.returncode == 1
    assert b"cannot delete container c1 that is not stopped: running" in refused.stderr
    runtime.ok("kill", "c1", "KILL")
    _wait_for(lambda: runtime.state("c1")["status"] == "stopped")
    runtime.ok("delete", "c1")
    assert runtime("state", "c1").returncode == 1
    assert cgroup_dirs(bundle.linux["cgroupsPath"]) == []


def test_start_twice_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sleep", "60"]
    bundle.write()
    runtime.ok("create", "-b", str(bundle.path), "c1")
    runtime.ok("start", "c1")
    again = runtime("start", "c1")
    assert again.returncode == 1
    assert b"cannot start an already running container" in again.stderr


def test_kill_by_name_number_and_default(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sh", "-c", "trap 'echo usr1 > /tmp/got; exit 0' USR1; while :; do sleep 0.05; done"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    time.sleep(0.3)
    runtime.ok("kill", "c1", "SIGUSR1")
    _wait_for(lambda: (bundle.rootfs / "tmp" / "got").exists())
    _wait_for(lambda: runtime.state("c1")["status"] == "stopped")
    runtime.ok("delete", "c1")
    bundle.process["args"] = ["sleep", "60"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c2")
    runtime.ok("kill", "c2", str(int(signal.SIGKILL)))
    _wait_for(lambda: runtime.state("c2")["status"] == "stopped")
    bad = runtime("kill", "c2", "NOPE")
    assert bad.returncode == 1 and b'unknown signal "NOPE"' in bad.stderr


def test_delete_force_kills_a_running_container(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sleep", "60"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    pid = runtime.state("c1")["pid"]
    runtime.ok("delete", "--force", "c1")
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    assert cgroup_dirs(bundle.linux["cgroupsPath"]) == []


def test_delete_of_a_created_container(runtime: RuntimeCLI, bundle: Bundle) -> None:
    runtime.ok("create", "-b", str(bundle.path), "c1")
    pid = runtime.state("c1")["pid"]
    runtime.ok("delete", "c1")
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def test_missing_containers(runtime: RuntimeCLI) -> None:
    for args in (("state", "nope"), ("start", "nope"), ("kill", "nope"), ("delete", "nope")):
        result = runtime(*args)
        assert result.returncode == 1, args
        assert b"container does not exist" in result.stderr, args
    assert runtime("delete", "--force", "nope").returncode == 0


def test_duplicate_id_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    runtime.ok("create", "-b", str(bundle.path), "c1")
    again = runtime("create", "-b", str(bundle.path), "c1")
    assert again.returncode == 1
    assert b"container with id exists: c1" in again.stderr
    assert runtime.state("c1")["status"] == "created"


def _wait_for(predicate: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_ps_lists_the_containers_processes(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sh", "-c", "sleep 60 & exec sleep 61"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    _wait_for(lambda: len(json.loads(runtime.ok("ps", "--format", "json", "c1"))) == 2)
    pids = json.loads(runtime.ok("ps", "-f", "json", "c1"))
    assert runtime.state("c1")["pid"] in pids
    table = runtime.ok("ps", "c1").splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert len(table) == 3 and all("sleep" in line for line in table[1:])
    os.kill(runtime.state("c1")["pid"], signal.SIGKILL)
