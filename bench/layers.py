"""Layer apply and create against GNU tar on the same data, in the same run.

    apply   a 200 MB multi-file layer (plain tar, and gzip): dockyard's apply_layer (which also
            hashes the diff_id and checks every path) vs `tar -xf` / `tar -xzf`
    create  a layer from a 200 MB container diff (an upper dir): write_layer_from_upper (which also
            hashes the diff_id) vs `tar -cf`

Medians of several runs; `run()` returns one dict per case for bench/run.py.
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from dockyard.layers import Compression, apply_layer, write_layer_from_upper  # noqa: E402

TOTAL = 200 << 20
RUNS = 5


def _make_tree(root: Path) -> None:
    """~200 MB in 1,600 files of mixed sizes over 40 directories, plus symlinks."""
    rnd = os.urandom(1 << 20)
    sizes = [4 << 10, 32 << 10, 128 << 10, 256 << 10, 512 << 10]
    written, i = 0, 0
    while written < TOTAL:
        d = root / f"dir{i % 40:02d}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        size = sizes[i % len(sizes)]
        (d / f"file{i:05d}").write_bytes((rnd * ((size >> 20) + 1))[:size])
        if i % 50 == 0:
            os.symlink(f"file{i:05d}", d / f"link{i:05d}")
        written += size
        i += 1


def _median(fn: Callable[[], None], reset: Callable[[], None]) -> float:
    times = []
    for _ in range(RUNS):
        reset()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    reset()
    return statistics.median(times)


def run() -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-layers-", dir="/var/tmp"))
    try:
        src = work / "upper"
        src.mkdir()
        _make_tree(src)
        tar_path = work / "layer.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(src), "-cf", str(tar_path), "."], check=True)
        tgz_path = work / "layer.tar.gz"
        with open(tar_path, "rb") as f, gzip.open(tgz_path, "wb", compresslevel=6) as g:
            shutil.copyfileobj(f, g, 1 << 20)
        dst = work / "dst"
        out = work / "out.tar"

        def reset() -> None:
            shutil.rmtree(dst, ignore_errors=True)
            dst.mkdir()
            out.unlink(missing_ok=True)
            os.sync()  # start each run with no writeback pending from the previous one

        def ours_apply(path: Path) -> Callable[[], None]:
            def go() -> None:
                with open(path, "rb") as f:
                    apply_layer(f, dst)
            return go

        def tar_apply(flag: str, path: Path) -> Callable[[], None]:
            def go() -> None:
                subprocess.run(["tar", "--numeric-owner", "-p", flag, str(path), "-C", str(dst)], check=True)
            return go

        def ours_create() -> None:
            with open(out, "wb") as f:
                write_layer_from_upper(src, f, Compression.NONE)

        def tar_create() -> None:
            subprocess.run(["tar", "--numeric-owner", "-C", str(src), "-cf", str(out), "."], check=True)

        results: list[dict[str, object]] = []
        cases = [
            ("apply 200 MB layer (tar)", ours_apply(tar_path), tar_apply("-xf", tar_path)),
            ("apply 200 MB layer (tar.gz)", ours_apply(tgz_path), tar_apply("-xzf", tgz_path)),
            ("create layer from 200 MB diff (tar)", ours_create, tar_create),
        ]
        for name, ours, theirs in cases:
            a = _median(ours, reset)
            b = _median(theirs, reset)
            results.append({"bench": name, "dockyard_s": round(a, 3), "gnu_tar_s": round(b, 3),
                            "ratio": round(a / b, 2), "target": 1.5})
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    rows = run()
    print(f"{'bench':40} {'dockyard':>10} {'GNU tar':>10} {'ratio':>7}")
    for r in rows:
        print(f"{r['bench']!s:40} {r['dockyard_s']!s:>9}s {r['gnu_tar_s']!s:>9}s {r['ratio']!s:>6}x")


if __name__ == "__main__":
    main()
