"""`make demo`: run an example container on the bundled busybox base image.

Until the daemon exists this drives the OCI runtime directly: a busybox bundle built from the
host's static busybox, run with `dockyard-runtime run`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from dockyard.images.bootstrap import build_busybox_rootfs
from dockyard.runtime.default_spec import default_spec

SCRIPT = (
    "echo 'hello from a dockyard container'; "
    "echo \"hostname: $(hostname)\"; echo \"pid: $$\"; id; "
    "echo 'processes:'; ps; echo 'mounts:'; mount | head -5"
)


def main() -> int:
    work = Path("build/demo")
    shutil.rmtree(work, ignore_errors=True)
    rootfs = build_busybox_rootfs(work / "rootfs")
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["sh", "-c", SCRIPT]
    spec["linux"]["cgroupsPath"] = f"/dockyard-demo/{uuid.uuid4().hex[:8]}"
    (work / "config.json").write_text(json.dumps(spec, indent=2))
    runtime = Path(sys.executable).parent / "dockyard-runtime"
    print(f"$ dockyard-runtime run --bundle {work} demo   (rootfs: {rootfs})", flush=True)
    result = subprocess.run([str(runtime), "--root", str(work / "state"), "run", "--bundle", str(work), "demo"],
                            check=False)
    _remove_cgroup_parent("dockyard-demo")
    return result.returncode


def _remove_cgroup_parent(name: str) -> None:
    for top in Path("/sys/fs/cgroup").iterdir():
        parent = top / name
        if parent.is_dir():
            for sub in sorted((p for p in parent.iterdir() if p.is_dir()), reverse=True):
                sub.rmdir()
            parent.rmdir()


if __name__ == "__main__":
    sys.exit(main())
