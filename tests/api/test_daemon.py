"""dockyardd's flags and config file, its refusals, and the API's edges (versions, errors, events)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.api import daemon
from tests.api.rawhttp import request
from tests.helpers.dockyardd import Dockyardd


def settings(*argv: str, config: dict[str, object] | None = None) -> dict[str, object]:
    return daemon.merge(daemon.parse_args(list(argv)), config or {})


def test_defaults() -> None:
    s = settings()
    assert s["host"] == ["unix:///run/dockyard.sock"]
    assert s["data_root"] == "/var/lib/dockyard" and s["exec_root"] == "/run/dockyard"
    assert s["live_restore"] is True
    assert daemon.plan_listeners(s) == [("unix", "/run/dockyard.sock")]


def test_tcp_without_tls_is_refused_unless_loopback_or_insecure() -> None:
    with pytest.raises(daemon.UsageError, match=r"refusing to listen on tcp://0\.0\.0\.0:2375 without TLS"):
        daemon.plan_listeners(settings("-H", "tcp://0.0.0.0:2375"))
    assert daemon.plan_listeners(settings("-H", "tcp://127.0.0.1:2375")) == [("tcp", ("127.0.0.1", 2375, None))]
    assert daemon.plan_listeners(settings("-H", "tcp://[::1]:2375"))[0][1][:2] == ("::1", 2375)
    assert daemon.plan_listeners(settings("-H", "tcp://10.1.2.3:2375", "--insecure-tcp"))[0][0] == "tcp"
    with pytest.raises(daemon.UsageError, match="invalid host"):
        daemon.plan_listeners(settings("-H", "udp://1.2.3.4:1"))


def test_flag_and_file_conflict_and_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(daemon.UsageError, match="specified both as a flag and in the configuration file: data-root"):
        settings("--data-root", "/a", config={"data-root": "/b"})
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"no-such-option": 1}))
    with pytest.raises(daemon.UsageError, match="don't match any configuration option: no-such-option"):
        daemon.load_config(str(cfg))
    cfg.write_text("{broken")
    with pytest.raises(daemon.UsageError, match="unable to configure the Docker daemon with file"):
        daemon.load_config(str(cfg))
    cfg.write_text(json.dumps({"live-restore": False, "hosts": ["unix:///tmp/x.sock"]}))
    s = settings("--config-file", str(cfg), config=daemon.load_config(str(cfg)))
    assert s["live_restore"] is False and s["host"] == ["unix:///tmp/x.sock"]


def test_default_binding_ip() -> None:
    """dockerd's --ip (daemon.json "ip"): HostIp "" of published ports."""
    assert settings()["ip"] == "0.0.0.0"
    assert settings("--ip", "127.0.0.1")["ip"] == "127.0.0.1"
    assert settings(config={"ip": "::1"})["ip"] == "::1"
    with pytest.raises(daemon.UsageError, match=r'^invalid argument "bogus" for "--ip" flag: bogus is not an ip address$'):
        settings("--ip", "bogus")


def test_default_log_driver_and_options() -> None:
    """dockerd's --log-driver/--log-opt (daemon.json "log-driver"/"log-opts"), checked as dockerd checks them."""
    assert (settings()["log_driver"], settings()["log_opt"]) == ("json-file", {})
    s = settings("--log-driver", "local", "--log-opt", "max-size=1m", "--log-opt", "max-file=2")
    assert (s["log_driver"], s["log_opt"]) == ("local", {"max-size": "1m", "max-file": "2"})
    s = settings(config={"log-driver": "json-file", "log-opts": {"max-size": "10k"}})
    assert (s["log_driver"], s["log_opt"]) == ("json-file", {"max-size": "10k"})
    # dockerd 20.10: `failed to start daemon: failed to set log opts: unknown log opt 'foo' for json-file log driver`
    with pytest.raises(daemon.UsageError, match=r"^failed to set log opts: unknown log opt 'foo' for json-file log driver$"):
        settings("--log-opt", "foo=bar")
    with pytest.raises(daemon.UsageError, match=r'^failed to set log opts: error looking up logging plugin bogus: '
                                                r'plugin "bogus" not found$'):
        settings(config={"log-driver": "bogus"})
    with pytest.raises(daemon.UsageError, match='invalid argument "novalue" for "--log-opt" flag'):
        settings("--log-opt", "novalue")
    with pytest.raises(daemon.UsageError, match="specified both as a flag and in the configuration file: log-driver"):
        settings("--log-driver", "none", config={"log-driver": "local"})


