"""A dockyardd started by a test: its own socket, data root, exec root and cgroup parent, busybox
imported, and everything torn down afterwards even when the test failed.

    with running_dockyardd() as d:
        d.docker("run", "--rm", "busybox", "echo", "hi")      # the real docker CLI, DOCKER_HOST=d.host
        d.kill9(); d.start()                                   # a daemon crash and a restart

Teardown (in this order): stop the daemon (SIGTERM, then SIGKILL), SIGKILL every process forked from
it (monitors carry the daemon's command line, which names this test's data root) and every process
left in its cgroups, unmount what is mounted under the directory, remove the cgroups and the
directory. Only processes this fixture started are touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DOCKYARDD = [sys.executable, "-m", "dockyard.api.daemon"]
_BUSYBOX_CACHE: dict[str, bytes] = {}


@dataclass
class Dockyardd:
    root: Path
    cgroup_parent: str
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "d.sock"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update({"DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.root / "docker-config")})
        return env

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60,
               check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run the real docker CLI against this daemon."""
        return subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env(), timeout=timeout,
                              check=check)

    def command(self) -> list[str]:
        return [*DOCKYARDD, "-H", self.host, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "--pidfile", str(self.root / "d.pid"), "--cgroup-parent", self.cgroup_parent, *self.extra_args]

    def start(self, timeout: float = 30) -> None:
        log = open(self.root / "dockyardd.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockyardd did not start:\n{self.log()}")
            time.sleep(0.05)

    def _ping(self) -> bool:
        import socket

        if not self.socket.exists():
            return False
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(2)
            s.connect(str(self.socket))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
        finally:
            s.close()

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self) -> None:
        """Crash the daemon: SIGKILL, no cleanup (monitors and containers live on)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def log(self) -> str:
        try:
            return (self.root / "dockyardd.log").read_text(errors="replace")[-6000:]
        except OSError:
            return ""


def busybox_layer_tar() -> bytes:
    """The busybox image's rootfs as a tar (built once per test session)."""
    if "tar" not in _BUSYBOX_CACHE:
        from dockyard.images.bootstrap import build_busybox_rootfs

        with tempfile.TemporaryDirectory(prefix="dyd-bb-") as tmp:
            rootfs = build_busybox_rootfs(Path(tmp) / "rootfs")
            _BUSYBOX_CACHE["tar"] = subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                                                   capture_output=True, check=True).stdout
    return _BUSYBOX_CACHE["tar"]


def bootstrap_busybox(data_root: Path) -> str:
    import io

    from dockyard.images import ImageService

    with ImageService(data_root) as images:
        return images.import_rootfs(io.BytesIO(busybox_layer_tar()), repo="busybox", tag="latest",
                                    changes=['CMD ["sh"]'])


@contextlib.contextmanager
def running_dockyardd(*, busybox: bool = True, extra_args: list[str] | None = None) -> Iterator[Dockyardd]:
    # Short paths: unix socket addresses have at most 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="dyd-", dir="/tmp"))
    d = Dockyardd(root, f"/dockyard-test-{uuid.uuid4().hex[:8]}", list(extra_args or []))
    try:
        if busybox:
            bootstrap_busybox(d.data_root)
        d.start()
        yield d
    finally:
        teardown(d)


def teardown(d: Dockyardd) -> None:
    d.stop()
    marker = str(d.data_root).encode()
    for pid in _pids_with_cmdline(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _kill_cgroup_tree(d.cgroup_parent)
    time.sleep(0.05)
    _unmount_below(d.root)
    _remove_cgroup_tree(d.cgroup_parent)
    shutil.rmtree(d.root, ignore_errors=True)


def _pids_with_cmdline(marker: bytes) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if marker in f.read():
                    out.append(int(name))
        except OSError:
            continue
    return out


def _cgroup_dirs(parent: str) -> list[Path]:
    dirs: list[Path] = []
    base = Path("/sys/fs/cgroup")
    for top in [base, *base.iterdir()] if (base / "cgroup.controllers").exists() else list(base.iterdir()):
        tree = top / parent.lstrip("/")
        if tree.is_dir():
            dirs.extend(sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True))
            dirs.append(tree)
    return dirs


def _kill_cgroup_tree(parent: str) -> None:
    for _ in range(3):
        found = False
        for directory in _cgroup_dirs(parent):
            with contextlib.suppress(OSError):
                frozen = directory / "freezer.state"
                if frozen.exists() and frozen.read_text().strip() != "THAWED":
                    frozen.write_text("THAWED")
            try:
                pids = (directory / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                found = True
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.1)


def _remove_cgroup_tree(parent: str) -> None:
    for directory in _cgroup_dirs(parent):
        for _ in range(20):
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def _unmount_below(path: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == str(path) or p.startswith(f"{path}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
