"""Durable snapshot metadata, and the directory life cycle both snapshotters share.

On disk, under the snapshotter's root:

    metadata.db                  SQLite, WAL journal; the only record of what exists
    snapshots/<id>/fs            the snapshot's tree (overlay: its upper dir / layer)
    snapshots/<id>/work          overlay only: the overlay work dir of an active snapshot
    snapshots/new-<random>/      a snapshot being made (renamed to <id> in the inserting transaction)
    snapshots/rm-<id>/           a snapshot being removed (renamed out in the deleting transaction)

Schema (one table; `id` never reused, so a stale directory can never be mistaken for a new one):

    CREATE TABLE snapshots (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,   -- names the directory snapshots/<id>
        key       TEXT NOT NULL UNIQUE,                -- key (active, view) or name (committed)
        kind      TEXT NOT NULL,                       -- 'active' | 'view' | 'committed'
        parent_id INTEGER REFERENCES snapshots(id),    -- NULL for a base layer
        labels    TEXT NOT NULL DEFAULT '{}',          -- JSON object of strings
        created   REAL NOT NULL,                       -- seconds since the epoch
        updated   REAL NOT NULL,
        size      INTEGER,                             -- usage, measured at commit
        inodes    INTEGER
    );

Making a snapshot: build snapshots/new-<random> completely, then in one transaction insert the
row and rename the directory to its id. Removing: in one transaction delete the row and rename
snapshots/<id> to rm-<id>, then delete the tree. A crash in between leaves only new-*, rm-* or
id directories without a row, which `cleanup()` removes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, SystemCallError
from dockyard.fsutil.mount import Mount
from dockyard.snapshots.base import Info, Kind, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    key       TEXT NOT NULL UNIQUE,
    kind      TEXT NOT NULL,
    parent_id INTEGER REFERENCES snapshots(id),
    labels    TEXT NOT NULL DEFAULT '{}',
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    size      INTEGER,
    inodes    INTEGER
);
"""


