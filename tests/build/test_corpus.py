"""Every corpus case built by dockyard's builder must give what Docker 20.10's classic builder
gave when record.py built it: the image config and history, the files of the image (modes,
owners, contents), the build's output and RUN output, the error and exit code of a failing build,
and the cache's behaviour on a rebuild (every step `Using cache`, the same image id). Builds run
for real: runtime containers, overlay snapshots, the content store.

Each case is built twice over: through the library (`BuildContext.from_directory`, as `dockyard
build` reads a directory) and through the real docker CLI talking to `serve_build` (the context
tarred by the CLI, the stream parsed by it), as `docker build` against dockyardd does it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from dockyard.build import BuildContext, BuildOptions, RunFailed
from dockyard.errors import DockyardError
from tests.build import corpus, record
from tests.build.conftest import Env
from tests.build.miniapi import MiniApi


def build_case(env: Env, name: str, context_dir: Path, no_cache: bool, extra_args: dict[str, str],
               cli: Any = None) -> tuple[str, str, str, int]:
    """(image id or "", the stream text, the error message, the exit code)."""
    opts = corpus.options(name)
    if cli is not None:
        iid = context_dir.parent / "iid"
        iid.unlink(missing_ok=True)
        result = cli(*record.docker_args(opts, context_dir, extra_args, no_cache, iid, for_docker=False)[:-1],
                     str(context_dir))
        if result.returncode != 0:
            return "", result.stdout, record._error_line(result.stderr), result.returncode
        return iid.read_text().strip(), result.stdout, "", 0
    dockerfile = opts.get("dockerfile", "Dockerfile")
    options = BuildOptions(
        dockerfile=dockerfile, tags=list(opts.get("tags", [])),
        build_args={**opts.get("build_args", {}), **extra_args}, labels=dict(opts.get("labels", {})),
        target=opts.get("target", ""), no_cache=no_cache, network_mode=opts.get("network", ""))
    messages: list[dict[str, Any]] = []
    image_id, error, code = "", "", 0
    with BuildContext.from_directory(context_dir, dockerfile) as ctx:
        try:
            image_id = env.builder.build(ctx, options, messages.append).image_id
        except RunFailed as err:
            error, code = str(err), err.code
        except DockyardError as err:
            error, code = str(err), 1
    text = "".join(m["stream"] for m in messages if "stream" in m)
    return image_id, text, error, code


@pytest.fixture(params=["library", "docker-cli"])
def via(request: pytest.FixtureRequest, env: Env, tmp_path: Path) -> Iterator[Any]:
    if request.param == "library":
        yield None
        return
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    socket_path = tmp_path / "api.sock"
    with MiniApi(env.builder, socket_path):
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        cli_env.update({"DOCKER_HOST": f"unix://{socket_path}", "DOCKER_BUILDKIT": "0",
                        "DOCKER_CONFIG": str(tmp_path / "docker-config")})

        def docker(*args: str) -> subprocess.CompletedProcess[str]:
            result = subprocess.run(["docker", *args], capture_output=True, env=cli_env, timeout=300)
            # decoded as record.py decodes (no newline translation: the CLI writes "\r")
            return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                               result.stderr.decode(errors="replace"))

        yield docker


@pytest.mark.parametrize("name", corpus.cases())
def test_case(env: Env, tmp_path: Path, busybox_tar: bytes, name: str, via: Any) -> None:
    expected = corpus.load(name)
    opts = expected.get("options", {})
    compare = set(opts.get("compare", corpus.COMPARE))
    context_dir = corpus.prepare_context(name, tmp_path / "context")
    with ExitStack() as stack:
        extra: dict[str, str] = {}
        if "http" in opts:
            extra[opts["http"]["arg"]] = stack.enter_context(corpus.http_server(opts["http"]["files"]))
        before = env.state()
        image_id, text, error, code = build_case(env, name, context_dir, True, extra, via)
        output, stderr = corpus.split_output(text)
        result = "error" if error else "ok"
        assert result == expected["result"], error or output
        if "output" in compare:
            assert output == expected["output"]
        if "stderr" in compare:
            assert stderr == expected["stderr"]
        if result == "error":
            if "error" in compare:
                assert (corpus.normalize_error(error), code) == (expected["error"], expected["exit_code"])
            after = env.state()
            assert after["leases"] == 0
            # only the committed layers of the images made by the steps that succeeded are new
            assert [s for s in after["snapshots"] if s not in before["snapshots"] and s[1] != "committed"] == []
            env.assert_clean()
            return
        archive = io.BytesIO()
        env.images.save([image_id], archive)
        config, history, layers = corpus.normalize_config(corpus.config_of_archive(archive.getvalue()))
        if "config" in compare:
            assert config == expected["config"]
        if "history" in compare:
            assert history == expected["history"]
        if "layers" in compare:
            assert layers == expected["layers"]
        if "tree" in compare:
            base = corpus.tree_of_rootfs_tar(busybox_tar)
            assert corpus.tree_diff(base, corpus.tree_of_archive(archive.getvalue())) == expected["tree"]
        for tag in opts.get("tags", []):
            assert env.images.resolve(tag).id == image_id
        env.assert_clean()
        if "rebuild" in compare:
            again, text, error, _ = build_case(env, name, context_dir, False, extra, via)
            assert not error
            assert corpus.split_output(text)[0] == expected["rebuild_output"]
            assert (again == image_id) == expected["rebuild_same_id"]
            env.assert_clean()
