"""Build options beyond the corpus: --network, --iidfile, --pull offline, --no-cache, stdin
Dockerfiles, several tags, and that unneeded stages really do not run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dockyard.build import BuildOptions
from tests.build.conftest import Env


def _run_output(text: str) -> list[str]:
    """The lines a (single) RUN printed."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(" ---> Running in "))
    end = next(i for i, line in enumerate(lines) if line.startswith("Removing intermediate container"))
    return lines[start + 1:end]


def _run(env: Env, dockerfile: str, **options: Any) -> tuple[str, str]:
    messages: list[dict[str, Any]] = []
    result = env.builder.build(None, BuildOptions(dockerfile_text=dockerfile.encode(), **options), messages.append)
    return result.image_id, "".join(m.get("stream", "") for m in messages)


def test_network_modes(env: Env) -> None:
    _, private = _run(env, "FROM busybox\nRUN ls /sys/class/net\n", no_cache=True)
    assert _run_output(private) == ["lo"]
    _, host = _run(env, "FROM busybox\nRUN ls /sys/class/net\n", network_mode="host", no_cache=True)
    assert _run_output(host) == sorted(os.listdir("/sys/class/net"))
    _, hosts = _run(env, "FROM busybox\nRUN grep extra /etc/hosts\n", extra_hosts=["extra:10.1.2.3"], no_cache=True)
    assert "10.1.2.3\textra\n" in hosts
    env.assert_clean()


def test_iidfile_tags_and_pull(env: Env, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    image_id, text = _run(env, "FROM busybox\nLABEL a=b\n", tags=["one", "two:2", "one"], iidfile=str(iid), pull=True)
    assert iid.read_text() == image_id
    assert env.images.resolve("one").id == env.images.resolve("two:2").id == image_id
    assert text.count("Successfully tagged") == 2
    assert "--pull: builds never pull from a registry; using the local image busybox" in text
    env.assert_clean()


def test_no_cache_and_cache(env: Env) -> None:
    dockerfile = "FROM busybox\nRUN echo ran\nENV A=1\n"
    first, _ = _run(env, dockerfile)
    again, text = _run(env, dockerfile)
    assert again == first and text.count("Using cache") == 2 and "ran\n" not in text.replace("echo ran", "")
    fresh, text = _run(env, dockerfile, no_cache=True)
    assert fresh != first and "Using cache" not in text and "\nran\n" in text
    # a different build argument is a different RUN
    with_arg, text = _run(env, "FROM busybox\nARG V\nRUN echo ran\n", build_args={"V": "1"})
    other_arg, text2 = _run(env, "FROM busybox\nARG V\nRUN echo ran\n", build_args={"V": "2"})
    assert with_arg != other_arg and "|1 V=2" not in text2
    env.assert_clean()


def test_unneeded_stages_do_not_run(env: Env) -> None:
    dockerfile = ("FROM busybox AS unused\nRUN echo skipped-stage-ran\n"
                  "FROM busybox AS used\nRUN echo needed > /f\n"
                  "FROM busybox\nCOPY --from=used /f /f\n")
    _, text = _run(env, dockerfile)
    assert "skipped-stage-ran" not in text and text.startswith("Step 1/4 : FROM busybox AS used\n")
    _, text = _run(env, dockerfile, target="unused")
    assert "Step 2/2 : RUN echo skipped-stage-ran\n" in text and _run_output(text) == ["skipped-stage-ran"]
    env.assert_clean()
