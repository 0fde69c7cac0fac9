"""`dockyard run` against a real daemon: output, exit statuses, docker's error texts, --rm, -d,
stdin, environment, and the missing image that must fail without any network."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.daemons import DOCKYARD, Created, Daemon, assert_same


def same(daemon: Daemon, *args: str, input: bytes | None = None) -> None:
    assert_same(daemon, *args, input=input)


def test_echo_and_streams(daemon: Daemon) -> None:
    result = daemon.dockyard("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"out\n", b"err\n")


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_status_is_the_containers(daemon: Daemon, code: int) -> None:
    same(daemon, "run", "--rm", "busybox", "sh", "-c", f"exit {code}")


def test_killed_container_status(daemon: Daemon) -> None:
    same(daemon, "run", "--rm", "busybox", "sh", "-c", "kill -9 $$")


def test_command_not_found_is_127_and_not_executable_126(daemon: Daemon, created: Created) -> None:
    for command, status in (("nosuchcmd", 127), ("/etc/passwd", 126), ("/etc", 126)):
        result = daemon.dockyard("run", "--name", created.container(), "busybox", command)
        assert result.returncode == status, result.stderr
        assert result.stderr.startswith(b"dockyard: Error response from daemon: ")
        assert result.stderr.endswith(b"\n\nRun 'dockyard run --help' for more information\n")


def test_missing_image_fails_fast_without_network(daemon: Daemon, tmp_path: Path) -> None:
    start = time.monotonic()
    result = daemon.dockyard("run", "--rm", "nope/never:here")
    assert time.monotonic() - start < 10
    assert result.returncode == 125
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert lines[0] == "Unable to find image 'nope/never:here' locally"
    assert lines[1].startswith("dockyard: Error response from daemon: ")
    assert "nope/never" in lines[1]
    assert lines[-1] == "Run 'dockyard run --help' for more information"
    assert "registry" not in result.stderr.decode()  # no pull was tried
    assert daemon.dockyard("run", "--pull", "never", "--rm", "nope").stderr.startswith(b"dockyard: Error response")
    untagged = daemon.dockyard("run", "--rm", "nope")
    assert untagged.stderr.startswith(b"Unable to find image 'nope:latest' locally\n")


def test_no_pull_ever(daemon: Daemon) -> None:
    result = daemon.dockyard("run", "--pull", "always", "--rm", "busybox", "true")
    assert result.returncode == 125 and b"never pulls" in result.stderr
    result = daemon.dockyard("run", "--pull", "sometimes", "busybox")
    assert result.returncode == 125
    assert b"invalid pull option: 'sometimes'" in result.stderr


def test_usage_errors_match_docker(daemon: Daemon) -> None:
    for args in (["run", "--foo", "busybox"], ["run", "-z", "busybox"], ["run"], ["run", "-m", "10x", "busybox"],
                 ["run", "-c", "abc", "busybox"], ["run", "--cpus", "1.5x", "busybox"],
                 ["run", "--ulimit", "nofile=x", "busybox"], ["run", "-e", "=x", "busybox"],
                 ["run", "-p", "80:80:80:80", "busybox"], ["run", "--rm", "--restart", "always", "busybox"],
                 ["run", "-d", "-a", "stdout", "busybox"], ["run", "--device-read-bps", "foo", "busybox"],
                 ["run", "--device-read-bps", "sda:1mb", "busybox"], ["run", "--device-write-bps", "/dev/sda:1x", "busybox"],
                 ["run", "--device-read-iops", "/dev/sda:1mb", "busybox"], ["run", "--device-write-iops", ":1", "busybox"],
                 ["run", "--blkio-weight-device", "/dev/sda:5", "busybox"], ["ps", "--foo"], ["ps", "-n"], ["rm"],
                 ["rename", "a"], ["foo"], ["image", "foo"]):
        same(daemon, *args)


def _root_disk() -> str | None:
    """/dev/<name> of the whole disk that holds /, if there is one (blkio throttles refuse partitions)."""
    st = os.stat("/")
    block = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    if not block.exists():
        return None
    disk = block.resolve().parent if (block / "partition").exists() else block.resolve()
    path = Path("/dev") / disk.name
    return str(path) if path.is_block_device() else None


def test_block_io_throttles_reach_the_cgroup(daemon: Daemon) -> None:
    disk = _root_disk()
    if disk is None:
        pytest.skip("/ is not on a block device")
    rdev = os.stat(disk).st_rdev
    out = assert_same(daemon, "run", "--rm", "--device-read-bps", f"{disk}:1mb", "--device-write-iops", f"{disk}:70",
                      "busybox", "cat", "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device",
                      "/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device").stdout.decode()
    assert out == f"{os.major(rdev)}:{os.minor(rdev)} 1048576\n{os.major(rdev)}:{os.minor(rdev)} 70\n"


def test_env_and_env_file(daemon: Daemon, tmp_path: Path) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text("A=1\n# a comment\nB=two words\nFROM_HOST\n")
    result = daemon.dockyard("run", "--rm", "--env-file", str(env_file), "-e", "C=3", "-e", "FROM_HOST",
                             "busybox", "sh", "-c", 'echo "$A|$B|$C|$FROM_HOST"', env={"FROM_HOST": "h"})
    assert result.stdout == b"1|two words|3|h\n"
    bad = tmp_path / "bad.env"
    bad.write_text("A=1\n bad key=2\n")
    same(daemon, "run", "--rm", "--env-file", str(bad), "busybox", "true")
    same(daemon, "run", "--rm", "--env-file", str(tmp_path / "missing.env"), "busybox", "true")


def test_stdin(daemon: Daemon) -> None:
    assert daemon.dockyard("run", "--rm", "-i", "busybox", "cat", input=b"through\nstdin\n").stdout == \
        b"through\nstdin\n"
    big = os.urandom(3 << 20)
    result = daemon.dockyard("run", "--rm", "-i", "busybox", "sh", "-c", "cat | md5sum", input=big)
    import hashlib
    assert result.stdout.split()[0].decode() == hashlib.md5(big).hexdigest()
    # without -i stdin is not attached: cat sees EOF at once
    assert daemon.dockyard("run", "--rm", "busybox", "cat", input=b"ignored").stdout == b""


def test_tty_without_terminal(daemon: Daemon) -> None:
    same(daemon, "run", "--rm", "-it", "busybox", "true", input=b"")
    result = daemon.dockyard("run", "--rm", "-t", "busybox", "echo", "tty")
    assert result.stdout == b"tty\r\n"


def test_attach_only_stdout(daemon: Daemon) -> None:
    same(daemon, "run", "--rm", "-a", "stdout", "busybox", "sh", "-c", "echo o; echo e >&2")
    same(daemon, "run", "--rm", "-a", "stderr", "busybox", "sh", "-c", "echo o; echo e >&2")


def test_detached_prints_the_full_id_and_rm_removes(daemon: Daemon, created: Created) -> None:
    name = created.container()
    out = daemon.ok("run", "-d", "--name", name, "--rm", "busybox", "sh", "-c", "sleep 0.2")
    cid = out.strip()
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    assert daemon.ok("wait", name).strip() in ("0", "")  # removed while we wait is fine too
    for _ in range(50):
        if daemon.dockyard("inspect", cid).returncode != 0:
            break
        time.sleep(0.1)
    assert daemon.dockyard("inspect", cid).returncode == 1


def test_rm_after_foreground_run(daemon: Daemon, created: Created) -> None:
    name = created.container()
    assert daemon.dockyard("run", "--rm", "--name", name, "busybox", "true").returncode == 0
    assert daemon.ok("ps", "-a", "-q", "--filter", f"name={name}") == ""


def test_run_options_reach_the_container(daemon: Daemon, created: Created, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("bound\n")
    tmp_path.chmod(0o755)  # readable by the container's uid 1
    name = created.container()
    result = daemon.dockyard(
        "run", "--name", name, "-w", "/etc", "-u", "1:1", "--hostname", "hh", "-l", "k=v", "-v",
        f"{tmp_path}:/host:ro", "--mount", f"type=bind,source={tmp_path},target=/m", "--tmpfs", "/data",
        "--read-only", "-m", "64m", "--memory-swap", "128m", "-c", "512", "--cpus", "1.5", "--pids-limit", "50",
        "--ulimit", "nofile=100:200", "--cap-drop", "ALL", "--init", "--stop-signal", "SIGUSR1", "--stop-timeout",
        "3", "--restart", "no", "--entrypoint", "sh",
        "busybox", "-c", "pwd; id -u; hostname; cat /host/file.txt /m/file.txt; ulimit -n; "
                         "touch /x 2>/dev/null || echo ro; touch /data/ok && echo tmpfs; ps | head -2 | tail -1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[:8] == ["/etc", "1", "hh", "bound", "bound", "100", "ro", "tmpfs"]
    assert "init" in lines[8]
    fmt = ("{{.Config.Labels.k}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} "
           "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.Config.StopSignal}} {{.Config.StopTimeout}} "
           "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Init}} {{.HostConfig.CapDrop}}")
    assert daemon.ok("inspect", "-f", fmt, name).strip() == \
        "v 67108864 134217728 512 1500000000 50 SIGUSR1 3 true true [ALL]"


def test_signals_are_proxied(daemon: Daemon, created: Created) -> None:
    name = created.container()
    proc = subprocess.Popen([*DOCKYARD, "run", "--name", name, "busybox", "sh", "-c",
                             "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon.env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out == b"got-term\n", err
    assert proc.returncode == 7


def test_unreachable_daemon(daemon: Daemon, tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/none.sock"
    ours = subprocess.run([*DOCKYARD, "-H", host, "ps"], capture_output=True, env=daemon.env(), check=False)
    assert (ours.returncode, ours.stderr.decode()) == \
        (1, f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?\n")
    run = subprocess.run([*DOCKYARD, "-H", host, "run", "busybox"], capture_output=True, env=daemon.env(), check=False)
    assert run.returncode == 125
    assert run.stderr.decode() == (f"dockyard: Cannot connect to the dockyard daemon at {host}. Is the dockyard "
                                   "daemon running?\n\nRun 'dockyard run --help' for more information\n")
