"""Helpers shared by the cgroup test modules (this module has no tests of its own).

`Child` is a real forked process that waits until the test has placed it in a cgroup, then runs
one action and reports its result through a pipe. `Children` owns every child a test started and
kills them by pid at teardown; `CgroupParents` removes the unique test parent from every
hierarchy, even when the test failed.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

from dockyard.runtime.cgroups import fs, paths

UNIFIED = "/sys/fs/cgroup/unified"


class Child:
    def __init__(self, action: Callable[[], Any] | None = None) -> None:
        go_r, go_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns into pytest
            code = 0
            try:
                # Default dispositions, whatever handlers the test process had installed, so
                # that a signal's effect (and the exit status) is the kernel's own.
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
                    signal.signal(sig, signal.SIG_DFL)
                os.close(go_w)
                os.close(res_r)
                os.read(go_r, 1)
                result = action() if action is not None else None
                os.write(res_w, json.dumps(result).encode())
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(go_r)
        os.close(res_w)
        self.pid = pid
        self._go = go_w
        self._results = res_r
        self.status: int | None = None

    def go(self) -> None:
        """Let the child run its action (call after placing it in the cgroup)."""
        os.write(self._go, b"x")
        os.close(self._go)
        self._go = -1

    def result(self, timeout: float = 20) -> Any:
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"child {self.pid} did not report in {timeout}s")
            ready, _, _ = select.select([self._results], [], [], left)
            if ready:
                chunk = os.read(self._results, 65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data) if data else None

    def wait(self, timeout: float = 20) -> int:
        """The raw wait status; the child is reaped."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = status
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"child {self.pid} did not exit in {timeout}s")
            time.sleep(0.01)
        return self.status

    def alive(self) -> bool:
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == self.pid:
            self.status = status
            return False
        return True

    def kill(self) -> None:
        """SIGKILL this child (by the pid we started) and reap it."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        for fd in (self._go, self._results):
            if fd >= 0:
                os.close(fd)
        self._go = self._results = -1


class Children:
    def __init__(self) -> None:
        self.started: list[Child] = []

    def __call__(self, action: Callable[[], Any] | None = None) -> Child:
        child = Child(action)
        self.started.append(child)
        return child

    def sleeper(self) -> Child:
        """A child that sleeps (until killed) once released."""
        child = self(lambda: time.sleep(600))
        return child

    def kill_all(self) -> None:
        for child in self.started:
            child.kill()


class CgroupParents:
    """A unique test parent ("/dockyard-test-<hex>") and its removal from every hierarchy."""

    def __init__(self) -> None:
        self.name = f"/dockyard-test-{uuid.uuid4().hex[:12]}"

    def path(self, leaf: str = "c1") -> str:
        return f"{self.name}/{leaf}"

    def dirs(self) -> list[str]:
        return [os.path.join(m.mountpoint, self.name.lstrip("/")) for m in paths.mounts()
                if os.path.isdir(os.path.join(m.mountpoint, self.name.lstrip("/")))]

    def cleanup(self) -> None:
        for d in self.dirs():
            fs.remove_tree(d)


def spin(seconds: float) -> int:
    """Burn cpu for a while; returns loop count."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def try_open(path: str, flags: int) -> str:
    try:
        os.close(os.open(path, flags))
        return "ok"
    except OSError as err:
        return os.strerror(err.errno or 0)


def cgroup_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
        return paths.own_cgroups(f.read())
