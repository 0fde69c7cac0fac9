"""Content-addressable blob store: digest-verified, atomic, safe under concurrent writers.

Public API:
    Store, Writer          the contract (see store.py for the lifecycle)
    Info                   digest, size, created
    LocalStore(root)       the on-disk implementation: <root>/blobs/<alg>/<hex>, <root>/ingest/
    Digest                 re-exported from dockyard.oci.digest
"""

from dockyard.content.local import LocalStore
from dockyard.content.store import Info, Store, Writer
from dockyard.oci.digest import Digest

__all__ = ["Digest", "Info", "LocalStore", "Store", "Writer"]
