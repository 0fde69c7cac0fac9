"""Run a function in a forked child and collect what it reports.

The process-security tests apply things that cannot be undone in a process (seccomp filters,
dropped capabilities, no_new_privs, a new persona), so each runs in a child of the pytest process.
The child reports through a pipe: the function either returns a JSON-able value, or writes to the
pipe itself (often by making it the stdout of a program it execs), or exits with a code of its
choosing. The parent always reaps the child, killing it first if it outlives the timeout.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class ChildResult:
    pid: int
    status: int  # the raw wait status
    output: bytes

    @property
    def exit_code(self) -> int | None:
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None

    @property
    def signal(self) -> int | None:
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    def value(self) -> Any:
        """The function's return value; fails the test with the child's traceback if it raised."""
        assert self.exit_code == 0, f"child failed (status {self.status:#x}):\n{self.output.decode(errors='replace')}"
        return json.loads(self.output)["value"]

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def status_fields(self) -> dict[str, str]:
        """`output` read as /proc/<pid>/status ("Name:\\tvalue" lines)."""
        fields: dict[str, str] = {}
        for line in self.text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        return fields


class RunningChild:
    """A forked child still running; `finish` collects it, and leaving the `with` block always reaps it."""

    def __init__(self, pid: int, read_fd: int) -> None:
        self.pid = pid
        self._r = read_fd
        self._reaped = False

    def finish(self, timeout: float = 10.0) -> ChildResult:
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(f"child {self.pid} still running after {timeout}s")
            chunk = os.read(self._r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._reaped = True
                return ChildResult(self.pid, status, b"".join(chunks))
            if time.monotonic() > deadline:
                raise TimeoutError(f"child {self.pid} did not exit after {timeout}s")
            time.sleep(0.005)

    def __enter__(self) -> RunningChild:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._r)
        if not self._reaped:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self._reaped = True


def start_child(fn: Callable[[int], Any]) -> RunningChild:
    """Fork; in the child call fn(out_fd) and report as described above. Never returns in the child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(r)
            payload = json.dumps({"value": fn(w)}).encode()
        except BaseException as err:
            payload = f"{type(err).__name__}: {err}\n{traceback.format_exc()}".encode()
            code = 1
        try:
            while payload:
                payload = payload[os.write(w, payload) :]
        finally:
            os._exit(code)
    os.close(w)
    return RunningChild(pid, r)


def run_in_child(fn: Callable[[int], Any], timeout: float = 10.0) -> ChildResult:
    with start_child(fn) as child:
        return child.finish(timeout)


def read_proc_status() -> dict[str, str]:
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def exec_into(out: int, argv: list[str]) -> None:
    """Make `out` the stdout and exec argv (in a child made by run_in_child)."""
    os.dup2(out, 1)
    os.execv(argv[0], argv)


class LogCapture:
    """Point the runtime log at a JSON-lines file for the duration of a test (children inherit it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> LogCapture:
        from dockyard.runtime import log

        log.configure(self.path, "json", debug=True)
        return self

    def __exit__(self, *exc: object) -> None:
        from dockyard.runtime import log

        log.configure(None)

    def messages(self, level: str) -> list[str]:
        try:
            with open(self.path) as f:
                records = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [r["msg"] for r in records if r["level"] == level]
