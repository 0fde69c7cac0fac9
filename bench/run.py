"""`make bench`: every benchmark, medians of one run, with ratios against runc and docker."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import table

SUITES = ["bench.runtime", "bench.layers", "bench.images", "bench.cli", "bench.daemon", "bench.build"]


def main() -> int:
    rows: list[dict[str, object]] = []
    for name in SUITES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # that suite is not written yet
            raise
        print(f"== {name}", flush=True)
        suite_rows = module.run()
        print(table(suite_rows), flush=True)
        rows.extend(suite_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
