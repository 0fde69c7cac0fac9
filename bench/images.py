"""`image save` / `image load` of the same image, dockyard against Docker (Debian's docker.io 20.10),
in the same run.

The image: busybox imported into a private dockerd, then `docker run` writes ~310 MB of files of
mixed sizes and `docker commit` makes it a second layer. `docker save` of it is the archive both
sides load; dockyard loads it first so both hold the same image (same id) before timing.

    save   `docker save -o FILE img` vs ImageService.save(["img"], FILE)    (a docker-archive)
    load   `docker load -i FILE` vs ImageService.load(FILE), the image removed (untimed) before each
           run so every load stores and unpacks every layer

dockyard runs in-process (the daemon is a later issue); docker's times include its CLI. Medians of
RUNS runs; `run()` returns one dict per case for bench/run.py.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from tests.helpers.dockerd import Dockerd, running_dockerd  # noqa: E402

from dockyard.errors import NotFound  # noqa: E402
from dockyard.images import ImageService  # noqa: E402
from dockyard.images.bootstrap import build_busybox_rootfs  # noqa: E402

RUNS = 5
IMAGE = "bench/fat:1"
# ~310 MB in 600 files over 12 directories: 4 KiB to 1 MiB each
FILL = ("i=0; for d in $(seq 1 12); do mkdir -p /data/d$d; for f in $(seq 1 50); do "
        "i=$((i+1)); s=$(( (i % 5) * 256 + 4 )); dd if=/dev/urandom of=/data/d$d/f$f bs=1k count=$s 2>/dev/null; "
        "done; done; du -sm /data")


def _ok(result: subprocess.CompletedProcess[bytes]) -> bytes:
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode()[-500:])
    return result.stdout


def _median(fn: Callable[[], None], reset: Callable[[], None]) -> float:
    times = []
    for _ in range(RUNS):
        reset()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _make_image(daemon: Dockerd, work: Path) -> None:
    rootfs = build_busybox_rootfs(work / "rootfs")
    tar = _ok(subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True))
    _ok(daemon.docker("import", "-c", 'CMD ["sh"]', "-", "bench/base:1", input=tar))
    _ok(daemon.docker("run", "--name", "fill", "bench/base:1", "sh", "-c", FILL, timeout=600))
    _ok(daemon.docker("commit", "fill", IMAGE))
    _ok(daemon.docker("rm", "fill"))
    _ok(daemon.docker("rmi", "bench/base:1"))


def run() -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-images-", dir="/var/tmp"))
    try:
        with running_dockerd(work / "dockerd") as daemon:
            _make_image(daemon, work)
            archive = work / "image.tar"
            _ok(daemon.docker("save", "-o", str(archive), IMAGE, timeout=600))
            size_mb = archive.stat().st_size / 1e6
            with ImageService(work / "dockyard") as images:
                images.load(archive)
                docker_id = _ok(daemon.docker("image", "inspect", "-f", "{{.Id}}", IMAGE)).decode().strip()
                assert images.resolve(IMAGE).id == docker_id
                out = work / "out.tar"

                def reset_save() -> None:
                    out.unlink(missing_ok=True)
                    os.sync()

                def docker_save() -> None:
                    _ok(daemon.docker("save", "-o", str(out), IMAGE, timeout=600))

                def dockyard_save() -> None:
                    images.save([IMAGE], out)

                def reset_docker_load() -> None:
                    daemon.docker("rmi", IMAGE, timeout=600)
                    os.sync()

                def docker_load() -> None:
                    _ok(daemon.docker("load", "-i", str(archive), timeout=600))

                def reset_dockyard_load() -> None:
                    with suppress(NotFound):  # absent only after a failed run
                        images.remove(IMAGE)
                    images.gc()
                    os.sync()

                def dockyard_load() -> None:
                    images.load(archive)

                rows: list[dict[str, object]] = []
                for name, ours, theirs, reset_ours, reset_theirs in (
                    (f"image save ({size_mb:.0f} MB, 2 layers)", dockyard_save, docker_save, reset_save, reset_save),
                    (f"image load ({size_mb:.0f} MB, 2 layers)", dockyard_load, docker_load, reset_dockyard_load,
                     reset_docker_load),
                ):
                    a = _median(ours, reset_ours)
                    b = _median(theirs, reset_theirs)
                    rows.append({"bench": name, "dockyard_s": round(a, 3), "docker_s": round(b, 3),
                                 "ratio": round(a / b, 2)})
                return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    for row in run():
        print(f"{row['bench']!s:36} dockyard {row['dockyard_s']!s:>7}s  docker {row['docker_s']!s:>7}s  "
              f"ratio {row['ratio']!s:>5}x")


if __name__ == "__main__":
    main()
