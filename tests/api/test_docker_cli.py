"""The real docker CLI against dockyardd: the everyday commands, their output and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.helpers.dockyardd import Dockyardd


def out(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stdout.decode()


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def wait_for(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_run_echo(dockyardd: Dockyardd) -> None:
    r = dockyardd.docker("run", "--rm", "busybox", "echo", "hello", "world")
    assert ok(r) == "hello world\n"
    assert r.stderr == b""


def test_exit_codes(dockyardd: Dockyardd) -> None:
    assert dockyardd.docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    assert dockyardd.docker("run", "--rm", "busybox", "true").returncode == 0
    r = dockyardd.docker("run", "--rm", "busybox", "no-such-command")
    assert r.returncode == 127
    assert b"executable file not found" in r.stderr
    # PID 1 of the container ignores SIGKILL sent from inside; a child of it does not
    killed = dockyardd.docker("run", "--rm", "busybox", "sh", "-c", 'sh -c "kill -9 \\$\\$"; exit $?')
    assert killed.returncode == 137


def test_stdout_and_stderr_are_separate(dockyardd: Dockyardd) -> None:
    r = dockyardd.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_stdin_through_run_i(dockyardd: Dockyardd) -> None:
    r = dockyardd.docker("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; echo done", input=b"shout\n")
    assert ok(r) == "SHOUT\ndone\n"


def test_detached_logs_follow(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "busybox", "sh", "-c",
                              "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done")).strip()
    assert len(cid) == 64
    follow = dockyardd.docker("logs", "-f", cid, timeout=30)
    assert ok(follow) == "".join(f"line {i}\n" for i in range(1, 6))
    assert ok(dockyardd.docker("wait", cid)) == "0\n"
    assert ok(dockyardd.docker("logs", "--tail", "2", cid)) == "line 4\nline 5\n"
    stamped = ok(dockyardd.docker("logs", "-t", cid)).splitlines()
    assert stamped[0].endswith(" line 1") and stamped[0][:4].isdigit() and "T" in stamped[0]
    ok(dockyardd.docker("rm", cid))


def test_ps_inspect_and_filters(dockyardd: Dockyardd) -> None:
    ok(dockyardd.docker("run", "-d", "--name", "ps-running", "-l", "team=blue", "busybox", "sleep", "30"))
    assert dockyardd.docker("run", "--name", "ps-exited", "busybox", "sh", "-c", "exit 2").returncode == 2
    try:
        names = ok(dockyardd.docker("ps", "--format", "{{.Names}}")).split()
        assert "ps-running" in names and "ps-exited" not in names
        names = ok(dockyardd.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}")).splitlines()
        assert any(line.startswith("ps-exited Exited (2)") for line in names)
        assert ok(dockyardd.docker("ps", "-a", "-q", "--filter", "label=team=blue")).split() == \
            [ok(dockyardd.docker("inspect", "-f", "{{.Id}}", "ps-running")).strip()[:12]]
        assert ok(dockyardd.docker("ps", "-a", "--filter", "exited=2", "--format", "{{.Names}}")).split() == ["ps-exited"]
        assert ok(dockyardd.docker("ps", "-a", "--filter", "status=running", "--filter", "name=ps-",
                                   "--format", "{{.Names}}")).split() == ["ps-running"]
        doc = json.loads(ok(dockyardd.docker("inspect", "ps-exited")))[0]
        assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 2
        assert doc["Name"] == "/ps-exited" and doc["Path"] == "sh" and doc["Args"] == ["-c", "exit 2"]
        running = json.loads(ok(dockyardd.docker("inspect", "ps-running")))[0]
        assert running["State"]["Running"] and running["State"]["Pid"] > 0
        assert running["Config"]["Labels"] == {"team": "blue"}
    finally:
        dockyardd.docker("rm", "-f", "ps-running", "ps-exited")


def test_attach_shows_main_process_and_exec_starts_a_new_one(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "busybox", "sh", "-c",
                              "trap 'exit 0' TERM; while true; do echo main-says-hi; sleep 0.2; done")).strip()
    try:
        with subprocess.Popen(["docker", "attach", "--no-stdin", cid], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=dockyardd.env()) as attach:
            assert attach.stdout is not None
            assert attach.stdout.readline() == b"main-says-hi\n"
            ps = ok(dockyardd.docker("exec", cid, "ps", "-o", "pid,args"))
            lines = [line.split(None, 1) for line in ps.splitlines()[1:]]
            assert lines[0][0] == "1" and "while true" in lines[0][1]
            assert any(args.startswith("ps ") for _, args in lines)  # the exec is a new process in the container
            assert dockyardd.docker("exec", cid, "sh", "-c", "exit 7").returncode == 7
            assert ok(dockyardd.docker("exec", "-e", "X=42", "-w", "/tmp", cid, "sh", "-c", "echo $X $(pwd)")) == \
                "42 /tmp\n"
            assert ok(dockyardd.docker("exec", "-i", cid, "cat", input=b"piped\n")) == "piped\n"
            ok(dockyardd.docker("stop", cid))
            attach.wait(timeout=15)
            assert attach.returncode == 0
    finally:
        dockyardd.docker("rm", "-f", cid)


def test_interactive_tty(dockyardd: Dockyardd) -> None:
    """`docker run -it` through a real pty: the container sees a terminal, its size, and our keys."""
    import pty

    pid, master = pty.fork()
    if pid == 0:  # the child: the docker CLI on the pty's slave
        os.environ.update(dockyardd.env())
        os.execvp("docker", ["docker", "run", "--rm", "-it", "busybox", "sh", "-c",
                             "tty; stty size; read line; echo got:$line"])
    import fcntl
    import struct
    import termios

    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    output = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not sent and b"101" in output:
            os.write(master, b"typed\r")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(master)
    text = output.decode(errors="replace")
    assert "/dev/pts/" in text
    assert "33 101" in text
    assert "got:typed" in text
    assert os.waitstatus_to_exitcode(status) == 0


def test_cp_both_ways(dockyardd: Dockyardd, tmp_path: Path) -> None:
    cid = ok(dockyardd.docker("create", "busybox", "cat", "/data/hello.txt")).strip()
    try:
        src = tmp_path / "hello.txt"
        src.write_text("from the host\n")
        ok(dockyardd.docker("cp", str(src), f"{cid}:/hello.txt"))
        ok(dockyardd.docker("cp", str(tmp_path), f"{cid}:/data"))
        r = dockyardd.docker("start", "-a", cid)
        assert ok(r) == "from the host\n"
        ok(dockyardd.docker("cp", f"{cid}:/etc/passwd", str(tmp_path / "passwd")))
        assert (tmp_path / "passwd").read_text().startswith("root:x:0:0")
        ok(dockyardd.docker("cp", f"{cid}:/data", str(tmp_path / "back")))
        assert (tmp_path / "back" / "hello.txt").read_text() == "from the host\n"
        missing = dockyardd.docker("cp", f"{cid}:/nope", str(tmp_path / "x"))
        assert missing.returncode == 1 and b"Could not find the file /nope in container" in missing.stderr
        archive = dockyardd.docker("cp", f"{cid}:/hello.txt", "-")
        names = tarfile.open(fileobj=io.BytesIO(archive.stdout)).getnames()
        assert names == ["hello.txt"]
    finally:
        dockyardd.docker("rm", "-f", cid)


def test_diff_commit_export(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "busybox", "sh", "-c",
                              "echo committed > /marker; rm /bin/ls; sleep 30")).strip()
    try:
        wait_for(lambda: "/marker" in out(dockyardd.docker("diff", cid)))
        diff = ok(dockyardd.docker("diff", cid)).splitlines()
        assert "A /marker" in diff and "D /bin/ls" in diff and "C /bin" in diff
        image = ok(dockyardd.docker("commit", "-m", "a marker", "-c", "CMD [\"cat\", \"/marker\"]", cid,
                                    "marked:v1")).strip()
        assert image.startswith("sha256:")
        assert ok(dockyardd.docker("run", "--rm", "marked:v1")) == "committed\n"
        assert ok(dockyardd.docker("image", "inspect", "-f", "{{.Comment}}", "marked:v1")) == "a marker\n"
        tar = dockyardd.docker("export", cid).stdout
        names = tarfile.open(fileobj=io.BytesIO(tar)).getnames()
        assert "marker" in names and "bin/busybox" in names
    finally:
        dockyardd.docker("rm", "-f", cid)
        dockyardd.docker("rmi", "marked:v1")


def test_rm_force_and_running_refusal(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "busybox", "sleep", "60")).strip()
    r = dockyardd.docker("rm", cid)
    assert r.returncode == 1
    assert (f"Error response from daemon: You cannot remove a running container {cid}. Stop the container before "
            "attempting removal or force remove") in r.stderr.decode()
    ok(dockyardd.docker("rm", "-f", cid))
    gone = dockyardd.docker("inspect", cid)
    assert (gone.returncode == 1 and b"No such object" in gone.stderr) or b"No such container" in gone.stderr


def test_stop_kill_restart_pause_rename(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "--name", "lifecycle", "busybox", "sh", "-c",
                              "trap 'exit 138' USR1; while true; do sleep 0.1; done")).strip()
    try:
        started = time.monotonic()
        ok(dockyardd.docker("stop", "-t", "1", "lifecycle"))  # PID 1 without a TERM handler: SIGKILL after 1 s
        assert time.monotonic() - started < 8
        state = json.loads(ok(dockyardd.docker("inspect", cid)))[0]["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137
        ok(dockyardd.docker("start", "lifecycle"))
        ok(dockyardd.docker("pause", "lifecycle"))
        assert ok(dockyardd.docker("inspect", "-f", "{{.State.Status}}", cid)) == "paused\n"
        ok(dockyardd.docker("unpause", "lifecycle"))
        ok(dockyardd.docker("restart", "-t", "0", "lifecycle"))
        assert ok(dockyardd.docker("inspect", "-f", "{{.State.Running}}", cid)) == "true\n"
        ok(dockyardd.docker("rename", "lifecycle", "lifecycle2"))
        ok(dockyardd.docker("kill", "-s", "USR1", "lifecycle2"))
        assert ok(dockyardd.docker("wait", "lifecycle2")) == "138\n"
        r = dockyardd.docker("kill", "lifecycle2")
        assert r.returncode == 1 and b"is not running" in r.stderr
    finally:
        dockyardd.docker("rm", "-f", cid)


def test_restart_policies(dockyardd: Dockyardd) -> None:
    failing = ok(dockyardd.docker("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")).strip()
    always = ok(dockyardd.docker("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")).strip()
    clean = ok(dockyardd.docker("run", "-d", "--restart", "on-failure", "busybox", "true")).strip()
    try:
        wait_for(lambda: out(dockyardd.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", failing))
                 == "2 exited\n", timeout=20)
        wait_for(lambda: int(out(dockyardd.docker("inspect", "-f", "{{.RestartCount}}", always)) or 0) >= 2,
                 timeout=20)
        assert ok(dockyardd.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", clean)) == "0 exited\n"
        ok(dockyardd.docker("stop", "-t", "1", always))
        count = out(dockyardd.docker("inspect", "-f", "{{.RestartCount}}", always))
        time.sleep(1)
        assert out(dockyardd.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", always)) == \
            count.strip() + " exited\n"
    finally:
        dockyardd.docker("rm", "-f", failing, always, clean)


def test_init_reaps_and_forwards(dockyardd: Dockyardd) -> None:
    r = dockyardd.docker("run", "--rm", "--init", "busybox", "sh", "-c", "ps -o pid,args | head -3")
    lines = ok(r).splitlines()
    assert "docker-init" in lines[1] or "dockyard-init" in lines[1]
    cid = ok(dockyardd.docker("run", "-d", "--init", "busybox", "sleep", "300")).strip()
    started = time.monotonic()
    ok(dockyardd.docker("stop", cid))  # with an init, SIGTERM reaches sleep and it dies at once
    assert time.monotonic() - started < 5
    assert ok(dockyardd.docker("inspect", "-f", "{{.State.ExitCode}}", cid)) == "143\n"
    dockyardd.docker("rm", "-f", cid)


def test_auto_remove(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "--rm", "busybox", "true")).strip()
    wait_for(lambda: dockyardd.docker("inspect", cid).returncode == 1)


# --- bad input ------------------------------------------------------------------------------------


def test_conflicting_name(dockyardd: Dockyardd) -> None:
    first = ok(dockyardd.docker("create", "--name", "taken", "busybox")).strip()
    try:
        r = dockyardd.docker("create", "--name", "taken", "busybox")
        assert r.returncode == 1
        assert (f'Conflict. The container name "/taken" is already in use by container "{first}". You have to '
                "remove (or rename) that container to be able to reuse that name.") in r.stderr.decode()
        assert len(ok(dockyardd.docker("ps", "-aq", "--filter", "name=taken")).split()) == 1
    finally:
        dockyardd.docker("rm", first)


def test_invalid_name(dockyardd: Dockyardd) -> None:
    r = dockyardd.docker("create", "--name", "bad/name", "busybox")
    assert r.returncode == 1
    assert b"Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in r.stderr


def test_unknown_container_and_image(dockyardd: Dockyardd) -> None:
    before = ok(dockyardd.docker("ps", "-aq"))
    r = dockyardd.docker("start", "nosuchcontainer")
    assert r.returncode == 1 and b"Error response from daemon: No such container: nosuchcontainer" in r.stderr
    r = dockyardd.docker("run", "--rm", "nosuchimage")
    assert r.returncode == 125
    assert b"Unable to find image 'nosuchimage:latest' locally" in r.stderr
    assert b"pull access denied for nosuchimage" in r.stderr
    assert ok(dockyardd.docker("ps", "-aq")) == before  # nothing half-created


def test_invalid_restart_policy(dockyardd: Dockyardd) -> None:
    before = ok(dockyardd.docker("ps", "-aq"))
    r = dockyardd.docker("run", "--restart", "sometimes", "busybox", "true")
    assert r.returncode == 125
    assert ok(dockyardd.docker("ps", "-aq")) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"Image": 7}'])
def test_malformed_create_bodies(dockyardd: Dockyardd, body: bytes) -> None:
    from tests.api.rawhttp import request

    before = ok(dockyardd.docker("ps", "-aq"))
    status, _, payload = request(dockyardd.socket, "POST", "/v1.43/containers/create", body)
    assert status == 400
    assert "message" in json.loads(payload)
    assert ok(dockyardd.docker("ps", "-aq")) == before


def test_healthcheck(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
                              "--health-retries", "2", "busybox", "sh", "-c",
                              "sleep 0.6; touch /tmp/ok; sleep 1.5; rm /tmp/ok; sleep 60")).strip()
    try:
        assert out(dockyardd.docker("inspect", "-f", "{{.State.Health.Status}}", cid)) == "starting\n"
        wait_for(lambda: out(dockyardd.docker("inspect", "-f", "{{.State.Health.Status}}", cid)) == "healthy\n")
        assert "(healthy)" in ok(dockyardd.docker("ps", "--filter", f"id={cid}", "--format", "{{.Status}}"))
        assert ok(dockyardd.docker("ps", "-q", "--filter", "health=healthy")).split() == [cid[:12]]
        wait_for(lambda: out(dockyardd.docker("inspect", "-f", "{{.State.Health.Status}}", cid)) == "unhealthy\n")
        health = json.loads(ok(dockyardd.docker("inspect", "-f", "{{json .State.Health}}", cid)))
        assert health["FailingStreak"] >= 2 and health["Log"][-1]["ExitCode"] == 1
    finally:
        dockyardd.docker("rm", "-f", cid)


def test_update(dockyardd: Dockyardd) -> None:
    cid = ok(dockyardd.docker("run", "-d", "busybox", "sleep", "60")).strip()
    try:
        ok(dockyardd.docker("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "50",
                            "--restart", "on-failure:3", cid))
        doc = json.loads(ok(dockyardd.docker("inspect", cid)))[0]["HostConfig"]
        assert doc["Memory"] == 64 << 20 and doc["PidsLimit"] == 50
        assert doc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        limit = ok(dockyardd.docker("exec", cid, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                    "2>/dev/null || cat /sys/fs/cgroup/memory.max")).strip()
        assert limit == str(64 << 20)
    finally:
        dockyardd.docker("rm", "-f", cid)
    rm = ok(dockyardd.docker("create", "--rm", "busybox")).strip()
    r = dockyardd.docker("update", "--restart", "always", rm)
    assert r.returncode == 1 and b"AutoRemove is enabled" in r.stderr
    dockyardd.docker("rm", rm)


# dockerd's answers, recorded with Debian's docker.io (syslog aside: dockerd fails there only because
# nothing listens on /dev/log; dockyard refuses every driver that ships logs elsewhere at create).
LOG_CONFIG_ERRORS = [
    (["--log-driver", "bogus"], 'error looking up logging plugin bogus: plugin "bogus" not found'),
    (["--log-opt", "foo=bar"], "unknown log opt 'foo' for json-file log driver"),
    (["--log-driver", "local", "--log-opt", "foo=1"], "unknown log opt 'foo' for log driver local"),
    (["--log-opt", "mode=sometimes"], "logger: logging mode not supported: sometimes"),
    (["--log-opt", "max-buffer-size=1m"], "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
    (["--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=x"],
     "error parsing option max-buffer-size: invalid size: 'x'"),
    (["--log-opt", "max-file=0"], "failed to initialize logging driver: max-file cannot be less than 1"),
    (["--log-driver", "syslog"], "logging driver syslog is not supported by dockyard (json-file, local and none are)"),
]


@pytest.mark.parametrize(("args", "message"), LOG_CONFIG_ERRORS, ids=[" ".join(a) for a, _ in LOG_CONFIG_ERRORS])
def test_bad_log_configs_get_dockerds_errors(dockyardd: Dockyardd, args: list[str], message: str) -> None:
    before = set(ok(dockyardd.docker("ps", "-aq", "--no-trunc")).split())
    r = dockyardd.docker("run", "--rm", *args, "busybox", "true")
    assert (r.returncode, r.stderr.decode()) == \
        (125, f"docker: Error response from daemon: {message}\n\nRun 'docker run --help' for more information\n")
    # Nothing left behind: no container was made, or (a failed start) `--rm` removed it.
    assert set(ok(dockyardd.docker("ps", "-aq", "--no-trunc")).split()) - before == set()
