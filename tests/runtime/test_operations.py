"""Hooks, terminals, exec, pause/resume, events, update, features and spec through the CLI."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.conftest import Bundle, RuntimeCLI
from tests.runtime.test_lifecycle import _wait_for


@pytest.fixture
def running(runtime: RuntimeCLI, bundle: Bundle) -> Iterator[str]:
    bundle.process["args"] = ["sleep", "300"]
    bundle.process["env"].append("FROM_SPEC=yes")
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    yield "c1"


# -- hooks -------------------------------------------------------------------------------------


def _hook_script(tmp_path: Path, name: str, body: str = "") -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\ncat > {tmp_path}/{name}.state\necho \"$@\" > {tmp_path}/{name}.args\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_every_hook_runs_with_the_state_on_stdin(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    bundle.config["hooks"] = {
        kind: [{"path": _hook_script(tmp_path, kind), "args": [kind, "one", "two"], "env": ["X=1"]}] for kind in kinds
    }
    # startContainer runs inside the container, after pivot_root: its path resolves in the rootfs.
    bundle.config["hooks"]["startContainer"][0]["path"] = "/start-hook"
    (bundle.rootfs / "start-hook").write_text("#!/bin/sh\ncat > /tmp/startContainer.state\necho \"$@\" > /tmp/startContainer.args\n")
    (bundle.rootfs / "start-hook").chmod(0o755)
    bundle.process["args"] = ["true"]
    bundle.write()
    runtime.ok("run", "-b", str(bundle.path), "c1")
    statuses = {}
    for kind in kinds:
        where = bundle.rootfs / "tmp" if kind == "startContainer" else tmp_path
        state = json.loads((where / f"{kind}.state").read_text())
        assert state["id"] == "c1" and state["bundle"] == str(bundle.path) and state["ociVersion"]
        assert (where / f"{kind}.args").read_text() == "one two\n"
        statuses[kind] = state["status"]
    assert statuses == {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                        "startContainer": "created", "poststart": "running", "poststop": "stopped"}


def test_a_failing_create_hook_fails_create_and_leaves_nothing(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["hooks"] = {"createRuntime": [{"path": _hook_script(tmp_path, "bad", "echo nope >&2; exit 3")}]}
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1
    assert b"error running createRuntime hook #0" in result.stderr and b"exit status 3" in result.stderr
    assert runtime.ok("list", "-q") == ""


def test_hook_timeout(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["hooks"] = {"prestart": [{"path": _hook_script(tmp_path, "slow", "sleep 30"), "timeout": 1}]}
    bundle.write()
    started = time.monotonic()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 1 and b"timeout after 1s" in result.stderr
    assert time.monotonic() - started < 10


def test_failing_poststart_only_warns(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["hooks"] = {"poststart": [{"path": _hook_script(tmp_path, "warn", "exit 1")}]}
    bundle.process["args"] = ["echo", "ran"]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), "c1")
    assert result.returncode == 0 and result.stdout == b"ran\n"
    assert b"level=warning" in result.stderr and b"poststart" in result.stderr


# -- terminals ---------------------------------------------------------------------------------


class ConsoleSocket:
    """What a manager (containerd's shim) does: listen, receive the pty master over SCM_RIGHTS."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.master: int | None = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            self.master = fds[0]

    def read_until_eof(self, timeout: float = 10) -> bytes:
        self.thread.join(timeout)
        assert self.master is not None, "no pty master was received"
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the slave side is closed
                break
            if not chunk:
                break
            out += chunk
        return out

    def close(self) -> None:
        if self.master is not None:
            os.close(self.master)
        self.server.close()


def test_terminal_through_console_socket(runtime: RuntimeCLI, bundle: Bundle, tmp_path: Path) -> None:
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        bundle.process["terminal"] = True
        bundle.process["consoleSize"] = {"height": 33, "width": 99}
        bundle.process["args"] = ["sh", "-c", "tty; stty size; test -t 0 && echo stdin-tty"]
        bundle.write()
        runtime.ok("create", "--console-socket", str(console.path), "-b", str(bundle.path), "c1")
        runtime.ok("start", "c1")
        out = console.read_until_eof()
        assert out.replace(b"\r\n", b"\n") == b"/dev/pts/0\n33 99\nstdin-tty\n"
    finally:
        console.close()


def test_terminal_without_console_socket_is_refused_when_detached(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["terminal"] = True
    bundle.write()
    result = runtime("create", "-b", str(bundle.path), "c1")
    assert result.returncode == 1 and b"cannot allocate tty" in result.stderr


# -- exec --------------------------------------------------------------------------------------


def test_exec_with_flags(runtime: RuntimeCLI, running: str) -> None:
    out = runtime.ok("exec", "--cwd", "/tmp", "--env", "EXTRA=1", "-u", "1000:100", running,
                     "sh", "-c", "pwd; echo $EXTRA $FROM_SPEC; id -u; id -g")
    assert out.split() == ["/tmp", "1", "yes", "1000", "100"]


def test_exec_exit_code_and_missing_command(runtime: RuntimeCLI, running: str) -> None:
    assert runtime("exec", running, "sh", "-c", "exit 9").returncode == 9
    missing = runtime("exec", running, "nope-cmd")
    assert missing.returncode == 1
    assert b'exec: "nope-cmd": executable file not found in $PATH' in missing.stderr


def test_exec_process_json_detached_with_pid_file(runtime: RuntimeCLI, running: str, tmp_path: Path, bundle: Bundle) -> None:
    process = {"args": ["sh", "-c", "echo $$ > /tmp/exec-pid; sleep 300"], "cwd": "/", "env": ["PATH=/bin"],
               "user": {"uid": 0, "gid": 0}}
    (tmp_path / "process.json").write_text(json.dumps(process))
    runtime.ok("exec", "--process", str(tmp_path / "process.json"), "-d", "--pid-file", str(tmp_path / "exec.pid"), running)
    pid = int((tmp_path / "exec.pid").read_text())
    assert Path(f"/proc/{pid}").exists()
    assert pid in json.loads(runtime.ok("ps", "--format", "json", running))
    _wait_for(lambda: (bundle.rootfs / "tmp" / "exec-pid").exists())


def test_exec_with_a_terminal(runtime: RuntimeCLI, running: str, tmp_path: Path) -> None:
    console = ConsoleSocket(tmp_path / "exec-console.sock")
    try:
        runtime.ok("exec", "-t", "-d", "--console-socket", str(console.path), running, "tty")
        assert console.read_until_eof().startswith(b"/dev/pts/")
    finally:
        console.close()


def test_exec_into_a_stopped_container_is_refused(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["true"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    _wait_for(lambda: runtime.state("c1")["status"] == "stopped")
    result = runtime("exec", "c1", "true")
    assert result.returncode == 1 and b"cannot exec in a stopped container" in result.stderr


# -- pause, events, update ---------------------------------------------------------------------


def test_pause_and_resume(runtime: RuntimeCLI, running: str) -> None:
    runtime.ok("pause", running)
    assert runtime.state(running)["status"] == "paused"
    assert b"cannot exec in a paused container" in runtime("exec", running, "true").stderr
    assert b"container already paused" in runtime("pause", running).stderr
    runtime.ok("resume", running)
    assert runtime.state(running)["status"] == "running"
    assert b"container not paused" in runtime("resume", running).stderr


def test_events_stats(runtime: RuntimeCLI, running: str) -> None:
    event = json.loads(runtime.ok("events", "--stats", running))
    assert event["type"] == "stats" and event["id"] == running
    data = event["data"]
    assert data["pids"]["current"] >= 1
    assert data["memory"]["usage"]["usage"] > 0
    assert data["cpu"]["usage"]["total"] > 0


def test_update_resources(runtime: RuntimeCLI, running: str, bundle: Bundle) -> None:
    runtime.ok("update", "--memory", "100m", "--pids-limit", "77", running)
    runtime.ok("update", "--resources", "-", running, input=json.dumps({"cpu": {"shares": 300}}).encode())
    path = bundle.linux["cgroupsPath"].lstrip("/")
    base = Path("/sys/fs/cgroup")
    assert (base / "memory" / path / "memory.limit_in_bytes").read_text().strip() == str(100 << 20)
    assert (base / "pids" / path / "pids.max").read_text().strip() == "77"
    assert (base / "cpu" / path / "cpu.shares").read_text().strip() == "300"
    bad = runtime("update", "--resources", "-", running, input=b"{not json")
    assert bad.returncode == 1 and b"decoding resources" in bad.stderr


def test_kill_all(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"] if ns["type"] != "pid"]
    bundle.process["args"] = ["sh", "-c", "sleep 300 & sleep 301 & wait"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    _wait_for(lambda: len(json.loads(runtime.ok("ps", "-f", "json", "c1"))) == 3)
    runtime.ok("kill", "--all", "c1", "KILL")
    _wait_for(lambda: json.loads(runtime.ok("ps", "-f", "json", "c1")) == [])


# -- features, spec, list ----------------------------------------------------------------------


def test_features(runtime: RuntimeCLI) -> None:
    doc = json.loads(runtime.ok("features"))
    assert doc["ociVersionMax"] == "1.2.0"
    assert set(doc["linux"]["namespaces"]) >= {"pid", "network", "mount", "user", "cgroup", "time"}
    assert doc["linux"]["cgroup"]["v1"] and doc["linux"]["cgroup"]["v2"]
    assert doc["linux"]["seccomp"]["enabled"] and "SCMP_ACT_NOTIFY" in doc["linux"]["seccomp"]["actions"]
    assert "rbind" in doc["mountOptions"] and "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]


def test_spec_writes_a_runnable_config(runtime: RuntimeCLI, tmp_path: Path, bundle: Bundle) -> None:
    work = tmp_path / "fresh"
    work.mkdir()
    runtime.ok("spec", "--bundle", str(work))
    doc = json.loads((work / "config.json").read_text())
    assert doc["process"]["args"] == ["sh"] and doc["root"]["path"] == "rootfs"
    again = runtime("spec", "--bundle", str(work))
    assert again.returncode == 1 and b"File config.json exists" in again.stderr


def test_list_formats_and_version(runtime: RuntimeCLI, running: str) -> None:
    table = runtime.ok("list").splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == running and table[1].split()[2] == "running"
    assert runtime.ok("list", "-q").split() == [running]
    assert b"dockyard-runtime version" in runtime("--version").stdout
    unknown = runtime("frobnicate")
    assert unknown.returncode == 1
    bad_flag = runtime("run", "--bogus", "c9")
    assert bad_flag.returncode == 1 and b"flag provided but not defined: --bogus" in bad_flag.stderr


def test_events_stream_until_the_container_stops(runtime: RuntimeCLI, bundle: Bundle) -> None:
    bundle.process["args"] = ["sleep", "1"]
    bundle.write()
    runtime.ok("run", "-d", "-b", str(bundle.path), "c1")
    out = runtime.ok("events", "--interval", "200ms", "c1", timeout=20)
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) >= 2 and all(e["type"] == "stats" and e["id"] == "c1" for e in events)
