"""POST /build: the query parameters, the JSON stream, and the real docker CLI (DOCKER_BUILDKIT=0)
talking to `serve_build` mounted on a minimal Engine API server (the /_ping and /build routes of
an aiohttp app on a unix socket), so the adapter the daemon mounts is tested before and apart
from the daemon. test_dockyardd.py runs the same CLI builds against dockyardd itself.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.build import build_options_from_query, serve_build
from dockyard.build.api import encode_message
from dockyard.errors import DockyardError, InvalidArgument
from tests.build.conftest import Env
from tests.build.miniapi import MiniApi


def test_query_parameters() -> None:
    query = {"t": ["a:1", "b"], "dockerfile": "sub/Dockerfile", "buildargs": json.dumps({"A": "1", "B": None}),
             "labels": json.dumps({"l": "v"}), "target": "t", "nocache": "1", "q": "true", "pull": "1",
             "networkmode": "host", "extrahosts": ["h:127.0.0.1"], "memory": "1048576", "cpushares": "512",
             "shmsize": "1024", "cgroupparent": "/x"}
    o = build_options_from_query(query, api_version="1.41")
    assert (o.tags, o.dockerfile, o.build_args, o.labels, o.target) == (["a:1", "b"], "sub/Dockerfile",
                                                                        {"A": "1", "B": None}, {"l": "v"}, "t")
    assert (o.no_cache, o.quiet, o.pull, o.network_mode, o.extra_hosts) == (True, True, True, "host", ["h:127.0.0.1"])
    assert (o.memory, o.cpu_shares, o.shm_size, o.cgroup_parent, o.remove) == (1048576, 512, 1024, "/x", True)
    defaults = build_options_from_query({}, api_version="1.41")
    assert (defaults.dockerfile, defaults.remove, defaults.force_remove, defaults.no_cache) == ("Dockerfile", True,
                                                                                              False, False)
    assert build_options_from_query({"rm": "0"}).remove is False
    assert build_options_from_query({"rm": "0", "forcerm": "1"}).remove is True
    assert build_options_from_query({"nocache": "false"}).no_cache is False


@pytest.mark.parametrize(("query", "kind", "message"), [
    ({"buildargs": "{"}, InvalidArgument, "error reading build args"),
    ({"labels": "[1]"}, InvalidArgument, "error reading labels"),
    ({"remote": "https://example.com/x.git"}, errors.NotImplemented, "remote context"),
    ({"version": "2"}, errors.NotImplemented, "BuildKit is not supported"),
    ({"squash": "1"}, InvalidArgument, "squash is only supported with experimental mode"),
])
def test_bad_query(query: dict[str, str], kind: type[DockyardError], message: str) -> None:
    with pytest.raises(kind, match=message):
        build_options_from_query(query)


def test_messages_are_encoded_as_dockerd_writes_them() -> None:
    assert encode_message({"stream": " ---> abc\n"}) == b'{"stream":" ---\\u003e abc\\n"}\r\n'
    assert encode_message({"error": "x", "errorDetail": {"code": 3, "message": "x"}}) == \
        b'{"errorDetail":{"code":3,"message":"x"},"error":"x"}\r\n'


def _tar(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _serve(env: Env, files: dict[str, str], query: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    out = io.BytesIO()
    result = serve_build(env.builder, query, io.BytesIO(_tar(files)), out, api_version="1.41")
    lines = [json.loads(line) for line in out.getvalue().split(b"\r\n") if line]
    return lines, result


def test_stream_and_aux(env: Env) -> None:
    lines, result = _serve(env, {"Dockerfile": "FROM busybox\nRUN echo hi\n"}, {"t": "streamed:1"})
    assert result is not None
    text = "".join(m.get("stream", "") for m in lines)
    assert "Step 2/2 : RUN echo hi\n" in text and "\nhi\n" in text
    assert text.endswith(f"Successfully built {result.image_id[7:19]}\nSuccessfully tagged streamed:1\n")
    assert {"aux": {"ID": result.image_id}} in lines
    env.assert_clean()


def test_errors_before_the_stream_are_raised(env: Env) -> None:
    with pytest.raises(InvalidArgument, match="dockerfile parse error line 2: unknown instruction: RUNN"):
        _serve(env, {"Dockerfile": "FROM busybox\nRUNN x\n"}, {})
    with pytest.raises(InvalidArgument, match="Cannot locate specified Dockerfile: Nope"):
        _serve(env, {"Dockerfile": "FROM busybox\n"}, {"dockerfile": "Nope"})
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        _serve(env, {"Dockerfile": "FROM busybox\n"}, {"t": "Bad:Tag:x"})
    env.assert_clean()


def test_errors_in_the_stream(env: Env) -> None:
    lines, result = _serve(env, {"Dockerfile": "FROM busybox\nRUN exit 7\n"}, {})
    assert result is None
    assert lines[-1] == {"errorDetail": {"code": 7, "message": "The command '/bin/sh -c exit 7' returned a non-zero code: 7"},
                         "error": "The command '/bin/sh -c exit 7' returned a non-zero code: 7"}
    lines, result = _serve(env, {"Dockerfile": "FROM nothere\n"}, {})
    assert result is None and lines[-1]["error"].startswith("No such image: nothere:latest")
    env.assert_clean()


def test_quiet(env: Env) -> None:
    lines, result = _serve(env, {"Dockerfile": "FROM busybox\nENV A=1\n"}, {"q": "1"})
    assert lines == [{"stream": result.image_id + "\n"}]
    lines, result = _serve(env, {"Dockerfile": "FROM busybox\nRUN echo out; exit 2\n"}, {"q": "1"})
    assert result is None
    assert "".join(m.get("stream", "") for m in lines).startswith("Step 1/2 : FROM busybox\n")
    assert lines[-1]["errorDetail"]["code"] == 2


# --- the real docker CLI ---------------------------------------------------------------------------


@pytest.fixture
def docker_cli(env: Env, tmp_path: Path) -> Iterator[Any]:
    socket_path = tmp_path / "api.sock"
    with MiniApi(env.builder, socket_path):
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        cli_env.update({"DOCKER_HOST": f"unix://{socket_path}", "DOCKER_BUILDKIT": "0",
                        "DOCKER_CONFIG": str(tmp_path / "docker-config")})

        def docker(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["docker", *args], capture_output=True, text=True, env=cli_env, cwd=cwd, timeout=120)

        yield docker


def test_docker_cli_builds_and_caches(env: Env, docker_cli: Any, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("v1\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nENV A=1\nCOPY app.txt /\nRUN cat /app.txt\nCMD [\"cat\", \"/app.txt\"]\n")
    first = docker_cli("build", "-t", "cli:1", "--iidfile", str(tmp_path / "iid"), str(ctx))
    assert first.returncode == 0, first.stderr
    assert "Step 4/5 : RUN cat /app.txt" in first.stdout and "\nv1\n" in first.stdout
    assert "Successfully tagged cli:1" in first.stdout
    image_id = (tmp_path / "iid").read_text()
    assert env.images.resolve("cli:1").id == image_id
    again = docker_cli("build", "-t", "cli:1", "--iidfile", str(tmp_path / "iid"), str(ctx))
    assert again.returncode == 0 and again.stdout.count(" ---> Using cache") == 4
    assert (tmp_path / "iid").read_text() == image_id
    (ctx / "app.txt").write_text("v2\n")
    changed = docker_cli("build", "-t", "cli:1", str(ctx))
    assert changed.stdout.count(" ---> Using cache") == 1 and "\nv2\n" in changed.stdout
    env.assert_clean()


def test_docker_cli_errors(env: Env, docker_cli: Any, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n\nRUNN x\n")
    bad = docker_cli("build", str(ctx))
    assert bad.returncode == 1
    assert "Error response from daemon: dockerfile parse error line 3: unknown instruction: RUNN" in bad.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo before; exit 4\n")
    failed = docker_cli("build", "-q", str(ctx))
    assert failed.returncode == 4
    assert "The command '/bin/sh -c echo before; exit 4' returned a non-zero code: 4" in failed.stderr
    env.assert_clean()
