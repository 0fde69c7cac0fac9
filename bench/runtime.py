"""`dockyard-runtime run` of a busybox `true` against `runc run` of the same bundle, same run."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median_ms, run_quiet, table, time_runs
from dockyard.images.bootstrap import build_busybox_rootfs
from dockyard.runtime.default_spec import default_spec

RUNS = 20


def run() -> list[dict[str, object]]:
    runc = shutil.which("runc")
    ours = str(Path(sys.executable).parent / "dockyard-runtime")
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-runtime-"))
    parent = f"dockyard-bench-{uuid.uuid4().hex[:8]}"
    try:
        build_busybox_rootfs(work / "rootfs")
        spec = default_spec()
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        spec["linux"]["cgroupsPath"] = f"/{parent}/c"
        (work / "config.json").write_text(json.dumps(spec))
        rows: list[dict[str, object]] = []
        tools = {name: binary for name, binary in (("runc", runc), ("dockyard-runtime", ours)) if binary}
        # Interleaved (runc, ours, runc, ours, ...) so both see the same machine load.
        samples: dict[str, list[float]] = {name: [] for name in tools}
        for i in range(-2, RUNS):
            for name, binary in tools.items():
                argv = [binary, "--root", str(work / f"state-{name}"), "run", "--bundle", str(work), f"b{i + 100}"]
                seconds = time_runs(lambda _i, argv=argv: run_quiet(argv), runs=1, warmup=0)[0]
                if i >= 0:
                    samples[name].append(seconds)
        results = {name: median_ms(times) for name, times in samples.items()}
        base = results.get("runc")
        for name, ms in results.items():
            rows.append({"benchmark": "runtime run busybox true", "tool": name, "median_ms": ms,
                         "vs_runc": ms / base if base else None, "runs": RUNS})
        return rows
    finally:
        _remove_cgroups(parent)
        shutil.rmtree(work, ignore_errors=True)


def _remove_cgroups(parent: str) -> None:
    for top in Path("/sys/fs/cgroup").iterdir():
        tree = top / parent
        if tree.is_dir():
            for sub in sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                sub.rmdir()
            tree.rmdir()


if __name__ == "__main__":
    print(table(run()))
