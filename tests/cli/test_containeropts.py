"""run/create flag values and the create body: unit checks, then the body dockyard puts on the wire
compared with the one the real docker CLI sends for the same flags (through a recording proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.cli import containeropts as co
from tests.cli.daemons import Created, Daemon
from tests.cli.recorder import recording_proxy


@pytest.mark.parametrize(("text", "size"), [
    ("64m", 64 * 1024**2), ("1g", 1024**3), ("512", 512), ("1.5k", 1536), ("2MiB", 2 * 1024**2), ("10b", 10),
    ("1 GB", 1024**3),
])
def test_ram_in_bytes(text: str, size: int) -> None:
    assert co.parse_size(text) == size


@pytest.mark.parametrize(("text", "message"), [("10x", "invalid suffix: 'x'"), ("m", "invalid size: 'm'"),
                                               ("-1", "invalid size: '-1'"), ("1kbb", "invalid suffix: 'kbb'")])
def test_ram_in_bytes_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        co.parse_size(text)


def test_cpus_ulimits_durations() -> None:
    assert co.parse_cpus("1.5") == 1_500_000_000
    assert co.parse_cpus("0.000000001") == 1
    with pytest.raises(ValueError, match=r"failed to parse 1\.5x as a rational number"):
        co.parse_cpus("1.5x")
    with pytest.raises(ValueError, match="value is too precise"):
        co.parse_cpus("0.0000000001")
    assert co.parse_ulimit("nofile=100:200") == {"Name": "nofile", "Hard": 200, "Soft": 100}
    assert co.parse_ulimit("nproc=7") == {"Name": "nproc", "Hard": 7, "Soft": 7}
    with pytest.raises(ValueError, match="invalid ulimit type: nofiles"):
        co.parse_ulimit("nofiles=1")
    with pytest.raises(ValueError, match="soft limit must be less than or equal to hard limit: 2 > 1"):
        co.parse_ulimit("nofile=2:1")
    assert co.parse_throttle_bps("/dev/sda:1.5kb") == {"Path": "/dev/sda", "Rate": 1536}
    assert co.parse_throttle_iops("/dev/sda:300") == {"Path": "/dev/sda", "Rate": 300}
    assert co.parse_weight_device("/dev/sda:0") == {"Path": "/dev/sda", "Weight": 0}
    assert co.parse_weight_device("/dev/sda:1000") == {"Path": "/dev/sda", "Weight": 1000}
    with pytest.raises(ValueError, match="invalid weight for device: /dev/sda:1001"):
        co.parse_weight_device("/dev/sda:1001")
    with pytest.raises(ValueError, match="invalid rate for device: /dev/sda:-1"):
        co.parse_throttle_bps("/dev/sda:-1")
    assert co.parse_duration("1m30s") == 90_000_000_000
    assert co.parse_duration("250ms") == 250_000_000
    with pytest.raises(ValueError, match='missing unit in duration "5"'):
        co.parse_duration("5")


def test_publish_specs() -> None:
    assert co.parse_publish("8080:80") == [("80/tcp", {"HostIp": "", "HostPort": "8080"})]
    assert co.parse_publish("127.0.0.1::53/udp") == [("53/udp", {"HostIp": "127.0.0.1", "HostPort": ""})]
    assert co.parse_publish("[::1]:80:80") == [("80/tcp", {"HostIp": "::1", "HostPort": "80"})]
    assert [p for p, _ in co.parse_publish("9000-9001:90-91")] == ["90/tcp", "91/tcp"]
    with pytest.raises(ValueError, match="invalid IP address: 80:80"):
        co.parse_publish("80:80:80:80")
    with pytest.raises(ValueError, match="invalid containerPort: x"):
        co.parse_publish("80:x")


def test_mounts_and_volumes() -> None:
    assert co.parse_mount("type=bind,source=/a,target=/b,readonly") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True}
    assert co.parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770")["TmpfsOptions"] == {
        "SizeBytes": 64 * 1024**2, "Mode": 0o1770}
    assert co.parse_mount("source=v,target=/d,volume-label=a=b,volume-nocopy")["VolumeOptions"] == {
        "Labels": {"a": "b"}, "NoCopy": True}
    with pytest.raises(ValueError, match="invalid field 'foo' must be a key=value pair"):
        co.parse_mount("type=bind,foo")
    with pytest.raises(ValueError, match="cannot mix 'tmpfs-\\*' options with mount type 'bind'"):
        co.parse_mount("type=bind,src=/a,dst=/b,tmpfs-size=1m")
    assert co.parse_volume("/host:/ctr:ro") == ("bind", "/host", "/ctr")
    assert co.parse_volume("named:/data") == ("volume", "named", "/data")
    assert co.parse_volume("/anon") == ("volume", "", "/anon")
    with pytest.raises(ValueError, match="too many colons"):
        co.parse_volume("/a:/b:ro:x")


def test_env_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "h")
    good = tmp_path / "good.env"
    good.write_bytes(b"\xef\xbb\xbfA=1\n# comment\n\n  B=two words \nFROM_HOST\nNOT_SET\nC=\n")
    assert co.read_kv_file(str(good), lookup=True) == ["A=1", "B=two words ", "FROM_HOST=h", "C="]
    bad = tmp_path / "bad.env"
    bad.write_text("A=1\nbad key=2\n")
    with pytest.raises(ValueError, match=r"invalid env file \(.*bad.env\): variable 'bad key' contains whitespaces"):
        co.read_kv_file(str(bad), lookup=True)
    with pytest.raises(ValueError, match="open /nonexistent: no such file or directory"):
        co.read_kv_file("/nonexistent", lookup=True)


# --- the wire: dockyard's create body against docker's -------------------------------------

FLAG_SETS = [
    ["busybox", "true"],
    ["-e", "A=1", "-e", "B", "-l", "k=v", "-w", "/tmp", "-u", "1:2", "--hostname", "h", "busybox", "sh", "-c", "x"],
    ["-m", "64m", "--memory-swap", "128m", "-c", "512", "--cpus", "1.5", "--pids-limit", "50",
     "--ulimit", "nofile=100:200", "--cap-add", "sys_admin", "--cap-add", "NET_ADMIN", "--cap-drop", "all",
     "--cap-drop", "CAP_CHOWN", "busybox"],
    ["--read-only", "--tmpfs", "/run:rw,size=1m", "--init", "--restart", "on-failure:3", "--stop-signal", "SIGUSR1",
     "--stop-timeout", "7", "--privileged", "--network", "none", "--runtime", "runc", "busybox"],
    ["-v", "/tmp:/host:ro", "-v", "/anon", "--mount", "type=bind,source=/tmp,target=/m,readonly",
     "-p", "127.0.0.1:8080:80/tcp", "-p", "9000-9001:90-91", "--entrypoint", "", "busybox", "true"],
    ["--blkio-weight", "300", "--blkio-weight-device", "/dev/null:200", "--device-read-bps", "/dev/null:1mb",
     "--device-write-bps", "/dev/zero:1536", "--device-read-iops", "/dev/null:100", "--device-write-iops",
     "/dev/null:50", "--device-write-iops", "/dev/zero:7", "busybox"],
    ["-i", "-t", "--rm", "--name", "NAME", "--entrypoint", "/bin/sh", "--shm-size", "1m", "--security-opt",
     "no-new-privileges", "--add-host", "a:127.0.0.2", "--dns", "1.1.1.1", "busybox", "-c", "exit 0"],
]
# Fields docker 28 sends that dockyard leaves to the daemon's defaults (all zero values there).
SKIP = {"NetworkingConfig", "Healthcheck", "MaskedPaths", "ReadonlyPaths", "DeviceCgroupRules", "DeviceRequests",
        "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "ArgsEscaped"}


def _zero(value: Any) -> bool:
    return value in (None, "", 0, False, [], {}, [0, 0])


def _compare(ours: dict[str, Any], theirs: dict[str, Any], where: str) -> list[str]:
    problems = []
    for key in sorted(set(ours) | set(theirs)):
        if key in SKIP:
            continue
        a, b = ours.get(key), theirs.get(key)
        if key == "Env" and isinstance(a, list) and isinstance(b, list):
            # docker 28 sends the -e entries in an order that changes between runs (a Go map).
            a, b = sorted(a), sorted(b)
        if isinstance(a, dict) and isinstance(b, dict) and key == "HostConfig":
            problems += _compare(a, b, f"{where}.{key}")
        elif a != b and not (_zero(a) and _zero(b)):
            problems.append(f"{where}.{key}: dockyard {a!r} != docker {b!r}")
    return problems


@pytest.mark.parametrize("flags", FLAG_SETS, ids=[" ".join(f)[:40] for f in FLAG_SETS])
def test_create_body_matches_docker(daemon: Daemon, created: Created, tmp_path: Path, flags: list[str]) -> None:
    assert daemon.host.startswith("unix://")
    bodies = []
    with recording_proxy(daemon.host[len("unix://"):], tmp_path / "proxy.sock") as (address, recorder):
        for client in ("dockyard", "docker"):
            name = created.container()
            argv = ["-H", address, "create", *[name if f == "NAME" else f for f in flags]]
            if "--name" not in flags:
                argv[3:3] = ["--name", name]
            recorder.clear()
            result = daemon.dockyard(*argv) if client == "dockyard" else daemon.docker(*argv)
            assert result.returncode == 0, result.stderr.decode()
            posts = [r for r in recorder.requests() if r.method == "POST" and "/containers/create" in r.path]
            assert len(posts) == 1, recorder.requests()
            assert posts[0].path.endswith(f"/containers/create?name={name}")
            bodies.append(posts[0].json())
    assert _compare(bodies[0], bodies[1], "create") == []
