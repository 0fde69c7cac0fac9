"""`make demo`: start the daemon, bootstrap the busybox base image, build and run an example.

Everything goes through the command line a user would type: `dockyardd`, then `dockyard`
(`image bootstrap busybox`, `build`, `run`). The daemon is left running on its default socket
(unix:///run/dockyard.sock), so the real docker CLI can be pointed at it afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SOCKET = "/run/dockyard.sock"
PIDFILE = "/run/dockyard.pid"
LOG = "/var/log/dockyardd.log"
DEMO = Path(__file__).resolve().parents[2] / "demo"


def dockyard(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    print(f"$ dockyard {' '.join(args)}", flush=True)
    return subprocess.run([str(BIN / "dockyard"), *args], check=check)


def daemon_answers() -> bool:
    result = subprocess.run([str(BIN / "dockyard"), "version", "--format", "{{.Server.Version}}"],
                            capture_output=True, check=False)
    return result.returncode == 0


def start_daemon() -> None:
    if daemon_answers():
        print(f"dockyardd is already running on unix://{SOCKET}", flush=True)
        return
    print(f"$ dockyardd &   (log: {LOG})", flush=True)
    with open(LOG, "ab") as log:
        subprocess.Popen([str(BIN / "dockyardd"), "--pidfile", PIDFILE], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not daemon_answers():
        if time.monotonic() > deadline:
            raise SystemExit(f"dockyardd did not start; see {LOG}")
        time.sleep(0.2)


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("make demo runs containers: run it as root")
    start_daemon()
    has_busybox = subprocess.run([str(BIN / "dockyard"), "image", "inspect", "busybox"], capture_output=True,
                                 check=False).returncode == 0
    if not has_busybox:
        dockyard("image", "bootstrap", "busybox")
    dockyard("build", "-t", "dockyard-demo", str(DEMO))
    dockyard("run", "--rm", "-m", "64m", "--hostname", "demo", "dockyard-demo")
    dockyard("images")
    print(f"\nThe daemon keeps running: `dockyard ps`, or the docker CLI with DOCKER_HOST=unix://{SOCKET}."
          f"\nStop it with: kill $(cat {PIDFILE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
