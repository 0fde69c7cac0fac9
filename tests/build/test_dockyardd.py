"""The real `docker build` (DOCKER_BUILDKIT=0) against dockyardd: build, run the image, the cache
on a rebuild and after a change, a failing RUN's exit code, a Dockerfile error.

The fixture skips while dockyardd cannot be imported or does not route POST /build yet (it asks
the running daemon: a 404 for /build means the route is not mounted); once it is, these tests
run. The daemon is expected to call `dockyard.build.serve_build` (see test_api.py, which tests
that adapter with the same CLI on a minimal server).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _post_build_status(sock_path: Path) -> int:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w"):
        pass
    data = body.getvalue()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(30)
        s.connect(str(sock_path))
        s.sendall(b"POST /v1.41/build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
                  b"Content-Length: " + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)
        head = s.recv(64)
    finally:
        s.close()
    return int(head.split()[1])


@pytest.fixture(scope="module")
def dockyardd() -> Iterator[Any]:
    if importlib.util.find_spec("dockyard.api.daemon") is None:
        pytest.skip("dockyard.api has no daemon yet")
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    from tests.helpers.dockyardd import running_dockyardd

    with running_dockyardd() as d:
        if _post_build_status(d.socket) == 404:
            pytest.skip("dockyardd does not route POST /build yet (it should call dockyard.build.serve_build)")
        yield d


def _docker(d: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**d.env(), "DOCKER_BUILDKIT": "0"}
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=300)


def test_docker_build_against_dockyardd(dockyardd: Any, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "greeting.txt").write_text("hello from dockyard\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nARG WHO=you\nENV GREETING=/greeting.txt\nCOPY greeting.txt /\n"
        "RUN echo \"built for $WHO\" > /who && cat /greeting.txt\nCMD [\"sh\", \"-c\", \"cat $GREETING /who\"]\n")
    first = _docker(dockyardd, "build", "-t", "dyd-build:1", "--build-arg", "WHO=docker", str(ctx))
    assert first.returncode == 0, first.stderr
    assert "Step 5/6 : RUN" in first.stdout and "hello from dockyard" in first.stdout
    assert "Successfully tagged dyd-build:1" in first.stdout
    run = _docker(dockyardd, "run", "--rm", "dyd-build:1")
    assert run.stdout == "hello from dockyard\nbuilt for docker\n", run.stderr
    image_id = _docker(dockyardd, "images", "-q", "--no-trunc", "dyd-build:1").stdout.strip()

    cached = _docker(dockyardd, "build", "-t", "dyd-build:1", "--build-arg", "WHO=docker", str(ctx))
    assert cached.returncode == 0 and cached.stdout.count(" ---> Using cache") == 5
    assert _docker(dockyardd, "images", "-q", "--no-trunc", "dyd-build:1").stdout.strip() == image_id

    (ctx / "greeting.txt").write_text("changed\n")
    changed = _docker(dockyardd, "build", "-t", "dyd-build:2", "--build-arg", "WHO=docker", str(ctx))
    assert changed.returncode == 0 and changed.stdout.count(" ---> Using cache") == 2
    assert _docker(dockyardd, "run", "--rm", "dyd-build:2").stdout == "changed\nbuilt for docker\n"
    history = _docker(dockyardd, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "dyd-build:2").stdout
    assert "|1 WHO=docker /bin/sh -c echo \"built for $WHO\" > /who && cat /greeting.txt" in history


def test_docker_build_errors_against_dockyardd(dockyardd: Any, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo going; exit 5\n")
    failed = _docker(dockyardd, "build", str(ctx))
    assert failed.returncode == 5
    assert "The command '/bin/sh -c echo going; exit 5' returned a non-zero code: 5" in failed.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\n\n\nRUNN x\n")
    bad = _docker(dockyardd, "build", str(ctx))
    assert bad.returncode == 1
    assert "dockerfile parse error line 4: unknown instruction: RUNN" in bad.stderr


def test_dockerfile_from_stdin(dockyardd: Any, tmp_path: Path) -> None:
    """`docker build -` (the CLI tars the Dockerfile) and `-f - DIR` (the CLI appends the Dockerfile
    to the context under a random name, with no padding or end blocks after it)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f.txt").write_text("from the context\n")
    env = {**dockyardd.env(), "DOCKER_BUILDKIT": "0"}
    alone = subprocess.run(["docker", "build", "-t", "stdin:1", "-"], input=b"FROM busybox\nRUN echo alone\n",
                           capture_output=True, env=env, timeout=300)
    assert alone.returncode == 0 and b"\nalone\n" in alone.stdout, alone.stderr
    with_ctx = subprocess.run(["docker", "build", "-q", "-f", "-", str(ctx)],
                              input=b"FROM busybox\nCOPY f.txt /\nRUN cat /f.txt\n", capture_output=True, env=env,
                              timeout=300)
    assert with_ctx.returncode == 0 and with_ctx.stdout.startswith(b"sha256:"), with_ctx.stderr
