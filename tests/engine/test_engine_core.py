"""The engine as a library: Engine(data_root, exec_root) without the API in front of it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.engine import names, views
from dockyard.engine.container import Container, parse_rfc3339
from dockyard.engine.engine import Engine, NotModified, parse_signal
from dockyard.errors import Conflict, InvalidArgument, NotFound
from tests.helpers.dockyardd import _kill_cgroup_tree, _remove_cgroup_tree, _unmount_below, bootstrap_busybox


@pytest.fixture
def roots(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    data, exec_root = tmp_path / "data", Path(f"/tmp/dye-{uuid.uuid4().hex[:8]}")
    parent = f"/dockyard-test-{uuid.uuid4().hex[:8]}"
    bootstrap_busybox(data)
    try:
        yield data, exec_root, parent
    finally:
        _kill_cgroup_tree(parent)
        time.sleep(0.05)
        _unmount_below(tmp_path)
        _unmount_below(exec_root)
        _remove_cgroup_tree(parent)
        import shutil

        shutil.rmtree(exec_root, ignore_errors=True)


@contextlib.contextmanager
def engine_at(roots: tuple[Path, Path, str]) -> Iterator[Engine]:
    data, exec_root, parent = roots
    engine = Engine(data, exec_root, cgroup_parent=parent)
    try:
        yield engine
    finally:
        engine.close()


def body(*cmd: str, **extra: object) -> dict[str, object]:
    return {"Image": "busybox", "Cmd": list(cmd), **extra}


def test_create_start_wait_remove(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        cid, warnings = engine.create(body("sh", "-c", "echo hi; exit 5"), name="lib")
        assert warnings == [] and len(cid) == 64
        c = engine.get("lib")
        assert c.id == cid and engine.get(cid[:10]) is c and engine.get("/lib") is c
        assert c.state.status == "created" and c.path == "sh" and c.args == ["-c", "echo hi; exit 5"]
        waiter = engine.wait(cid, "next-exit")
        engine.start(cid)
        assert waiter.result(timeout=20) == {"StatusCode": 5, "Error": None}
        assert c.state.status == "exited" and c.state.exit_code == 5
        assert parse_rfc3339(c.state.finished_at) >= parse_rfc3339(c.state.started_at) > 0
        records = [json.loads(line) for line in engine.log_path(cid).read_text().splitlines()]
        assert [(r["stream"], r["log"]) for r in records] == [("stdout", "hi\n")]
        assert not (engine.rootfs_dir(cid) / "bin").exists()  # unmounted after the exit
        removed = engine.wait(cid, "removed")
        engine.remove(cid)
        assert removed.result(timeout=5)["StatusCode"] == 5
        with pytest.raises(NotFound, match="No such container: lib"):
            engine.get("lib")
        assert not engine.container_dir(cid).exists()


def test_state_transitions_are_checked(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        cid, _ = engine.create(body("sleep", "300"))
        with pytest.raises(NotModified):
            engine.stop(cid)
        with pytest.raises(Conflict, match="is not running"):
            engine.kill(cid)
        engine.start(cid)
        with pytest.raises(NotModified):
            engine.start(cid)
        with pytest.raises(Conflict, match="You cannot remove a running container"):
            engine.remove(cid)
        engine.pause(cid)
        with pytest.raises(Conflict, match="cannot start a paused container"):
            engine.start(cid)
        with pytest.raises(Conflict, match="You cannot remove a paused container"):
            engine.remove(cid)
        engine.remove(cid, force=True)
        with pytest.raises(NotFound):
            engine.get(cid)


def test_failed_create_leaves_nothing(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        with pytest.raises(NotFound, match="No such image"):
            engine.create(body("true", Image="nothere"), name="half")
        with pytest.raises(InvalidArgument):
            engine.create(body("true"), name="-bad")
        assert engine.containers == {}
        cid, _ = engine.create(body("true"), name="half")  # the name was not left reserved
        engine.remove(cid)
        assert list(engine.store.load_all()) == []
        assert os.listdir(engine.data_root / "containers") == []


def test_start_failure_records_exit_code(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        cid, _ = engine.create(body("/no/such/binary"))
        with pytest.raises(Exception, match="no such file or directory") as err:
            engine.start(cid)
        assert getattr(err.value, "exit_code", None) == 127
        c = engine.get(cid)
        assert c.state.status == "created" and c.state.exit_code == 127 and "no such file" in c.state.error
        engine.remove(cid)


def test_monitor_outlives_the_engine(roots: tuple[Path, Path, str]) -> None:
    """An engine closed without stopping anything (live restore); a new one re-adopts the container
    and learns of an exit that happened in between."""
    with engine_at(roots) as engine:
        long, _ = engine.create(body("sleep", "300"))
        short, _ = engine.create(body("sh", "-c", "sleep 0.3; exit 9"))
        engine.start(long)
        engine.start(short)
        pid = engine.get(long).state.pid
    time.sleep(0.8)
    os.kill(pid, 0)  # still running with no engine around
    with engine_at(roots) as engine:
        assert engine.get(long).state.status == "running" and engine.get(long).state.pid == pid
        assert engine.get(short).state.status == "exited" and engine.get(short).state.exit_code == 9
        engine.kill(long, "SIGKILL")
        assert engine.wait(long, "not-running").result(timeout=10)["StatusCode"] == 137


def test_restart_policy_on_failure_counts(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        cid, _ = engine.create(body("sh", "-c", "exit 2", HostConfig={"RestartPolicy": {"Name": "on-failure",
                                                                                     "MaximumRetryCount": 3}}))
        engine.start(cid)
        c = engine.get(cid)
        deadline = time.monotonic() + 20
        while not (c.restart_count == 3 and c.state.status == "exited") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.restart_count == 3 and c.state.status == "exited" and c.state.exit_code == 2
        engine.remove(cid)


def test_restart_backoff_doubles_and_resets(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        cid, _ = engine.create(body("true", HostConfig={"RestartPolicy": {"Name": "always"}}))
        c = engine.get(cid)
        delays = [engine._should_restart(c, 0, 0.1, stopping=False)[1] for _ in range(12)]
        assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and delays[-1] == 60.0
        assert engine._should_restart(c, 0, 11, stopping=False) == (True, 0.1)
        assert engine._should_restart(c, 0, 1, stopping=True) == (False, 0.0)
        engine.remove(cid)


def test_exec_in_running_container(roots: tuple[Path, Path, str]) -> None:
    with engine_at(roots) as engine:
        cid, _ = engine.create(body("sleep", "300"))
        engine.start(cid)
        code, output = engine.execs.run(cid, ["sh", "-c", "echo $$; exit 3"], timeout=10)
        assert code == 3 and int(output) > 1
        code, output = engine.execs.run(cid, ["sleep", "10"], timeout=0.5)
        assert code == -1
        engine.remove(cid, force=True)


# --- pure pieces -----------------------------------------------------------------------------------


def test_names() -> None:
    assert names.validate("web") == "/web"
    assert names.validate("/web.1_a-b") == "/web.1_a-b"
    for bad in ("", "a", "-x", "a/b", "a b", "é"):
        with pytest.raises(InvalidArgument, match=r"Invalid container name"):
            names.validate(bad)
    generated = names.random_name(set())
    assert "_" in generated and names.validate(generated)


def test_parse_signal() -> None:
    assert parse_signal("SIGTERM") == signal.SIGTERM
    assert parse_signal("kill") == signal.SIGKILL
    assert parse_signal("9") == 9
    assert parse_signal("RTMIN+1") == signal.SIGRTMIN + 1
    for bad in ("SIGNOPE", "0", "65", ""):
        with pytest.raises(InvalidArgument, match="Invalid signal"):
            parse_signal(bad)


def test_human_duration_and_status_line() -> None:
    assert views.human_duration(0.5) == "Less than a second"
    assert views.human_duration(1) == "1 second"
    assert views.human_duration(59) == "59 seconds"
    assert views.human_duration(61) == "About a minute"
    assert views.human_duration(3600 * 5) == "5 hours"
    assert views.human_duration(3600 * 24 * 3) == "3 days"
    c = Container(id="a" * 64, name="/x", created="2026-01-01T00:00:00Z", image_id="", image_name="busybox",
                  config={}, host_config={}, path="true", args=[], snapshot_key="")
    assert views.status_line(c) == "Created"
    c.state.status, c.state.exit_code = "exited", 1
    c.state.finished_at = "2026-01-01T00:00:00Z"
    assert views.status_line(c, now=parse_rfc3339("2026-01-01T00:00:30Z")) == "Exited (1) 30 seconds ago"
    c.state.status, c.state.started_at = "running", "2026-01-01T00:00:00Z"
    assert views.status_line(c, now=parse_rfc3339("2026-01-01T02:00:00Z")) == "Up 2 hours"


def test_filters_parse() -> None:
    assert views.parse_filters('{"status": ["running"]}') == {"status": ["running"]}
    assert views.parse_filters('{"label": {"a=b": true}}') == {"label": ["a=b"]}
    with pytest.raises(InvalidArgument):
        views.parse_filters("{nope")