def test_the_default_log_driver_applies_to_new_containers() -> None:
    from tests.helpers.dockyardd import running_dockyardd

    with running_dockyardd(extra_args=["--log-driver", "local", "--log-opt", "max-file=3"]) as d:
        r = d.docker("run", "--name", "deflog", "busybox", "echo", "kept")
        assert (r.returncode, r.stdout) == (0, b"kept\n"), r.stderr
        shown = d.docker("inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Config}}", "deflog")
        assert shown.stdout == b"local map[max-file:3]\n"
        assert d.docker("logs", "deflog").stdout == b"kept\n"
        r = d.docker("run", "--name", "own", "--log-driver", "none", "busybox", "true")
        assert d.docker("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "own").stdout == b"none\n"
        d.docker("rm", "-f", "deflog", "own")


def test_live_restore_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings("--live-restore=false")["live_restore"] is False
    assert settings("--live-restore")["live_restore"] is True
    with pytest.raises(SystemExit):
        daemon.parse_args(["--live-restore=maybe"])
    assert "invalid boolean value 'maybe'" in capsys.readouterr().err
    assert isinstance(daemon.parse_args([]), argparse.Namespace)


def test_refusal_exits_with_the_reason(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "dockyard.api.daemon", "-H", "tcp://0.0.0.0:23750",
                        "--data-root", str(tmp_path / "d"), "--exec-root", str(tmp_path / "e"),
                        "--pidfile", str(tmp_path / "p")], capture_output=True, timeout=30)
    assert r.returncode == 1
    assert b"without TLS" in r.stderr
    assert not (tmp_path / "d").exists()


def test_ping_version_and_api_versions(dockyardd: Dockyardd) -> None:
    status, headers, body = request(dockyardd.socket, "GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert headers["api-version"] == "1.43" and headers["ostype"] == "linux"
    assert headers["docker-experimental"] == "false"
    status, _, body = request(dockyardd.socket, "GET", "/v1.43/version")
    doc = json.loads(body)
    assert doc["ApiVersion"] == "1.43" and doc["MinAPIVersion"] == "1.24"
    status, _, body = request(dockyardd.socket, "GET", "/v1.99/version")
    assert status == 400 and json.loads(body)["message"] == \
        "client version 1.99 is too new. Maximum supported API version is 1.43"
    status, _, body = request(dockyardd.socket, "GET", "/v1.12/version")
    assert status == 400 and "is too old. Minimum supported API version is 1.24" in json.loads(body)["message"]
    status, _, _ = request(dockyardd.socket, "GET", "/v1.24/containers/json")
    assert status == 200


def test_error_statuses(dockyardd: Dockyardd) -> None:
    status, headers, body = request(dockyardd.socket, "GET", "/v1.43/containers/nope/json")
    assert (status, json.loads(body)) == (404, {"message": "No such container: nope"})
    assert headers["content-type"] == "application/json"
    status, _, body = request(dockyardd.socket, "GET", "/v1.43/images/nope:1/json")
    assert status == 404 and json.loads(body)["message"] == "No such image: nope:1"
    status, _, _ = request(dockyardd.socket, "POST", "/v1.43/containers/create", b"")
    assert status == 400
    status, _, body = request(dockyardd.socket, "GET", "/v1.43/containers/json?filters=%7Bbad")
    assert status == 400
    status, _, body = request(dockyardd.socket, "GET", '/v1.43/containers/json?filters={"nope":["x"]}')
    assert status == 400 and json.loads(body)["message"] == "invalid filter 'nope'"
    status, _, body = request(dockyardd.socket, "POST", "/v1.43/images/create?fromImage=not-here&tag=latest")
    assert status == 404 and json.loads(body)["message"].startswith("pull access denied for not-here")


def test_start_of_running_container_is_304(dockyardd: Dockyardd) -> None:
    cid = dockyardd.docker("run", "-d", "busybox", "sleep", "30").stdout.decode().strip()
    try:
        status, _, _ = request(dockyardd.socket, "POST", f"/v1.43/containers/{cid}/start")
        assert status == 304
    finally:
        dockyardd.docker("rm", "-f", cid)
    status, _, _ = request(dockyardd.socket, "POST", f"/v1.43/containers/{cid}/stop")
    assert status == 404


def test_exec_failures(dockyardd: Dockyardd) -> None:
    cid = dockyardd.docker("run", "-d", "busybox", "sleep", "30").stdout.decode().strip()
    try:
        r = dockyardd.docker("exec", cid, "no-such-binary")
        assert r.returncode == 127
        assert b"executable file not found" in r.stdout + r.stderr
        stopped = dockyardd.docker("create", "busybox").stdout.decode().strip()
        r = dockyardd.docker("exec", stopped, "true")
        assert r.returncode == 1 and f"Container {stopped} is not running".encode() in r.stderr
        dockyardd.docker("rm", stopped)
    finally:
        dockyardd.docker("rm", "-f", cid)


def test_events_stream(dockyardd: Dockyardd) -> None:
    since = str(int(time.time()) - 1)
    cid = dockyardd.docker("run", "--name", "evented", "busybox", "true").stdout.decode().strip()
    dockyardd.docker("rm", "evented")
    r = dockyardd.docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                         "container=evented", "--format", "{{.Action}}", timeout=20)
    actions = r.stdout.decode().split()
    for action in ("create", "attach", "start", "die", "destroy"):
        assert action in actions, actions
    del cid


