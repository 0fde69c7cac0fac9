"""The daemon the CLI tests talk to, and both clients pointed at it.

`DOCKYARD_TEST_DAEMON` picks it (the hook for the daemon's engineer):

    dockerd        (default) Debian's docker.io, started by tests/helpers/dockerd.py on its own
                   socket and data root
    dockyardd      `python -m dockyard.api.daemon` started here on its own socket, data root and
                   exec root (skipped while that module does not exist)
    unix://...     a daemon that is already running (tcp:// too); nothing is started or stopped

Every test then runs the same commands through `dockyard` (this repo's CLI) and, where the output
is deterministic, through the real `docker` CLI on the same daemon and compares them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.dockerd import running_dockerd

DOCKYARD = [sys.executable, "-m", "dockyard.cli"]


class Daemon:
    def __init__(self, kind: str, host: str, base: Path) -> None:
        self.kind = kind
        self.host = host
        self.base = base
        self.docker_config = base / "docker-config"
        self.docker_config.mkdir(parents=True, exist_ok=True)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_"))}
        env.update({"DOCKYARD_HOST": self.host, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.docker_config),
                    "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"})
        env.update(extra or {})
        return env

    def dockyard(self, *args: str, input: bytes | None = None, timeout: float = 60,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*DOCKYARD, *args], input=input, capture_output=True, env=self.env(env),
                              timeout=timeout, check=False)

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env(), timeout=timeout,
                              check=False)

    def ok(self, *args: str, input: bytes | None = None, timeout: float = 60) -> str:
        """`dockyard ARGS`, which must succeed; its stdout."""
        result = self.dockyard(*args, input=input, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} failed ({result.returncode}): "
                                 f"{result.stderr.decode(errors='replace')}")
        return result.stdout.decode()


def normalise(text: bytes) -> str:
    """docker's output in dockyard's words: the program name is the only expected difference."""
    out = text.decode(errors="replace")
    out = re.sub(r"\bDocker daemon\b", "dockyard daemon", out)
    out = re.sub(r"\bdocker daemon\b", "dockyard daemon", out)
    return re.sub(r"\bdocker\b", "dockyard", out)


_AGO = re.compile(r"(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?|days|weeks|"
                  r"months|years))( ago)?")


def _loose(text: str, sort_rows: bool) -> list[str]:
    """Humanised durations and column padding blurred (a second may tick between two commands)."""
    lines = [re.sub(r"  +", "  ", _AGO.sub("<ago>", line)).rstrip() for line in text.splitlines()]
    if sort_rows and lines:
        header = 0 if lines[0].startswith("{") or lines[0][:1].islower() else 1  # JSON lines have none
        lines = lines[:header] + sorted(lines[header:])
    return lines


def assert_same(daemon: Daemon, *args: str, input: bytes | None = None,
                sort_rows: bool = False) -> subprocess.CompletedProcess[bytes]:
    """`dockyard ARGS` and `docker ARGS` on the same daemon: same status, same stderr, same stdout
    (exactly, or up to a humanised time that ticked between the two; rows sorted with `sort_rows`,
    for docker's Go-map orders)."""
    ours, theirs = daemon.dockyard(*args, input=input), daemon.docker(*args, input=input)
    a = (ours.returncode, ours.stdout.decode(errors="replace"), ours.stderr.decode(errors="replace"))
    b = (theirs.returncode, normalise(theirs.stdout), normalise(theirs.stderr))
    if a != b:
        assert (a[0], _loose(a[1], sort_rows), _loose(a[2], False)) == \
            (b[0], _loose(b[1], sort_rows), _loose(b[2], False)), (args, a, b)
    return ours


@contextlib.contextmanager
def _dockyardd(base: Path) -> Iterator[Daemon]:
    # tests/helpers/dockyardd.py's daemon: its own roots and cgroup parent, and a teardown that
    # takes away monitors, mounts and cgroups whatever the tests left.
    from tests.helpers.dockyardd import running_dockyardd

    with running_dockyardd(busybox=False) as daemon:
        yield Daemon("dockyardd", daemon.host, base)


@contextlib.contextmanager
def running_daemon(base: Path, kind: str | None = None) -> Iterator[Daemon]:
    """A daemon for one test module, by DOCKYARD_TEST_DAEMON (see the module docstring)."""
    kind = kind or os.environ.get("DOCKYARD_TEST_DAEMON", "dockerd")
    base.mkdir(parents=True, exist_ok=True)
    if "://" in kind:
        yield Daemon("external", kind, base)
    elif kind == "dockyardd":
        with _dockyardd(base) as daemon:
            yield daemon
    elif kind == "dockerd":
        with running_dockerd(base) as dockerd:
            yield Daemon("dockerd", dockerd.host, base)
    else:
        raise ValueError(f"DOCKYARD_TEST_DAEMON={kind!r}: expected dockerd, dockyardd or a unix:// or tcp:// URL")
    shutil.rmtree(base / "docker-config", ignore_errors=True)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Created:
    """Names a test makes, removed afterwards whatever happened (with the real docker CLI, so a
    broken dockyard cannot leave them behind)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.containers: list[str] = []
        self.images: list[str] = []
        self.volumes: list[str] = []

    def container(self, prefix: str = "c") -> str:
        name = unique(prefix)
        self.containers.append(name)
        return name

    def image(self, ref: str) -> str:
        self.images.append(ref)
        return ref

    def volume(self, prefix: str = "v") -> str:
        name = unique(prefix)
        self.volumes.append(name)
        return name

    def cleanup(self) -> None:
        if self.containers:
            self.daemon.docker("rm", "-f", "-v", *self.containers, timeout=60)
        if self.images:
            self.daemon.docker("rmi", "-f", *self.images, timeout=60)
        if self.volumes:
            self.daemon.docker("volume", "rm", "-f", *self.volumes, timeout=60)
