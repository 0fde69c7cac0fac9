"""Leases: pins on blobs and snapshots that work in progress (a pull, a build, a load) holds.

A lease is created before the first blob is written and deleted when the work is done, after the
images and refs that keep its resources were committed (or, on failure, before the resources are
collected). Garbage collection never removes what a live lease names; an expired lease (a crashed
worker's) pins nothing and is removed by `expire()`.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import NotFound
from dockyard.metadata.db import MetadataDB

CONTENT = "content"
SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class Lease:
    id: str
    created: float
    expires: float = 0.0  # seconds since the epoch; 0 for never
    labels: Mapping[str, str] = field(default_factory=dict)


class Leases:
    def __init__(self, db: MetadataDB) -> None:
        self.db = db

    def create(self, labels: Mapping[str, str] | None = None, ttl: float | None = None, lease_id: str = "") -> Lease:
        """A new lease; with `ttl` (seconds) it stops pinning after that long."""
        now = time.time()
        lease = Lease(lease_id or secrets.token_hex(16), now, now + ttl if ttl else 0.0, dict(labels or {}))
        with self.db.transaction("create lease") as conn:
            conn.execute("INSERT INTO leases (id, created, expires, labels) VALUES (?, ?, ?, ?)",
                         (lease.id, lease.created, lease.expires, json.dumps(dict(lease.labels))))
        return lease

    def add(self, lease_id: str, kind: str, key: str, conn: sqlite3.Connection | None = None) -> None:
        """Pin a resource (`CONTENT` digest or `SNAPSHOT` key) under the lease."""
        if conn is not None:
            self._add(conn, lease_id, kind, key)
            return
        with self.db.transaction("add lease resource") as c:
            self._add(c, lease_id, kind, key)

    @staticmethod
    def _add(conn: sqlite3.Connection, lease_id: str, kind: str, key: str) -> None:
        if conn.execute("SELECT 1 FROM leases WHERE id = ?", (lease_id,)).fetchone() is None:
            raise NotFound(f"lease {lease_id} not found")
        conn.execute("INSERT OR IGNORE INTO lease_resources (lease_id, kind, key) VALUES (?, ?, ?)", (lease_id, kind, key))

    def resources(self, lease_id: str) -> list[tuple[str, str]]:
        """(kind, key) of every resource the lease pins."""
        with self.db.read("list lease resources") as conn:
            rows = conn.execute("SELECT kind, key FROM lease_resources WHERE lease_id = ? ORDER BY rowid", (lease_id,))
            return [(kind, key) for kind, key in rows]

    def delete(self, lease_id: str) -> None:
        with self.db.transaction("delete lease") as conn:
            conn.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def all(self) -> list[Lease]:
        with self.db.read("list leases") as conn:
            rows = conn.execute("SELECT id, created, expires, labels FROM leases ORDER BY created").fetchall()
        return [Lease(i, c, e, json.loads(labels)) for i, c, e, labels in rows]

    @staticmethod
    def pinned(conn: sqlite3.Connection, kind: str, now: float | None = None) -> set[str]:
        """Every key of `kind` a live (unexpired) lease pins."""
        now = time.time() if now is None else now
        rows = conn.execute(
            "SELECT r.key FROM lease_resources r JOIN leases l ON l.id = r.lease_id "
            "WHERE r.kind = ? AND (l.expires = 0 OR l.expires > ?)", (kind, now))
        return {key for (key,) in rows}

    def expire(self) -> list[str]:
        """Delete expired leases; their ids."""
        with self.db.transaction("expire leases") as conn:
            ids = [i for (i,) in conn.execute("SELECT id FROM leases WHERE expires != 0 AND expires <= ?", (time.time(),))]
            conn.executemany("DELETE FROM leases WHERE id = ?", [(i,) for i in ids])
        return ids
