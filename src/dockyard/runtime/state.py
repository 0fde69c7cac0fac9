"""A container's lifecycle state: what is saved on disk, and what status that means now.

    creating --create--> created --start--> running <--pause/resume--> paused
        \\                   \\                  \\
         `---------------------`------------------`--> stopped --delete--> (gone)

The state directory `<root>/<id>/` holds `state.json` (written atomically) and, while the container
is created but not started, `exec.fifo`, on which the init process waits. The status is never
stored: it is read from the world each time (is the init alive and the same process, is the fifo
still there, is the cgroup frozen), so a crashed runtime cannot leave a stale status behind.
"""

from __future__ import annotations

import os

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.records import asdict, field, record
from dockyard.runtime import cjson
from dockyard.runtime.log import timestamp

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any, Literal

    StatusName = Literal["creating", "created", "running", "paused", "stopped"]

__all__ = ["State", "StateDir", "Status", "check_transition", "process_start_time", "timestamp", "write_atomic"]

EXEC_FIFO = "exec.fifo"
STATE_FILE = "state.json"


class Status:
    """The runtime-spec's statuses. Plain strings, not an Enum: enum costs ~2 ms of every start."""

    CREATING: StatusName = "creating"
    CREATED: StatusName = "created"
    RUNNING: StatusName = "running"
    PAUSED: StatusName = "paused"
    STOPPED: StatusName = "stopped"


# operation -> statuses it may start from
_ALLOWED = {
    "start": {Status.CREATED},
    "exec": {Status.CREATED, Status.RUNNING},
    "kill": {Status.CREATED, Status.RUNNING, Status.PAUSED},
    "pause": {Status.RUNNING, Status.CREATED},
    "resume": {Status.PAUSED},
    "delete": {Status.STOPPED, Status.CREATED},
    "update": {Status.CREATED, Status.RUNNING, Status.PAUSED},
}

_REFUSALS = {
    "start": {Status.RUNNING: "cannot start an already running container",
              Status.PAUSED: "cannot start a paused container",
              Status.STOPPED: "cannot start a container that has stopped"},
    "exec": {Status.PAUSED: "cannot exec in a paused container", Status.STOPPED: "cannot exec in a stopped container"},
    "kill": {Status.STOPPED: "container not running"},
    "pause": {Status.PAUSED: "container already paused", Status.STOPPED: "container not running"},
    "resume": {Status.RUNNING: "container not paused", Status.CREATED: "container not paused",
               Status.STOPPED: "container not running"},
    "update": {Status.STOPPED: "container not running"},
}


def check_transition(operation: str, status: StatusName, container_id: str) -> None:
    if status in _ALLOWED[operation]:
        return
    if operation == "delete":
        raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}")
    raise Conflict(_REFUSALS[operation].get(status, f"cannot {operation} a {status} container"))


@record
class State:
    id: str
    bundle: str
    rootfs: str
    pid: int
    pid_start: int  # the init's start time in clock ticks (/proc/<pid>/stat), to detect pid reuse
    created: str
    config: dict[str, Any]  # the config.json the container was created from, as read
    cgroup_paths: dict[str, str] = field(default_factory=dict)
    namespace_paths: dict[str, str] = field(default_factory=dict)
    own_pid_namespace: bool = True
    owner: str = ""

    @property
    def annotations(self) -> dict[str, str]:
        value = self.config.get("annotations") or {}
        return dict(value)

    def oci_state(self, status: StatusName) -> dict[str, Any]:
        """The state as the runtime-spec defines it (what `state` prints and hooks read)."""
        doc: dict[str, Any] = {"ociVersion": "1.2.0", "id": self.id, "status": status,
                               "pid": self.pid if status != Status.STOPPED else 0,
                               "bundle": self.bundle, "rootfs": self.rootfs, "created": self.created,
                               "owner": self.owner}
        if self.annotations:
            doc["annotations"] = self.annotations
        return doc


def validate_id(container_id: str) -> None:
    # runc's rule: letters, digits, and _+-. only; not "." or "..".
    if not container_id or container_id in (".", "..") or not all(
        c.isascii() and (c.isalnum() or c in "_+-.") for c in container_id
    ):
        raise InvalidArgument(f"invalid id format: {container_id}")


class StateDir:
    """The directory of one container under the runtime root."""

    def __init__(self, root: str, container_id: str) -> None:
        validate_id(container_id)
        self.id = container_id
        self.path = os.path.join(root, container_id)

    @property
    def fifo(self) -> str:
        return os.path.join(self.path, EXEC_FIFO)

    def make(self) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        try:
            os.mkdir(self.path, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container with id exists: {self.id}") from None

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def save(self, state: State) -> None:
        write_atomic(os.path.join(self.path, STATE_FILE), cjson.dumps(asdict(state)).encode())

    def load(self) -> State:
        try:
            with open(os.path.join(self.path, STATE_FILE), "rb") as f:
                doc = cjson.loads(f.read())
        except FileNotFoundError:
            raise NotFound("container does not exist") from None
        except ValueError as err:
            raise InvalidArgument(f"corrupt state file for {self.id}: {err}") from None
        return State(**doc)

    def remove(self) -> None:
        for name in os.listdir(self.path) if os.path.isdir(self.path) else ():
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                import shutil  # never made by the runtime itself; not worth importing up front

                shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write through a temporary file and rename, so readers see the old or the new file whole.

    No fsync: runtime state lives under /run (tmpfs) and does not outlive a reboot anyway; the
    engine, whose state must survive crashes, makes its own durable writes.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat, or None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])