def disk_usage(path: str) -> Usage:
    """Bytes allocated and inodes used below `path`, hardlinks counted once."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            size += st.st_blocks * 512
    return Usage(size=size, inodes=len(seen))


class SnapshotStore:
    """What both snapshotters share: metadata, staging, removal. Subclasses say how a snapshot's
    directory is filled (`_populate`) and mounted (`_mounts`)."""

    _work_dir = False  # whether snapshots get a `work` dir beside `fs`

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.dir = os.path.join(self.root, "snapshots")
        os.makedirs(self.dir, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(os.path.join(self.root, "metadata.db"), isolation_level=None,
                                       check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise SystemCallError(f"open snapshot metadata in {self.root}: {err}", 0) from err

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise SystemCallError(f"snapshot metadata: {err}", 0) from err
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as err:
                    self._db.execute("ROLLBACK")
                    raise SystemCallError(f"snapshot metadata: {err}", 0) from err

    def _row(self, db: sqlite3.Connection, key: str) -> tuple[Any, ...]:
        row = db.execute("SELECT id, key, kind, parent_id, labels, created, updated, size, inodes "
                         "FROM snapshots WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise NotFound(f"snapshot {key}: not found")
        return tuple(row)

    def _info(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> Info:
        parent = None
        if row[3] is not None:
            parent = db.execute("SELECT key FROM snapshots WHERE id = ?", (row[3],)).fetchone()[0]
        return Info(key=row[1], kind=Kind(row[2]), parent=parent, labels=json.loads(row[4]),
                    created=row[5], updated=row[6])

    def _chain(self, db: sqlite3.Connection, parent_id: int | None) -> list[int]:
        ids: list[int] = []
        while parent_id is not None:
            ids.append(parent_id)
            parent_id = db.execute("SELECT parent_id FROM snapshots WHERE id = ?", (parent_id,)).fetchone()[0]
        return ids

    def fs_path(self, snapshot_id: int) -> str:
        return os.path.join(self.dir, str(snapshot_id), "fs")

    # -- subclass hooks ------------------------------------------------------------------------

    def _populate(self, staging: str, parent_fs: str | None, kind: Kind) -> None:
        """Fill the new snapshot's `fs` (created empty) from its parent."""

    def _mounts(self, snapshot_id: int, kind: Kind, parent_ids: list[int]) -> list[Mount]:
        raise NotImplementedError

    # -- the contract --------------------------------------------------------------------------

    def stat(self, key: str) -> Info:
        with self._lock:
            return self._info(self._db, self._row(self._db, key))

    def update_labels(self, key: str, labels: Mapping[str, str]) -> Info:
        with self._txn() as db:
            row = self._row(db, key)
            clean = {k: v for k, v in labels.items() if v}
            db.execute("UPDATE snapshots SET labels = ?, updated = ? WHERE id = ?",
                       (json.dumps(clean, sort_keys=True), time.time(), row[0]))
            return self._info(db, self._row(db, key))

    def usage(self, key: str) -> Usage:
        with self._lock:
            row = self._row(self._db, key)
        if row[2] == Kind.COMMITTED.value and row[7] is not None:
            return Usage(size=row[7], inodes=row[8])
        return disk_usage(self.fs_path(row[0]))

    def mounts(self, key: str) -> list[Mount]:
        with self._lock:
            row = self._row(self._db, key)
            kind = Kind(row[2])
            if kind is Kind.COMMITTED:
                raise Conflict(f"snapshot {key} is committed: it has no mounts of its own (view it)")
            return self._mounts(row[0], kind, self._chain(self._db, row[3]))

    def prepare(self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(key, parent, labels, Kind.ACTIVE)

    def view(self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(key, parent, labels, Kind.VIEW)

    def _create(self, key: str, parent: str | None, labels: Mapping[str, str] | None, kind: Kind) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        with self._lock:
            if self._db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"snapshot {key}: already exists")
            parent_id = None
            parent_fs = None
            if parent:
                prow = self._row(self._db, parent)
                if prow[2] != Kind.COMMITTED.value:
                    raise Conflict(f"parent snapshot {parent} is not committed")
                parent_id = prow[0]
                parent_fs = self.fs_path(parent_id)
        staging = os.path.join(self.dir, "new-" + secrets.token_hex(8))
        try:
            os.mkdir(staging, 0o700)
            os.mkdir(os.path.join(staging, "fs"), 0o755)
            if self._work_dir and kind is Kind.ACTIVE:
                os.mkdir(os.path.join(staging, "work"), 0o700)
            self._populate(staging, parent_fs, kind)
            now = time.time()
            with self._txn() as db:
                if parent is not None and parent_id is not None:
                    if db.execute("SELECT id FROM snapshots WHERE id = ? AND kind = ?",
                                  (parent_id, Kind.COMMITTED.value)).fetchone() is None:
                        raise NotFound(f"parent snapshot {parent}: not found")
                try:
                    cur = db.execute(
                        "INSERT INTO snapshots (key, kind, parent_id, labels, created, updated) VALUES (?,?,?,?,?,?)",
                        (key, kind.value, parent_id, json.dumps(dict(labels or {}), sort_keys=True), now, now))
                except sqlite3.IntegrityError:
                    raise AlreadyExists(f"snapshot {key}: already exists") from None
                snapshot_id = int(cur.lastrowid or 0)
                os.rename(staging, os.path.join(self.dir, str(snapshot_id)))
                staging = ""
                mounts = self._mounts(snapshot_id, kind, self._chain(db, parent_id))
            return mounts
        except OSError as err:
            raise SystemCallError.from_oserror(f"prepare snapshot {key}", err) from err
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> Info:
        if not name:
            raise InvalidArgument("snapshot name must not be empty")
        with self._lock:
            row = self._row(self._db, key)
        if row[2] != Kind.ACTIVE.value:
            raise Conflict(f"snapshot {key} is not active: only active snapshots can be committed")
        usage = disk_usage(self.fs_path(row[0]))
        with self._txn() as db:
            row = self._row(db, key)
            if row[2] != Kind.ACTIVE.value:
                raise Conflict(f"snapshot {key} is not active")
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise AlreadyExists(f"snapshot {name}: already exists")
            merged = json.loads(row[4])
            merged.update(labels or {})
            db.execute("UPDATE snapshots SET key = ?, kind = ?, labels = ?, updated = ?, size = ?, inodes = ? "
                       "WHERE id = ?", (name, Kind.COMMITTED.value, json.dumps(merged, sort_keys=True),
                                        time.time(), usage.size, usage.inodes, row[0]))
            info = self._info(db, self._row(db, name))
        work = os.path.join(self.dir, str(row[0]), "work")
        shutil.rmtree(work, ignore_errors=True)
        return info

    def remove(self, key: str) -> None:
        with self._txn() as db:
            row = self._row(db, key)
            child = db.execute("SELECT key FROM snapshots WHERE parent_id = ? LIMIT 1", (row[0],)).fetchone()
            if child is not None:
                raise Conflict(f"cannot remove snapshot {key}: snapshot {child[0]} is based on it")
            db.execute("DELETE FROM snapshots WHERE id = ?", (row[0],))
            src = os.path.join(self.dir, str(row[0]))
            dst = os.path.join(self.dir, f"rm-{row[0]}")
            try:
                if os.path.exists(src):
                    os.rename(src, dst)
            except OSError as err:
                raise SystemCallError.from_oserror(f"remove snapshot {key}", err) from err
        shutil.rmtree(dst, ignore_errors=True)

    def walk(self) -> Iterator[Info]:
        with self._lock:
            rows = self._db.execute("SELECT id, key, kind, parent_id, labels, created, updated, size, inodes "
                                    "FROM snapshots ORDER BY id").fetchall()
            infos = [self._info(self._db, tuple(r)) for r in rows]
        yield from infos  # parents have smaller ids than their children

    def parents(self, key: str) -> list[str]:
        with self._lock:
            row = self._row(self._db, key)
            return [self._db.execute("SELECT key FROM snapshots WHERE id = ?", (i,)).fetchone()[0]
                    for i in self._chain(self._db, row[3])]

    def cleanup(self) -> None:
        with self._lock:
            ids = {str(r[0]) for r in self._db.execute("SELECT id FROM snapshots")}
            for name in os.listdir(self.dir):
                if name not in ids:
                    shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()
