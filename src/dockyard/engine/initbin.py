"""The `--init` binary: dockyard's own tiny reaping init (init/dockyard-init.c), built on first use.

Docker bind-mounts its docker-init (tini) at /sbin/docker-init and puts it before the command.
dockyard does the same with `dockyard-init`, a 70-line C program (see its header) compiled with gcc
into `<data-root>/bin/dockyard-init`, statically so it runs in any image. The build happens the
first time a container asks for `--init` (about 0.1 s), and again only when the source changes
(the binary's name carries the source's hash). Without gcc, the host's `docker-init` or `tini`
(Debian's docker.io / tini packages) is used instead; with neither, `--init` is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

from dockyard.errors import NotImplemented as NotSupported

SOURCE = Path(__file__).parent / "init" / "dockyard-init.c"
HOST_FALLBACKS = ("/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/bin/tini-static", "/usr/bin/tini")
_lock = threading.Lock()


def init_binary(data_root: Path) -> str:
    """A host path of the init to bind-mount at /sbin/docker-init."""
    with _lock:
        source = SOURCE.read_bytes()
        digest = hashlib.sha256(source).hexdigest()[:12]
        target = data_root / "bin" / f"dockyard-init-{digest}"
        if target.is_file():
            return str(target)
        gcc = shutil.which("gcc") or shutil.which("cc")
        if gcc is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            for flags in (["-static"], []):
                result = subprocess.run([gcc, "-O2", *flags, "-o", str(tmp), str(SOURCE)], capture_output=True,
                                        check=False)
                if result.returncode == 0:
                    os.chmod(tmp, 0o755)
                    os.rename(tmp, target)
                    return str(target)
        for candidate in HOST_FALLBACKS:
            if os.access(candidate, os.X_OK):
                return candidate
        raise NotSupported("--init: no C compiler to build dockyard-init and no docker-init or tini on this host")
