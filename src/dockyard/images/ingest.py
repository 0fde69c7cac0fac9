"""Bringing images into the store: blobs written and verified, layers unpacked, then images and
names published in one transaction; or, on any failure, nothing left behind.

    with Ingest(store, "load") as ingest:
        digest, size = ingest.write_stream(layer_stream)    # a layer blob: hashed as written, pinned
        # config and manifest stored, layers unpacked (one snapshot per chain id), image staged:
        image_id, target = ingest.add_image(config_bytes, config, layers, docker_types=True)
        ingest.stage_ref(reference, image_id, target)
        moved = ingest.commit()                             # images + refs in one transaction
    # an exception inside the block (or no commit) removes every blob and snapshot that only this
    # ingest had added

Everything is pinned by the ingest's lease before it becomes visible in the content store or the
snapshotter, so a concurrent garbage collection never removes it; committing drops the lease in
the same transaction that adds the images that now hold those resources.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from dockyard.errors import AlreadyExists, DockyardError, InvalidArgument, NotFound
from dockyard.images.gc import collect
from dockyard.images.reference import Reference
from dockyard.images.store import ImageStore
from dockyard.images.tario import CHUNK, TarSizeCounter, copy_stream
from dockyard.layers import apply_layer_to_mounts, open_decompressed
from dockyard.metadata import CONTENT, SNAPSHOT
from dockyard.oci import media_types as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageConfig, Manifest, chain_ids

LEASE_TTL = 24 * 3600.0  # a crashed ingest's lease stops pinning after a day


@dataclass
class _StagedImage:
    image_id: str
    manifest: Descriptor
    size: int
    parent: str


@dataclass(frozen=True)
class Moved:
    """A name that pointed at another image before the ingest took it."""

    reference: Reference
    previous_image_id: str


class Ingest:
    def __init__(self, store: ImageStore, what: str) -> None:
        self.store = store
        self.what = what
        self.lease = store.leases.create({"dockyard.ingest": what}, ttl=LEASE_TTL)
        self._pinned: set[tuple[str, str]] = set()
        self._images: dict[str, _StagedImage] = {}
        self._refs: dict[str, tuple[Reference, str, Descriptor]] = {}
        self._done = False

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._done:
            self.abort()

    # --- blobs ------------------------------------------------------------------------------

    def pin(self, kind: str, key: str) -> None:
        if (kind, key) not in self._pinned:
            self.store.leases.add(self.lease.id, kind, key)
            self._pinned.add((kind, key))

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        """Whether the blob is already stored (and then pinned for this ingest)."""
        self.pin(CONTENT, digest)
        with self.store.gc_lock:
            if not self.store.has_blob(digest):
                return False
            if size is not None and self.store.content.info(Digest.parse(digest)).size != size:
                raise InvalidArgument(f"blob {digest}: stored with another size than the {size} bytes expected")
            return True

    def write_stream(self, stream: BinaryIO, expected: str | None = None, size: int | None = None) -> tuple[str, int]:
        """Store a blob from a stream, hashed as it is copied; (digest, size). With `expected`, a
        blob already present is not written again, and a mismatch of digest or size is an error."""
        if expected is not None and self.has_blob(expected, size):
            return expected, size if size is not None else self.store.content.info(Digest.parse(expected)).size
        with self.store.content.writer(Digest.parse(expected) if expected else None, size) as w:
            copy_stream(stream, w.write)
            digest = str(w.digest(Digest.parse(expected).algorithm if expected else "sha256"))
            self.pin(CONTENT, digest)
            info = w.commit()
        return str(info.digest), info.size

    def write_bytes(self, data: bytes) -> tuple[str, int]:
        """Store a small blob (a config, a manifest) unless it is there already; (digest, size)."""
        return self.write_stream(io.BytesIO(data), "sha256:" + hashlib.sha256(data).hexdigest(), len(data))

    # --- layers -----------------------------------------------------------------------------

    def _layer_ready(self, chain_id: str) -> bool:
        with self.store.db.read("check layer") as conn:
            row = conn.execute("SELECT 1 FROM layers WHERE chain_id = ?", (chain_id,)).fetchone()
        try:
            self.store.snapshotter.stat(chain_id)
        except NotFound:
            return False
        if row is None:
            # committed by an unpack that crashed before it could record the layer: redo it
            with suppress(DockyardError):
                self.store.snapshotter.remove(chain_id)
            return False
        return True

    def unpack(self, manifest: Manifest, config: ImageConfig) -> int:
        """Unpack the image's layers (those not unpacked yet) into snapshots named by chain id,
        checking every layer's diff id; the image's total size, as Docker counts it."""
        diff_ids = config.rootfs.diff_ids
        if len(manifest.layers) != len(diff_ids):
            raise InvalidArgument(f"invalid manifest, layers length mismatch: expected {len(diff_ids)}, "
                                  f"got {len(manifest.layers)}")
        chain = chain_ids(diff_ids)
        parent = ""
        for i, (layer, diff_id, chain_id) in enumerate(zip(manifest.layers, diff_ids, chain, strict=True)):
            if not mt.is_layer(layer.media_type):
                raise InvalidArgument(f"layer {i} ({layer.digest}): unsupported media type {layer.media_type!r}")
            self.pin(SNAPSHOT, chain_id)
            with self.store.gc_lock:
                ready = self._layer_ready(chain_id)
            if not ready:
                self._unpack_layer(i, layer, diff_id, chain_id, parent)
            parent = chain_id
        sizes = self.store.layer_sizes(chain)
        return sum(sizes.get(c, 0) for c in chain)

    def _unpack_layer(self, index: int, layer: Descriptor, diff_id: str, chain_id: str, parent: str) -> None:
        key = f"extract-{secrets.token_hex(6)}-{chain_id.split(':', 1)[-1][:16]}"
        self.pin(SNAPSHOT, key)
        snapshotter = self.store.snapshotter
        mounts = snapshotter.prepare(key, parent or None, {"dockyard.chain-id": chain_id})
        try:
            try:
                with self.store.content.open(Digest.parse(layer.digest)) as blob:
                    plain, _ = open_decompressed(blob)
                    counter = TarSizeCounter(plain)
                    # A container's own changes may hold links that climb out (docker commits them).
                    result = apply_layer_to_mounts(io.BufferedReader(counter, CHUNK), mounts,
                                                   outward_symlinks=self.what == "commit")
            except InvalidArgument as err:
                raise InvalidArgument(f"layer {index} ({layer.digest}): {err}") from err
            if str(result.diff_id) != diff_id:
                raise InvalidArgument(f"invalid diffID for layer {index}: expected {diff_id!r}, got {str(result.diff_id)!r}")
            try:
                snapshotter.commit(chain_id, key)
            except AlreadyExists:
                snapshotter.remove(key)  # unpacked meanwhile by another ingest: theirs is as good
                return
        except BaseException:
            with suppress(DockyardError):
                snapshotter.remove(key)
            raise
        with self.store.db.transaction("record layer") as conn:
            conn.execute("INSERT OR REPLACE INTO layers (chain_id, diff_id, parent, size) VALUES (?, ?, ?, ?)",
                         (chain_id, diff_id, parent, counter.size))

    # --- images and names -------------------------------------------------------------------

    def add_image(self, config_bytes: bytes, config: ImageConfig, layers: list[Descriptor], docker_types: bool,
                  parent: str = "") -> tuple[str, Descriptor]:
        """Store a config (its bytes as given) and a manifest of it and `layers` (Docker schema 2 or
        OCI media types), unpack the layers and stage the image; its id and manifest descriptor."""
        image_id, _ = self.write_bytes(config_bytes)
        manifest = Manifest(Descriptor(mt.DOCKER_CONFIG if docker_types else mt.OCI_CONFIG, image_id, len(config_bytes)),
                            layers, mt.DOCKER_MANIFEST if docker_types else mt.OCI_MANIFEST)
        digest, size = self.write_bytes(manifest.to_bytes())
        target = Descriptor(manifest.media_type, digest, size)
        self.stage_image(image_id, target, self.unpack(manifest, config), parent)
        return image_id, target

    def stage_image(self, image_id: str, manifest: Descriptor, size: int, parent: str = "") -> None:
        self._images[image_id] = _StagedImage(image_id, manifest, size, parent)

    def set_parent(self, image_id: str, parent: str) -> None:
        """Record Docker's local parent of a staged image."""
        self._images[image_id].parent = parent

    def stage_ref(self, ref: Reference, image_id: str, target: Descriptor) -> None:
        key = str(ref if ref.digest else ref.tag_name_only())
        self._refs[key] = (ref, image_id, target)

    def commit(self) -> list[Moved]:
        """Publish the staged images and names in one transaction and release the lease; the names
        that were moved from another image."""
        moved: list[Moved] = []
        now = time.time()
        with self.store.db.transaction(f"{self.what}: register images") as conn:
            for img in self._images.values():
                conn.execute(
                    "INSERT OR IGNORE INTO images (id, manifest_digest, manifest_media_type, manifest_size, parent, size, "
                    "last_tag_time, added) VALUES (?, ?, ?, ?, ?, ?, '', ?)",
                    (img.image_id, img.manifest.digest, img.manifest.media_type, img.manifest.size, img.parent,
                     img.size, now))
                if img.parent:
                    conn.execute("UPDATE images SET parent = ? WHERE id = ? AND parent = ''", (img.parent, img.image_id))
            for ref, image_id, target in self._refs.values():
                previous = self.store.put_ref(conn, ref, image_id, target, force=True)
                if previous:
                    moved.append(Moved(ref, previous))
            conn.execute("DELETE FROM leases WHERE id = ?", (self.lease.id,))
        self._done = True
        return moved

    def abort(self) -> None:
        """Remove what only this ingest added, and the lease."""
        if self._done:
            return
        self._done = True
        self.store.leases.delete(self.lease.id)
        collect(self.store,
                content={key for kind, key in self._pinned if kind == CONTENT},
                snapshots={key for kind, key in self._pinned if kind == SNAPSHOT})


@contextmanager
def ingest(store: ImageStore, what: str) -> Iterator[Ingest]:
    with Ingest(store, what) as session:
        yield session
