"""The engine's record of one container, and where it is kept.

A `Container` holds what Docker keeps in config.v2.json + hostconfig.json: the create request
(Config and HostConfig, after the image's config was merged in), the resolved command, the names,
the image, its snapshot, and its `State`. `ContainerStore` keeps the records in the `containers`
table of the metadata database (schema: dockyard.metadata.db's docstring; the `config` column is
`Container.to_record()` as JSON). It writes through its own connection with
`synchronous=NORMAL`: in WAL mode that is durable against a crash of the daemon (what matters
here: the monitors keep running and their exit records are files), and it keeps fsync off the
hot path of `docker run`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import Conflict, NotFound, SystemCallError

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as Docker writes it (0 for the zero time)."""
    if not text or text.startswith("0001-"):
        return 0.0
    import calendar

    main, _, frac = text.rstrip("Z").partition(".")
    base = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return base + (float(f"0.{frac}") if frac else 0.0)


@dataclass
class State:
    """Docker's container State (what inspect shows, minus Health which the engine adds)."""

    status: str = "created"  # created | running | paused | restarting | removing | exited | dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    health: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Status": self.status,
            "Running": self.status in ("running", "paused"),
            "Paused": self.status == "paused",
            "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed,
            "Dead": self.status == "dead",
            "Pid": self.pid if self.status in ("running", "paused") else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }
        if self.health is not None:
            out["Health"] = self.health
        return out

    def to_record(self) -> dict[str, Any]:
        return {"status": self.status, "pid": self.pid, "exit_code": self.exit_code, "error": self.error,
                "oom_killed": self.oom_killed, "started_at": self.started_at, "finished_at": self.finished_at,
                "health": self.health}

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> State:
        return cls(status=str(doc.get("status", "created")), pid=int(doc.get("pid", 0)),
                   exit_code=int(doc.get("exit_code", 0)), error=str(doc.get("error", "")),
                   oom_killed=bool(doc.get("oom_killed")), started_at=str(doc.get("started_at", ZERO_TIME)),
                   finished_at=str(doc.get("finished_at", ZERO_TIME)), health=doc.get("health"))


@dataclass
class Container:
    id: str
    name: str  # with Docker's leading "/"
    created: str  # RFC 3339 with nanoseconds
    image_id: str  # "sha256:..."
    image_name: str  # what the user asked for (Config.Image)
    config: dict[str, Any]  # Docker's Config, as inspect shows it (after the image's was merged)
    host_config: dict[str, Any]  # Docker's HostConfig, as inspect shows it (defaults applied)
    path: str
    args: list[str]
    snapshot_key: str
    state: State = field(default_factory=State)
    restart_count: int = 0
    manually_stopped: bool = False
    has_been_started: bool = False
    mounts: list[dict[str, Any]] = field(default_factory=list)  # inspect's Mounts entries
    mount_plan: list[dict[str, Any]] = field(default_factory=list)  # volumes.MountPoint.to_dict(), made at start
    network: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)  # NetworkSettings.Ports while it runs ({} when not)
    # runtime bookkeeping, not part of Docker's shape
    monitor_pid: int = 0
    rootfs_mounted: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def log_driver(self) -> str:
        return (self.host_config.get("LogConfig") or {}).get("Type") or "json-file"

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": self.created, "image_id": self.image_id,
                "image_name": self.image_name, "config": self.config, "host_config": self.host_config,
                "path": self.path, "args": self.args, "snapshot_key": self.snapshot_key,
                "state": self.state.to_record(), "restart_count": self.restart_count,
                "manually_stopped": self.manually_stopped, "has_been_started": self.has_been_started,
                "mounts": self.mounts, "mount_plan": self.mount_plan, "network": self.network, "ports": self.ports, "monitor_pid": self.monitor_pid,
                "rootfs_mounted": self.rootfs_mounted}

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Container:
        return cls(id=doc["id"], name=doc["name"], created=doc["created"], image_id=doc["image_id"],
                   image_name=doc.get("image_name", ""), config=doc.get("config") or {},
                   host_config=doc.get("host_config") or {}, path=doc.get("path", ""), args=list(doc.get("args") or []),
                   snapshot_key=doc.get("snapshot_key", ""), state=State.from_record(doc.get("state") or {}),
                   restart_count=int(doc.get("restart_count", 0)), manually_stopped=bool(doc.get("manually_stopped")),
                   has_been_started=bool(doc.get("has_been_started")), mounts=list(doc.get("mounts") or []),
                   mount_plan=list(doc.get("mount_plan") or []),
                   network=dict(doc.get("network") or {}), ports=dict(doc.get("ports") or {}), monitor_pid=int(doc.get("monitor_pid", 0)),
                   rootfs_mounted=bool(doc.get("rootfs_mounted")))


class ContainerStore:
    """The `containers` table, through a connection of its own (see the module docstring)."""

    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as err:
            raise SystemCallError(f"open {db_path}: metadata database: {err}", 0) from err

    def _write(self, what: str, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, args)
            except sqlite3.IntegrityError as err:
                raise Conflict(f"{what}: {err}") from err
            except sqlite3.Error as err:
                raise SystemCallError(f"{what}: metadata database: {err}", 0) from err

    def insert(self, c: Container) -> None:
        self._write("create container", "INSERT INTO containers (id, name, image_id, snapshot_key, config, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (c.id, c.name, c.image_id, c.snapshot_key, json.dumps(c.to_record()), time.time()))

    def update(self, c: Container) -> None:
        self._write("update container", "UPDATE containers SET name = ?, config = ? WHERE id = ?",
                    (c.name, json.dumps(c.to_record()), c.id))

    def delete(self, container_id: str) -> None:
        self._write("remove container", "DELETE FROM containers WHERE id = ?", (container_id,))

    def load_all(self) -> Iterator[Container]:
        with self._lock:
            try:
                rows = self._conn.execute("SELECT config FROM containers ORDER BY created").fetchall()
            except sqlite3.Error as err:
                raise SystemCallError(f"list containers: metadata database: {err}", 0) from err
        for (doc,) in rows:
            try:
                yield Container.from_record(json.loads(doc))
            except (ValueError, KeyError):
                continue

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def not_found(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")
