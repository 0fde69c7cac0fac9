"""The `dockyard` CLI against the `docker` CLI, both talking to the same daemon in the same run.

    dockyard --version                 no daemon: interpreter start-up and our imports
    version / ps / run --rm busybox true   one daemon, both clients, interleaved, medians of RUNS

The daemon is the one the CLI tests use: DOCKYARD_BENCH_DAEMON (else DOCKYARD_TEST_DAEMON) =
`dockerd` (default: Debian's docker.io, started here), `dockyardd`, or the URL of a running one; see
tests/cli/daemons.py. `dockyard` is the launcher the Makefile writes (.venv/bin/dockyard: `python
-IS`, no `site`, and `fastexit.exit_now` instead of the interpreter's teardown).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from tests.cli.daemons import running_daemon  # noqa: E402

from bench.common import median_ms, table  # noqa: E402

RUNS = 20
CASES = [("version", ["version"]), ("ps", ["ps"]), ("run --rm busybox true", ["run", "--rm", "busybox", "true"])]


def _timed(argv: list[str], env: dict[str, str]) -> float:
    import time
    start = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed


def _dockyard() -> list[str]:
    installed = Path(sys.executable).parent / "dockyard"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "dockyard.cli"]


def run() -> list[dict[str, object]]:
    kind = os.environ.get("DOCKYARD_BENCH_DAEMON") or os.environ.get("DOCKYARD_TEST_DAEMON") or "dockerd"
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-cli-"))
    rows: list[dict[str, object]] = []
    try:
        with running_daemon(base / "daemon", kind) as daemon:
            env = daemon.env()
            subprocess.run([*_dockyard(), "image", "bootstrap", "busybox"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            tools = {"dockyard": _dockyard(), "docker": ["docker"]}
            plain = {"dockyard": [*_dockyard(), "--version"], "docker": ["docker", "--version"]}
            samples: dict[tuple[str, str], list[float]] = {}
            for i in range(-2, RUNS):  # interleaved, two warm-up rounds
                for tool, argv in plain.items():
                    seconds = _timed(argv, env)
                    if i >= 0:
                        samples.setdefault(("--version", tool), []).append(seconds)
                for case, args in CASES:
                    for tool, prefix in tools.items():
                        seconds = _timed([*prefix, *args], env)
                        if i >= 0:
                            samples.setdefault((case, tool), []).append(seconds)
            for (case, tool), times in samples.items():
                docker = samples.get((case, "docker"))
                ms = median_ms(times)
                rows.append({"benchmark": f"cli {case}", "tool": tool, "daemon": daemon.kind, "median_ms": ms,
                             "vs_docker": ms / median_ms(docker) if docker else None, "runs": RUNS})
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return rows


if __name__ == "__main__":
    print(table(run()))
