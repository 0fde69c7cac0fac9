"""Garbage collection of blobs and snapshots that nothing refers to (containerd's mark and sweep).

Roots, marked first, under the store's gc lock and in one database read:
- every image: its manifest, config and layer blobs, and the snapshots of its layer chain;
- every name's target: the manifest, or the index and those of its manifests (with their configs
  and layers) that are in the content store;
- every container's snapshot and the chain of its parents;
- everything a live lease pins (a pull, build or load in progress), and the parents of the
  snapshots it pins.
Then the sweep removes what is not marked: all of the content store and the committed snapshots
(plus the ACTIVE/VIEW snapshots the image store itself makes, keys `extract-...` and
`dockyard-view-...`), or only the candidates given (after an image removal or a failed ingest).
Other ACTIVE snapshots belong to the engine and are never touched here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.metadata import CONTENT, SNAPSHOT, Leases
from dockyard.oci import media_types as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageConfig, Index, Manifest, chain_ids
from dockyard.snapshots import Kind

if TYPE_CHECKING:
    from dockyard.images.store import ImageStore

OWN_SNAPSHOT_PREFIXES = ("extract-", "dockyard-view-")


@dataclass
class GCResult:
    content: list[str] = field(default_factory=list)  # digests of the blobs removed
    snapshots: list[str] = field(default_factory=list)  # names of the snapshots removed
    bytes_freed: int = 0  # bytes of the blobs removed


def _mark_descriptor(store: ImageStore, desc: Descriptor, content: set[str], snapshots: set[str], depth: int = 0) -> None:
    """Mark a manifest or index blob and what it names, as far as the blobs are present."""
    content.add(desc.digest)
    if depth > 8 or not store.has_blob(desc.digest):
        return
    try:
        if desc.media_type in mt.INDEXES:
            index = Index.from_bytes(store.read_blob(desc.digest), desc.media_type)
            for child in index.manifests:
                if store.has_blob(child.digest):
                    _mark_descriptor(store, child, content, snapshots, depth + 1)
        elif desc.media_type in mt.MANIFESTS:
            manifest = Manifest.from_bytes(store.read_blob(desc.digest), desc.media_type)
            content.add(manifest.config.digest)
            content.update(layer.digest for layer in manifest.layers)
    except (InvalidArgument, NotFound):
        pass  # a damaged blob marks only itself


def mark(store: ImageStore, conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """The digests and snapshot names still wanted."""
    content: set[str] = set()
    snapshots: set[str] = set()
    for image_id, digest, media_type, size in conn.execute(
            "SELECT id, manifest_digest, manifest_media_type, manifest_size FROM images"):
        content.add(image_id)
        _mark_descriptor(store, Descriptor(media_type, digest, size), content, snapshots)
        with suppress(InvalidArgument, NotFound):
            config = ImageConfig.from_bytes(store.read_blob(image_id))
            snapshots.update(chain_ids(config.rootfs.diff_ids))
    for digest, media_type, size in conn.execute("SELECT target_digest, target_media_type, target_size FROM refs"):
        _mark_descriptor(store, Descriptor(media_type, digest, size), content, snapshots)
    content.update(Leases.pinned(conn, CONTENT))
    roots = Leases.pinned(conn, SNAPSHOT)
    roots.update(key for (key,) in conn.execute("SELECT snapshot_key FROM containers WHERE snapshot_key != ''"))
    for key in roots:
        snapshots.add(key)
        with suppress(DockyardError):
            snapshots.update(store.snapshotter.parents(key))
    return content, snapshots


def collect(store: ImageStore, content: Iterable[str] | None = None, snapshots: Iterable[str] | None = None) -> GCResult:
    """Remove unmarked blobs and snapshots: all of them, or only among the candidates given
    (`content` digests, `snapshots` names; None means every one, an empty set none)."""
    result = GCResult()
    with store.gc_lock:
        Leases(store.db).expire()
        with store.db.read("mark referenced content") as conn:
            marked_content, marked_snapshots = mark(store, conn)
        _sweep_snapshots(store, marked_snapshots, None if snapshots is None else set(snapshots), result)
        candidates = [info.digest for info in store.content.walk()] if content is None else [
            Digest.parse(d) for d in set(content)]
        for digest in candidates:
            if str(digest) in marked_content:
                continue
            with suppress(NotFound):
                size = store.content.info(digest).size
                store.content.delete(digest)
                result.content.append(str(digest))
                result.bytes_freed += size
    return result


def _sweep_snapshots(store: ImageStore, marked: set[str], candidates: set[str] | None, result: GCResult) -> None:
    infos = list(store.snapshotter.walk())
    for info in reversed(infos):  # children before their parents
        if info.key in marked or (candidates is not None and info.key not in candidates):
            continue
        if info.kind is not Kind.COMMITTED and not info.key.startswith(OWN_SNAPSHOT_PREFIXES):
            continue
        try:
            store.snapshotter.remove(info.key)
        except (Conflict, NotFound):
            continue  # still has children (an engine's container), or gone already
        result.snapshots.append(info.key)
    if result.snapshots:
        with store.db.transaction("forget removed layers") as conn:
            conn.executemany("DELETE FROM layers WHERE chain_id = ?", [(name,) for name in result.snapshots])