def test_volumes_and_binds(dockyardd: Dockyardd, tmp_path: Path) -> None:
    assert dockyardd.docker("volume", "create", "kept").returncode == 0
    try:
        assert dockyardd.docker("run", "--rm", "-v", "kept:/data", "busybox", "sh", "-c",
                                "echo persisted > /data/f").returncode == 0
        assert dockyardd.docker("run", "--rm", "-v", "kept:/data", "busybox", "cat", "/data/f").stdout == b"persisted\n"
        (tmp_path / "in").write_text("bound\n")
        r = dockyardd.docker("run", "--rm", "-v", f"{tmp_path}:/host:ro", "busybox", "sh", "-c",
                             "cat /host/in; touch /host/no")
        assert r.stdout == b"bound\n" and r.returncode == 1 and b"Read-only file system" in r.stderr
        in_use = dockyardd.docker("run", "-d", "-v", "kept:/data", "busybox", "sleep", "30").stdout.decode().strip()
        r = dockyardd.docker("volume", "rm", "kept")
        assert r.returncode == 1 and b"volume is in use" in r.stderr
        dockyardd.docker("rm", "-f", in_use)
    finally:
        dockyardd.docker("volume", "rm", "kept")
    assert b"kept" not in dockyardd.docker("volume", "ls", "-q").stdout


def test_logs_since_until_and_streams(dockyardd: Dockyardd) -> None:
    cid = dockyardd.docker("run", "-d", "busybox", "sh", "-c", "echo one; echo two >&2; sleep 1.2; echo three"
                           ).stdout.decode().strip()
    dockyardd.docker("wait", cid)
    r = dockyardd.docker("logs", cid)
    assert r.stdout == b"one\nthree\n" and r.stderr == b"two\n"
    stamps = dockyardd.docker("logs", "-t", cid).stdout.decode().splitlines()
    last = stamps[-1].split()[0]
    assert dockyardd.docker("logs", "--since", last, cid).stdout == b"three\n"
    assert dockyardd.docker("logs", "--until", last, cid).stdout in (b"one\n", b"one\nthree\n")
    dockyardd.docker("rm", cid)


def test_a_clean_stop_removes_the_socket_and_pidfile() -> None:
    from tests.helpers.dockyardd import running_dockyardd

    with running_dockyardd(busybox=False) as d:
        assert d.socket.exists() and (d.root / "d.pid").exists()
        d.stop()
        assert d.proc is not None and d.proc.returncode == 0
        assert not d.socket.exists() and not (d.root / "d.pid").exists()
