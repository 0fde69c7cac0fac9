"""`docker build` of a 10-step Dockerfile, dockyard's builder against Docker's classic builder
(Debian's docker.io 20.10, DOCKER_BUILDKIT=0), in the same run, with the same docker CLI:

    cold      every step built (`--no-cache`)
    cached    nothing changed: every step a cache hit
    one file  one file under src/ changed: the COPY of src/ and the steps after it rebuilt

Both sides get the same context and a busybox image made from the host's static busybox, and both
are driven by the real docker CLI (which tars and sends the context): Docker's daemon on one
socket, dockyardd on another (its POST /build is dockyard.build.serve_build). With `--in-process`
dockyard's side is `serve_build` behind a minimal API server in this process
(tests/build/miniapi.py) instead, which leaves the daemon out of the figures.
Medians of RUNS runs; `run()` returns one dict per case for bench/run.py.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from tests.build.miniapi import MiniApi  # noqa: E402
from tests.helpers.dockerd import _remove_cgroup_tree, _unmount_below, import_rootfs, running_dockerd  # noqa: E402
from tests.helpers.dockyardd import running_dockyardd  # noqa: E402

from dockyard.build import Builder  # noqa: E402
from dockyard.images import ImageService  # noqa: E402
from dockyard.images.bootstrap import build_busybox_rootfs  # noqa: E402

RUNS = 5
DOCKERFILE = """\
FROM busybox
ENV APP=/app
WORKDIR /app
COPY deps.txt ./
RUN mkdir -p deps && for i in $(seq 1 50); do echo "dep $i" > deps/$i; done
COPY src/ ./src/
RUN find src -type f | sort | xargs cat | md5sum > build.sum && cat build.sum
LABEL bench=build
EXPOSE 8080
CMD ["cat", "/app/build.sum"]
"""


def _context(directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(DOCKERFILE)
    (directory / "deps.txt").write_text("".join(f"dep-{i}==1.{i}\n" for i in range(40)))
    for d in range(5):
        sub = directory / "src" / f"pkg{d}"
        sub.mkdir(parents=True)
        for f in range(10):
            (sub / f"mod{f}.py").write_text(f"# module {d}.{f}\n" + "x = 1\n" * (20 + f))


def _cli(host: str, config: Path) -> Callable[..., None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update({"DOCKER_HOST": host, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(config)})

    def docker(*args: str) -> None:
        result = subprocess.run(["docker", *args], capture_output=True, env=env, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.decode()[-800:]}")

    return docker


def _build_action(docker: Callable[..., None], *args: str) -> Callable[[int], None]:
    def action(i: int) -> None:
        docker("build", *args)

    return action


def _median(action: Callable[[int], None], before: Callable[[int], None] | None = None) -> float:
    times = []
    for i in range(RUNS):
        if before is not None:
            before(i)
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(in_process: bool = False) -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-build-", dir="/var/tmp"))
    cgroup_parent = f"/dockyard-bench-build-{uuid.uuid4().hex[:8]}"
    try:
        rootfs = build_busybox_rootfs(work / "busybox")
        busybox_tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        ctx = work / "ctx"
        _context(ctx)
        changed_file = ctx / "src" / "pkg2" / "mod3.py"
        with ExitStack() as stack:
            daemon = stack.enter_context(running_dockerd(work / "dockerd"))
            import_rootfs(daemon, rootfs, "busybox")
            if in_process:
                images = stack.enter_context(ImageService(work / "dockyard"))
                images.import_rootfs(io.BytesIO(busybox_tar), repo="busybox", changes=['CMD ["sh"]'])
                builder = Builder(images, runtime_root=str(work / "dockyard-run"),
                                  work_root=work / "dockyard" / "builder", cgroup_parent=cgroup_parent)
                sock = work / "api.sock"
                stack.enter_context(MiniApi(builder, sock))
                ours = f"unix://{sock}"
            else:
                ours = stack.enter_context(running_dockyardd()).host
            sides = {"dockyard": _cli(ours, work / "cfg1"), "docker": _cli(daemon.host, work / "cfg2")}
            results: dict[str, dict[str, float]] = {}
            for name, docker in sides.items():
                changed_file.write_text("# original\n")
                docker("build", "-t", "bench/build:warm", str(ctx))  # warm-up (and the cache)
                cold = _median(_build_action(docker, "--no-cache", "-t", "bench/build:cold", str(ctx)))
                docker("build", "-t", "bench/build:1", str(ctx))
                cached = _median(_build_action(docker, "-t", "bench/build:1", str(ctx)))

                def change(i: int, n: str = name) -> None:
                    changed_file.write_text(f"# changed {n} {i} {time.time()}\n")

                one = _median(_build_action(docker, "-t", "bench/build:1", str(ctx)), change)
                results[name] = {"cold": cold, "cached": cached, "one file": one}
        rows: list[dict[str, object]] = []
        for case, label in (("cold", "build, cold (--no-cache)"), ("cached", "build, fully cached"),
                            ("one file", "build, one COPY'd file changed")):
            a, b = results["dockyard"][case], results["docker"][case]
            rows.append({"bench": f"{label}, 10 steps", "dockyard_s": round(a, 3), "docker_s": round(b, 3),
                         "ratio": round(a / b, 2)})
        return rows
    finally:
        _unmount_below(work)
        try:
            _remove_cgroup_tree(cgroup_parent)
        except OSError:
            pass
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    for row in run(in_process="--in-process" in sys.argv[1:]):
        print(f"{row['bench']!s:44} dockyard {row['dockyard_s']!s:>7}s  docker {row['docker_s']!s:>7}s  "
              f"ratio {row['ratio']!s:>5}x")


if __name__ == "__main__":
    main()
