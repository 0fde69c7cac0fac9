"""`kill -9` of dockyardd while containers run and log: nothing is lost.

Containers keep running and logging under their monitors while the daemon is gone; an exit that
happens meanwhile is recorded by its monitor; the restarted daemon re-adopts the running ones
(exec, stop, logs -f work on them), records the exits, and applies restart policies.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.helpers.dockyardd import Dockyardd, running_dockyardd


@pytest.fixture
def daemon() -> Iterator[Dockyardd]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    with running_dockyardd() as d:
        yield d


def ok(d: Dockyardd, *args: str) -> str:
    r = d.docker(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr, d.log())
    return r.stdout.decode()


def log_lines(d: Dockyardd, cid: str) -> list[str]:
    path = d.data_root / "containers" / cid / f"{cid}-json.log"
    complete = path.read_text().split("\n")[:-1]  # the last record may be half-written right now
    return [json.loads(line)["log"] for line in complete]


def test_kill9_daemon_keeps_containers_and_records_exits(daemon: Dockyardd) -> None:
    counter = ok(daemon, "run", "-d", "--name", "counter", "busybox", "sh", "-c",
                 "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done").strip()
    short = ok(daemon, "run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; echo bye; exit 3").strip()
    policy = ok(daemon, "run", "-d", "--name", "policy", "--restart", "always", "busybox", "sh", "-c",
                "sleep 1; exit 1").strip()
    pid_before = json.loads(ok(daemon, "inspect", counter))[0]["State"]["Pid"]

    daemon.kill9()
    logged_at_crash = len(log_lines(daemon, counter))
    time.sleep(2.5)  # "short" and "policy" exit while nobody listens
    assert len(log_lines(daemon, counter)) > logged_at_crash + 10  # still logging without the daemon
    daemon.start()

    state = json.loads(ok(daemon, "inspect", counter))[0]["State"]
    assert state["Running"] and state["Pid"] == pid_before
    short_state = json.loads(ok(daemon, "inspect", short))[0]["State"]
    assert short_state["Status"] == "exited" and short_state["ExitCode"] == 3
    assert short_state["FinishedAt"] > short_state["StartedAt"]
    assert ok(daemon, "wait", short) == "3\n"
    assert ok(daemon, "logs", short) == "bye\n"
    deadline = time.monotonic() + 10
    while int(ok(daemon, "inspect", "-f", "{{.RestartCount}}", policy)) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert int(ok(daemon, "inspect", "-f", "{{.RestartCount}}", policy)) >= 1

    # The re-adopted container is fully manageable, and its log has no gap.
    assert ok(daemon, "exec", counter, "echo", "still-here") == "still-here\n"
    ok(daemon, "stop", "-t", "1", counter)
    assert json.loads(ok(daemon, "inspect", counter))[0]["State"]["ExitCode"] == 137
    numbers = [int(line) for line in ok(daemon, "logs", counter).split()]
    assert numbers == list(range(len(numbers)))
    assert len(numbers) > 40


def test_exit_while_down_with_auto_remove_and_second_crash(daemon: Dockyardd) -> None:
    gone = ok(daemon, "run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.5").strip()
    stays = ok(daemon, "run", "-d", "busybox", "sleep", "300").strip()
    daemon.kill9()
    time.sleep(1.2)
    daemon.start()
    deadline = time.monotonic() + 10
    while daemon.docker("inspect", gone).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert daemon.docker("inspect", gone).returncode == 1  # removed once its exit was learned
    daemon.kill9()  # a second crash, right after a restart
    daemon.start()
    assert ok(daemon, "inspect", "-f", "{{.State.Status}}", stays) == "running\n"
    ok(daemon, "rm", "-f", stays)
    assert ok(daemon, "ps", "-aq") == ""


def test_clean_restart_keeps_containers_running(daemon: Dockyardd) -> None:
    cid = ok(daemon, "run", "-d", "busybox", "sleep", "300").strip()
    daemon.stop()
    daemon.start()
    assert ok(daemon, "inspect", "-f", "{{.State.Status}}", cid) == "running\n"
    ok(daemon, "kill", cid)
    assert ok(daemon, "wait", cid) == "137\n"
