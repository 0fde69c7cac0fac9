"""The real Docker daemon (Debian's docker.io) runs containers through dockyard-runtime.

Each case runs the same `docker run` once with `--runtime runc` and once with `--runtime dockyard`
against one dockerd started for this module, and expects the same result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.dockerd import Dockerd, import_rootfs, running_dockerd
from tests.runtime.conftest import RUNTIME

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Iterator[Dockerd]:
    with running_dockerd(tmp_path_factory.mktemp("dockerd"), runtimes={"dockyard": RUNTIME}) as daemon:
        import_rootfs(daemon, busybox_rootfs, "busybox:latest")
        yield daemon


def _run(dockerd: Dockerd, runtime: str, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = dockerd.docker("run", "--rm", "--runtime", runtime, *args, input=input)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


CASES = {
    "echo": ["busybox", "echo", "hello"],
    "exit-code": ["busybox", "sh", "-c", "exit 3"],
    "env": ["-e", "FOO=bar", "busybox", "sh", "-c", "echo $FOO; echo $HOME; echo $PATH"],
    "user": ["-u", "1000:100", "busybox", "id"],
    "user-name": ["-u", "www-data", "busybox", "sh", "-c", "id; echo $HOME"],
    "workdir": ["-w", "/tmp/new/dir", "busybox", "pwd"],
    "tty": ["-t", "busybox", "sh", "-c", "tty; stty size"],
    "interactive": ["-i", "busybox", "sh", "-c", "cat; echo done"],
    "memory": ["-m", "64m", "busybox", "sh", "-c",
               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"],
    "cpu-shares": ["--cpu-shares", "512", "busybox", "cat", "/sys/fs/cgroup/cpu/cpu.shares"],
    "pids-limit": ["--pids-limit", "50", "busybox", "cat", "/sys/fs/cgroup/pids/pids.max"],
    "caps-default": ["busybox", "grep", "^Cap", "/proc/self/status"],
    "cap-add-drop": ["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "busybox", "grep", "^Cap", "/proc/self/status"],
    "cap-nonroot": ["-u", "1000", "--cap-add", "NET_ADMIN", "busybox", "grep", "^Cap", "/proc/self/status"],
    "read-only": ["--read-only", "busybox", "sh", "-c", "touch /x; echo $?"],
    "tmpfs": ["--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c", "grep /scratch /proc/mounts | cut -d' ' -f1-3"],
    "network-none": ["--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; ip -o link | cut -d: -f2"],
    "ulimit": ["--ulimit", "nofile=512:1024", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"],
    "hostname": ["--hostname", "boxy", "busybox", "hostname"],
    "missing-command": ["busybox", "nonexistent-command"],
    "missing-path": ["busybox", "/no/such/file"],
    "not-executable": ["busybox", "/etc/passwd"],
    "masked-paths": ["busybox", "sh", "-c", "cat /proc/kcore | wc -c; cat /proc/keys | wc -c; touch /proc/sys/x 2>&1 | wc -l"],
    "devices": ["busybox", "sh", "-c", "ls /dev | sort | tr '\\n' ' '"],
    "pid-1": ["busybox", "sh", "-c", "echo $$"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_result_as_runc(dockerd: Dockerd, case: str) -> None:
    args = CASES[case]
    input = b"from stdin\n" if case == "interactive" else None
    expected = _run(dockerd, "runc", *args, input=input)
    actual = _run(dockerd, "dockyard", *args, input=input)
    assert actual[0] == expected[0], f"exit code: runc {expected} dockyard {actual}"
    assert actual[1] == expected[1], f"stdout: runc {expected} dockyard {actual}"


def test_bind_mount_volume(dockerd: Dockerd, tmp_path: Path) -> None:
    (tmp_path / "hostfile").write_text("from the host\n")
    code, out, err = _run(dockerd, "dockyard", "-v", f"{tmp_path}:/data", "busybox", "sh", "-c",
                          "cat /data/hostfile; echo written > /data/back")
    assert code == 0, err
    assert out == "from the host\n"
    assert (tmp_path / "back").read_text() == "written\n"
    code, out, err = _run(dockerd, "dockyard", "-v", f"{tmp_path}:/data:ro", "busybox", "sh", "-c",
                          "echo x > /data/nope")
    assert code != 0 and "Read-only file system" in err


def test_detached_exec_top_pause_stop(dockerd: Dockerd) -> None:
    name = "dockyard-detached"
    started = dockerd.docker("run", "-d", "--runtime", "dockyard", "--name", name, "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr.decode()
    try:
        out = dockerd.docker("exec", name, "sh", "-c", "echo in-exec; echo $$")
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout.decode().splitlines()[0] == "in-exec"
        assert dockerd.docker("exec", name, "sh", "-c", "exit 4").returncode == 4
        assert dockerd.docker("exec", "-u", "1000", name, "id", "-u").stdout == b"1000\n"
        assert dockerd.docker("exec", "-w", "/tmp", name, "pwd").stdout == b"/tmp\n"
        tty = dockerd.docker("exec", "-t", name, "tty")
        assert tty.returncode == 0 and tty.stdout.startswith(b"/dev/pts/"), tty
        top = dockerd.docker("top", name)
        assert top.returncode == 0 and "sleep 300" in top.stdout.decode()
        assert dockerd.docker("pause", name).returncode == 0
        assert _inspect(dockerd, name)["State"]["Status"] == "paused"
        assert dockerd.docker("unpause", name).returncode == 0
        assert _inspect(dockerd, name)["State"]["Status"] == "running"
        begin = time.monotonic()
        assert dockerd.docker("stop", "-t", "1", name).returncode == 0
        assert time.monotonic() - begin < 15
        state = _inspect(dockerd, name)["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137
    finally:
        dockerd.docker("rm", "-f", name)


def test_kill_and_rm_force(dockerd: Dockerd) -> None:
    name = "dockyard-kill"
    assert dockerd.docker("run", "-d", "--runtime", "dockyard", "--name", name, "busybox",
                          "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done").returncode == 0
    time.sleep(0.5)
    assert dockerd.docker("kill", "-s", "TERM", name).returncode == 0
    assert dockerd.docker("wait", name).stdout == b"42\n"
    assert dockerd.docker("rm", name).returncode == 0
    assert dockerd.docker("run", "-d", "--runtime", "dockyard", "--name", name, "busybox", "sleep", "300").returncode == 0
    assert dockerd.docker("rm", "-f", name).returncode == 0
    assert dockerd.docker("inspect", name).returncode != 0


def test_restart_policy(dockerd: Dockerd) -> None:
    name = "dockyard-restart"
    try:
        assert dockerd.docker("run", "-d", "--runtime", "dockyard", "--restart", "on-failure:2", "--name", name,
                              "busybox", "sh", "-c", "exit 1").returncode == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = _inspect(dockerd, name)
            if state["RestartCount"] == 2 and state["State"]["Status"] == "exited":
                break
            time.sleep(0.2)
        assert state["RestartCount"] == 2 and state["State"]["ExitCode"] == 1
    finally:
        dockerd.docker("rm", "-f", name)


def _inspect(dockerd: Dockerd, name: str) -> dict:  # type: ignore[type-arg]
    result = dockerd.docker("inspect", name)
    assert result.returncode == 0, result.stderr.decode()
    doc: dict = json.loads(result.stdout)[0]  # type: ignore[type-arg]
    return doc
