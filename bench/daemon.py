"""dockyardd against dockerd on the same machine, image and run.

- `run --rm busybox true`, median of 20: our CLI against dockyardd, the docker CLI against
  dockyardd, and the docker CLI against a dockerd started here (Debian's docker.io).
- 20 containers started with `run -d` at once (wall time until all 20 commands returned).
- The daemons' idle memory (RSS and USS, from /proc/<pid>/smaps_rollup), and the memory each running
  container costs: a dockyard monitor's USS against a containerd-shim-runc-v2's.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median_ms, table, time_runs

RUNS = 20
PARALLEL = 20


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, USS) in KiB."""
    rss = uss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Rss":
                rss = int(value.split()[0])
            elif key in ("Private_Clean", "Private_Dirty"):
                uss += int(value.split()[0])
    return rss, uss


def _children_with(marker: str) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(name))
        except OSError:
            continue
    return out


def _cli(env: dict[str, str], argv: list[str]) -> Callable[[int], None]:
    def once(_i: int) -> None:
        result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr.decode()[-300:]}")
    return once


def _parallel_runs(env: dict[str, str], docker: list[str]) -> float:
    def one(_i: int) -> str:
        r = subprocess.run([*docker, "run", "-d", "busybox", "sleep", "600"], env=env, capture_output=True, check=True)
        return r.stdout.decode().strip()

    start = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        ids = list(pool.map(one, range(PARALLEL)))
    elapsed = time.perf_counter() - start
    subprocess.run([*docker, "rm", "-f", *ids], env=env, capture_output=True, check=False)
    return elapsed


@contextmanager
def _dockerd() -> Iterator[object | None]:
    if shutil.which("dockerd") is None:
        yield None
        return
    from tests.helpers.dockerd import import_rootfs, running_dockerd

    base = Path(tempfile.mkdtemp(prefix="dyb-dockerd-"))
    with running_dockerd(base) as daemon:
        from dockyard.images.bootstrap import build_busybox_rootfs

        with tempfile.TemporaryDirectory(prefix="dyb-bb-") as tmp:
            import_rootfs(daemon, build_busybox_rootfs(Path(tmp) / "rootfs"), "busybox")
        yield daemon


def run() -> list[dict[str, object]]:
    from tests.helpers.dockyardd import running_dockyardd

    rows: list[dict[str, object]] = []
    ours = str(Path(sys.executable).parent / "dockyard")
    with ExitStack() as stack:
        d = stack.enter_context(running_dockyardd())
        ref = stack.enter_context(_dockerd())
        env_d = d.env()
        env_ours = {**env_d, "DOCKYARD_HOST": d.host}
        timings: dict[str, float] = {}
        timings["dockyard CLI -> dockyardd"] = median_ms(time_runs(
            _cli(env_ours, [ours, "run", "--rm", "busybox", "true"]), RUNS))
        timings["docker CLI -> dockyardd"] = median_ms(time_runs(
            _cli(env_d, ["docker", "run", "--rm", "busybox", "true"]), RUNS))
        if ref is not None:
            timings["docker CLI -> dockerd"] = median_ms(time_runs(
                _cli(ref.env(), ["docker", "run", "--rm", "busybox", "true"]), RUNS))  # type: ignore[attr-defined]
        base = timings.get("docker CLI -> dockerd")
        for name, ms in timings.items():
            rows.append({"benchmark": "run --rm busybox true", "what": name, "value": round(ms, 1), "unit": "ms",
                         "vs_docker": round(ms / base, 3) if base else None, "runs": RUNS})
        par: dict[str, float] = {"docker CLI -> dockyardd": _parallel_runs(env_d, ["docker"])}
        if ref is not None:
            par["docker CLI -> dockerd"] = _parallel_runs(ref.env(), ["docker"])  # type: ignore[attr-defined]
        for name, seconds in par.items():
            base_s = par.get("docker CLI -> dockerd")
            rows.append({"benchmark": f"{PARALLEL} x run -d in parallel", "what": name,
                         "value": round(seconds * 1000, 1), "unit": "ms",
                         "vs_docker": round(seconds / base_s, 3) if base_s else None, "runs": 1})
        # Idle memory, then memory per running container.
        time.sleep(1)
        rss, uss = _memory(d.pid)
        rows.append({"benchmark": "daemon idle memory", "what": "dockyardd RSS/USS", "value": f"{rss}/{uss}",
                     "unit": "KiB", "vs_docker": None, "runs": 1})
        if ref is not None:
            pid = int((ref.root / "docker.pid").read_text())  # type: ignore[attr-defined]
            drss, duss = _memory(pid)
            rows.append({"benchmark": "daemon idle memory", "what": "dockerd RSS/USS", "value": f"{drss}/{duss}",
                         "unit": "KiB", "vs_docker": None, "runs": 1})
        ids = [subprocess.run(["docker", "run", "-d", "busybox", "sleep", "600"], env=env_d, capture_output=True,
                              check=True).stdout.decode().strip() for _ in range(5)]
        time.sleep(0.5)
        marked = set(_children_with(str(d.data_root))) - {d.pid}
        zygotes = {p for p in marked if _ppid(p) == d.pid}
        monitors = [p for p in marked if p not in zygotes]
        monitor_uss = statistics.median(_memory(p)[1] for p in monitors) if monitors else 0
        rows.append({"benchmark": "memory per running container", "what": "dockyard monitor USS",
                     "value": monitor_uss, "unit": "KiB", "vs_docker": None, "runs": len(monitors)})
        subprocess.run(["docker", "rm", "-f", *ids], env=env_d, capture_output=True, check=False)
        if ref is not None:
            env_r = ref.env()  # type: ignore[attr-defined]
            rids = [subprocess.run(["docker", "run", "-d", "busybox", "sleep", "600"], env=env_r, capture_output=True,
                                   check=True).stdout.decode().strip() for _ in range(5)]
            time.sleep(0.5)
            shims = [p for p in _children_with("containerd-shim") if any(_mentions(p, i) for i in rids)]
            shim_uss = statistics.median(_memory(p)[1] for p in shims) if shims else 0
            rows.append({"benchmark": "memory per running container", "what": "containerd-shim-runc-v2 USS",
                         "value": shim_uss, "unit": "KiB", "vs_docker": None, "runs": len(shims)})
            subprocess.run(["docker", "rm", "-f", *rids], env=env_r, capture_output=True, check=False)
    return rows


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _mentions(pid: int, container_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return container_id.encode() in cmdline or (b"containerd-shim" in cmdline and container_id[:12].encode() in cmdline)


if __name__ == "__main__":
    print(table(run()))
