"""A reference Docker daemon (Debian's docker.io) started by a test on its own socket and data root.

It never touches a system dockerd: its own socket, data root, exec root and pid file under a
temporary directory, no bridge, no iptables. Teardown stops it by its PID and unmounts whatever it
left under the directory (see shared/notes/runc-interface.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Dockerd:
    root: Path
    socket: Path
    cgroup_parent: str

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run the real docker CLI against this daemon."""
        return subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env(), timeout=timeout, check=check)


def _unmount_below(path: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == str(path) or p.startswith(f"{path}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


@contextmanager
def running_dockerd(base: Path, runtimes: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Iterator[Dockerd]:
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed: `make setup` installs Debian's docker.io")
    base.mkdir(parents=True, exist_ok=True)
    cgroup_parent = f"/dockyard-test-dockerd-{uuid.uuid4().hex[:8]}"
    config: dict[str, Any] = {"cgroup-parent": cgroup_parent, **(extra or {})}
    if runtimes:
        config["runtimes"] = {name: {"path": path} for name, path in runtimes.items()}
    (base / "daemon.json").write_text(json.dumps(config))
    daemon = Dockerd(base, base / "docker.sock", cgroup_parent)
    # dockerd makes /run/docker/plugins whatever its exec root; take it away again if it was not there.
    run_docker_existed = os.path.exists("/run/docker")
    log = open(base / "dockerd.log", "wb")
    # When dockerd gives up on its containerd (at shutdown, or a failed health check on a busy
    # machine) it asks for a stack dump first (SIGUSR1), which containerd writes to $TMPDIR: here,
    # inside the directory this fixture removes, not in /tmp.
    (base / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        ["dockerd", "--config-file", str(base / "daemon.json"), "--host", daemon.host,
         "--data-root", str(base / "data"), "--exec-root", str(base / "exec"), "--pidfile", str(base / "docker.pid"),
         "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "TMPDIR": str(base / "tmp")},
    )
    try:
        deadline = time.monotonic() + 30
        while daemon.docker("version", timeout=10).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; see {base / 'dockerd.log'}")
            time.sleep(0.2)
        yield daemon
    finally:
        try:
            ids = daemon.docker("ps", "-aq", timeout=30).stdout.split()
            if ids:
                daemon.docker("rm", "-f", *(i.decode() for i in ids), timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            _unmount_below(base)
            _remove_cgroup_tree(cgroup_parent)
            shutil.rmtree(base, ignore_errors=True)
            if not run_docker_existed:
                for empty in ("/run/docker/plugins", "/run/docker"):
                    with contextlib.suppress(OSError):  # still in use by another test's dockerd
                        os.rmdir(empty)


def _remove_cgroup_tree(parent: str) -> None:
    for top in Path("/sys/fs/cgroup").iterdir():
        tree = top / parent.lstrip("/")
        if tree.is_dir():
            for sub in sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                os.rmdir(sub)
            os.rmdir(tree)


def import_rootfs(daemon: Dockerd, rootfs: Path, name: str) -> None:
    """`docker import` a root filesystem directory as image `name` with CMD ["sh"]."""
    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
    result = daemon.docker("import", "-c", 'CMD ["sh"]', "-", name, input=tar)
    if result.returncode != 0:
        raise RuntimeError(f"docker import failed: {result.stderr.decode()}")
