"""dockyard's metadata: one SQLite database, `<data-root>/metadata.db`, in WAL mode.

Blobs live in the content store and file trees in the snapshotter; this database says which of
them are wanted and what they mean. Every change is one transaction (`MetadataDB.transaction()`,
BEGIN IMMEDIATE), so a crash leaves either the old state or the new one. `PRAGMA user_version`
holds the schema version; `open()` creates or upgrades the schema.

Schema, version 1 (the only place it is written down):

    images              the image store, as Docker's: one row per image, named by its id
      id                  TEXT PRIMARY KEY   "sha256:<hex>", the digest of the config blob
      manifest_digest     TEXT NOT NULL      the image's manifest blob (one platform) ...
      manifest_media_type TEXT NOT NULL      ... its media type (OCI or Docker schema 2) ...
      manifest_size       INTEGER NOT NULL   ... and size
      parent              TEXT NOT NULL      Docker's local parent image id (commit, build), "" if none
      size                INTEGER NOT NULL   Docker's Size: the unpacked size of all its layers
      last_tag_time       TEXT NOT NULL      RFC 3339 (ns) time it was last tagged; "" if never
      added               REAL NOT NULL      when it entered the store (seconds since the epoch)

    refs                names, as Docker's reference store: a tag or a digest reference -> an image
      name                TEXT PRIMARY KEY   the normalized reference: "docker.io/library/busybox:latest"
                                             or "docker.io/library/busybox@sha256:<hex>"
      repository          TEXT NOT NULL      "docker.io/library/busybox"
      kind                TEXT NOT NULL      'tag' | 'digest'
      image_id            TEXT NOT NULL      -> images.id (an image with refs cannot be deleted)
      target_digest       TEXT NOT NULL      the descriptor the name resolves to: the image's manifest,
      target_media_type   TEXT NOT NULL      or an index / manifest list that holds it (multi-platform)
      target_size         INTEGER NOT NULL
      created             REAL NOT NULL

    layers              unpacked layers: one committed snapshot per chain id, named by the chain id
      chain_id            TEXT PRIMARY KEY   image-spec ChainID of the layer and all below it
      diff_id             TEXT NOT NULL      digest of this layer's uncompressed tar
      parent              TEXT NOT NULL      chain id of the layer below, "" for a bottom layer
      size                INTEGER NOT NULL   Docker's diff size of this layer alone

    leases              pins held by work in progress (a pull, a build, a load): what a lease names
      id                  TEXT PRIMARY KEY   is never garbage collected while the lease exists
      created             REAL NOT NULL
      expires             REAL NOT NULL      seconds since the epoch; 0 for no expiry
      labels              TEXT NOT NULL      JSON object
    lease_resources
      lease_id            TEXT NOT NULL      -> leases.id, ON DELETE CASCADE
      kind                TEXT NOT NULL      'content' (key: a digest) | 'snapshot' (key: a snapshot key)
      key                 TEXT NOT NULL
      PRIMARY KEY (lease_id, kind, key)

    containers          the engine's containers (kept by engine/; images/ only reads image_id)
      id                  TEXT PRIMARY KEY   64 hex digits
      name                TEXT UNIQUE NOT NULL
      image_id            TEXT NOT NULL      the image it was created from: removal and prune count these
      snapshot_key        TEXT NOT NULL      its writable snapshot ("" if none)
      config              TEXT NOT NULL      JSON, the engine's record
      created             REAL NOT NULL

Garbage collection (images/gc.py) marks from the roots: every image's manifest, config and layer
blobs and its layers' snapshots, every ref's target (and, for an index, the manifests of it that are
present), every container's snapshot and its parents, and every lease resource.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.errors import Conflict, SystemCallError, Unavailable

SCHEMA_VERSION = 1
FILENAME = "metadata.db"

_SCHEMA_V1 = """
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    manifest_size INTEGER NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    last_tag_time TEXT NOT NULL DEFAULT '',
    added REAL NOT NULL
);
CREATE INDEX images_parent ON images(parent);
CREATE TABLE refs (
    name TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
    image_id TEXT NOT NULL REFERENCES images(id),
    target_digest TEXT NOT NULL,
    target_media_type TEXT NOT NULL,
    target_size INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX refs_image ON refs(image_id);
CREATE TABLE layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    expires REAL NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE lease_resources (
    lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('content', 'snapshot')),
    key TEXT NOT NULL,
    PRIMARY KEY (lease_id, kind, key)
);
CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image_id TEXT NOT NULL,
    snapshot_key TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE INDEX containers_image ON containers(image_id);
"""


def translate(err: sqlite3.Error, what: str) -> Exception:
    """The dockyard error for a sqlite3 error met while doing `what`."""
    if isinstance(err, sqlite3.IntegrityError):
        return Conflict(f"{what}: {err}")
    if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
        return Unavailable(f"{what}: the metadata database is busy: {err}")
    return SystemCallError(f"{what}: metadata database: {err}", 0)


class MetadataDB:
    """The open database. Thread-safe: one connection, used under a lock, one transaction at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as err:
            raise translate(err, f"open {path}") from err
        except OSError as err:
            raise SystemCallError.from_oserror(f"open {path}", err) from err

    @classmethod
    def open(cls, data_root: Path) -> MetadataDB:
        return cls(data_root / FILENAME)

    def _migrate(self) -> None:
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise Unavailable(f"{self.path}: schema version {version} is newer than this dockyard's ({SCHEMA_VERSION})")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if version == 0:
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self, what: str = "update metadata") -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise translate(err, what) from err
            try:
                yield self._conn
            except sqlite3.Error as err:
                self._conn.execute("ROLLBACK")
                raise translate(err, what) from err
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._conn.execute("ROLLBACK")
                raise translate(err, what) from err

    @contextmanager
    def read(self, what: str = "read metadata") -> Iterator[sqlite3.Connection]:
        """A consistent read (one deferred transaction)."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            except sqlite3.Error as err:
                raise translate(err, what) from err
            finally:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
