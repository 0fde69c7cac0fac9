"""dockyard's metadata database (SQLite, WAL) at `<data-root>/metadata.db`.

Public API:
    MetadataDB(path), MetadataDB.open(data_root)   the database; .transaction(), .read(), .close()
    Leases(db), Lease, CONTENT, SNAPSHOT            pins on blobs and snapshots held by work in progress
    SCHEMA_VERSION                                  the schema, documented in db.py's docstring
"""

from dockyard.metadata.db import SCHEMA_VERSION, MetadataDB
from dockyard.metadata.leases import CONTENT, SNAPSHOT, Lease, Leases

__all__ = ["CONTENT", "SCHEMA_VERSION", "SNAPSHOT", "Lease", "Leases", "MetadataDB"]
