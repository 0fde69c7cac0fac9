"""The image store: images by id, names (tags and digest references) pointing at them, unpacked
layers as committed snapshots keyed by chain id. Rows in the metadata database (see
`dockyard.metadata.db` for the schema), bytes in the content store, trees in the snapshotter.

An image is Docker's: its id is the digest of its config blob; it has a manifest (one platform)
naming the config and the layer blobs; its layers are unpacked into snapshots named by chain id,
shared with every image that has the same layers below. A name resolves to a target descriptor
(the image's manifest, or an index that holds it) and to the image chosen from it for this host.

New images come in through an `Ingest` (images/ingest.py), which holds a lease on everything it
writes until its images and refs are committed in one transaction.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from dockyard.content import Store as ContentStore
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.images import reference as refs
from dockyard.images.reference import Reference
from dockyard.metadata import Leases, MetadataDB
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import (
    Descriptor,
    ImageConfig,
    Manifest,
    Platform,
    Timestamp,
    chain_ids,
)
from dockyard.snapshots import Snapshotter

# The diff id of a layer with no change in it: a tar of nothing (two zero blocks).
EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


@dataclass(frozen=True)
class Image:
    id: str  # sha256:<hex> of the config blob
    manifest: Descriptor
    parent: str  # Docker's local parent image (commit, build), "" if none
    size: int  # Docker's Size: all layers, unpacked
    last_tag_time: str  # RFC 3339 with ns, "" if never tagged
    added: float

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]


@dataclass(frozen=True)
class Ref:
    name: str  # the full normalized reference
    kind: str  # "tag" | "digest"
    image_id: str
    target: Descriptor
    created: float

    @property
    def reference(self) -> Reference:
        return refs.parse(self.name)

    def familiar(self) -> str:
        return self.reference.familiar()


def no_such_image(text: str) -> NotFound:
    """Docker's `No such image: busybox:latest` (a name gets `latest` when it has no tag)."""
    try:
        shown = refs.parse_normalized(text).tag_name_only().familiar()
    except InvalidArgument:
        shown = text
    return NotFound(f"No such image: {shown}")


def now_rfc3339() -> str:
    return Timestamp.now().rfc3339nano()


def _image(row: Any) -> Image:
    return Image(row[0], Descriptor(row[2], row[1], row[3]), row[4], row[5], row[6], row[7])


_IMAGE_COLUMNS = "id, manifest_digest, manifest_media_type, manifest_size, parent, size, last_tag_time, added"
_REF_COLUMNS = "name, kind, image_id, target_digest, target_media_type, target_size, created"


def _ref(row: Any) -> Ref:
    return Ref(row[0], row[1], row[2], Descriptor(row[4], row[3], row[5]), row[6])


class ImageStore:
    def __init__(self, db: MetadataDB, content: ContentStore, snapshotter: Snapshotter, platform: Platform) -> None:
        self.db = db
        self.content = content
        self.snapshotter = snapshotter
        self.platform = platform
        self.leases = Leases(db)
        # Held by garbage collection while it marks and sweeps, and by an ingest while it checks
        # whether a blob or a layer it has pinned is already there.
        self.gc_lock = threading.RLock()
        self._configs: dict[str, ImageConfig] = {}

    # --- blobs ------------------------------------------------------------------------------

    def read_blob(self, digest: str) -> bytes:
        return self.content.read_bytes(Digest.parse(digest))

    def has_blob(self, digest: str) -> bool:
        return self.content.exists(Digest.parse(digest))

    def blob_path(self, digest: str) -> str:
        return self.content.path(Digest.parse(digest))

    def config(self, image_id: str) -> ImageConfig:
        """The parsed config of an image (configs are immutable, so they are cached)."""
        config = self._configs.get(image_id)
        if config is None:
            config = ImageConfig.from_bytes(self.read_blob(image_id), f"image config {image_id}")
            self._configs[image_id] = config
        return config

    def manifest(self, image: Image) -> Manifest:
        return Manifest.from_bytes(self.read_blob(image.manifest.digest), image.manifest.media_type,
                                   f"manifest {image.manifest.digest}")

    # --- images -----------------------------------------------------------------------------

    def image(self, image_id: str) -> Image:
        with self.db.read("get image") as conn:
            row = conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        return _image(row)

    def images(self) -> list[Image]:
        with self.db.read("list images") as conn:
            return [_image(r) for r in conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images")]

    def children(self, image_id: str) -> list[str]:
        with self.db.read("list child images") as conn:
            return [i for (i,) in conn.execute("SELECT id FROM images WHERE parent = ?", (image_id,))]

    def search_id(self, prefix: str) -> str | None:
        """The image whose id starts with `prefix` (hex, or `sha256:` and hex); None if there is
        none or more than one (Docker then says No such image)."""
        hexpart = prefix.removeprefix("sha256:")
        if not hexpart or not refs.SHORT_IDENTIFIER.match(hexpart):
            return None
        with self.db.read("find image by id") as conn:
            rows = conn.execute("SELECT id FROM images WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
                                (f"sha256:{hexpart}", f"sha256:{hexpart}\x7f")).fetchall()
        return rows[0][0] if len(rows) == 1 else None

    def resolve(self, text: str) -> Image:
        """An image by reference, full id, digest or id prefix, as Docker's GetImage finds it."""
        if refs.is_full_id(text):
            return self._image_or(f"sha256:{text}", text)
        if text.startswith("sha256:") and refs.is_full_id(text[7:]):
            return self._image_or(text, text)
        found = self.get_ref(refs.parse_normalized(text))
        if found is not None:
            return self.image(found.image_id)
        image_id = self.search_id(text)
        if image_id is not None:
            return self.image(image_id)
        raise no_such_image(text)

    def _image_or(self, image_id: str, text: str) -> Image:
        try:
            return self.image(image_id)
        except NotFound:
            raise NotFound(f"No such image: {text}") from None

    def layer_chain(self, image_id: str) -> list[str]:
        return chain_ids(self.config(image_id).rootfs.diff_ids)

    def top_layer(self, image_id: str) -> str | None:
        """The snapshot name (chain id) a container of this image starts from; None for no layers."""
        chain = self.layer_chain(image_id)
        return chain[-1] if chain else None

    def layer_sizes(self, chain: list[str]) -> dict[str, int]:
        with self.db.read("read layer sizes") as conn:
            out: dict[str, int] = {}
            for chain_id in chain:
                row = conn.execute("SELECT size FROM layers WHERE chain_id = ?", (chain_id,)).fetchone()
                if row is not None:
                    out[chain_id] = row[0]
            return out

    # --- names ------------------------------------------------------------------------------

    def refs_of(self, image_id: str) -> list[Ref]:
        with self.db.read("list references") as conn:
            return [_ref(r) for r in conn.execute(
                f"SELECT {_REF_COLUMNS} FROM refs WHERE image_id = ? ORDER BY rowid", (image_id,))]

    def all_refs(self) -> list[Ref]:
        with self.db.read("list references") as conn:
            return [_ref(r) for r in conn.execute(f"SELECT {_REF_COLUMNS} FROM refs ORDER BY rowid")]

    def get_ref(self, ref: Reference) -> Ref | None:
        """The stored name for `ref` (normalized as Docker's reference store looks names up: `latest`
        when there is no tag, the digest alone when there are both)."""
        if ref.digest:
            ref = Reference(ref.domain, ref.path, "", ref.digest)
        else:
            ref = ref.tag_name_only()
        with self.db.read("get reference") as conn:
            row = conn.execute(f"SELECT {_REF_COLUMNS} FROM refs WHERE name = ?", (str(ref),)).fetchone()
        return None if row is None else _ref(row)

    @staticmethod
    def put_ref(conn: sqlite3.Connection, ref: Reference, image_id: str, target: Descriptor, force: bool = True) -> str:
        """Point `ref` at an image inside a transaction; the image it pointed at before ("" if none).
        A digest reference can never be moved; a tag only with `force`."""
        kind = "digest" if ref.digest else "tag"
        if kind == "tag" and not ref.tag:
            ref = ref.tag_name_only()
        name = str(ref)
        row = conn.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
        previous = row[0] if row else ""
        if previous and previous != image_id:
            if kind == "digest":
                raise Conflict(f"Cannot overwrite digest {ref.digest}")
            if not force:
                raise Conflict(f"Conflict: Tag {ref.familiar()} is already set to image {previous}, "
                               "if you want to replace it, please use the force option")
        conn.execute(
            "INSERT INTO refs (name, repository, kind, image_id, target_digest, target_media_type, target_size, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, "
            "target_digest = excluded.target_digest, target_media_type = excluded.target_media_type, "
            "target_size = excluded.target_size, created = excluded.created",
            (name, ref.name, kind, image_id, target.digest, target.media_type, target.size, time.time()))
        if kind == "tag":
            conn.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (now_rfc3339(), image_id))
        return previous if previous != image_id else ""

    def tag(self, image_id: str, ref: Reference, target: Descriptor | None = None) -> str:
        """Tag an image (moving the tag if it is set); the image the tag pointed at before, or ""."""
        image = self.image(image_id)
        with self.db.transaction("tag image") as conn:
            return self.put_ref(conn, ref, image_id, target or image.manifest)

    def remove_ref(self, name: str) -> None:
        with self.db.transaction("remove reference") as conn:
            if conn.execute("DELETE FROM refs WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"No such image: {refs.parse(name).familiar()}")

    def delete_image(self, image_id: str, extra_blobs: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Remove an image that no name points at, with its blobs (and `extra_blobs`, such as the
        targets of names just removed) and layers that nothing else uses; the chain ids of the
        layers removed, top first (Docker lists them as Deleted)."""
        image = self.image(image_id)
        chain = self.layer_chain(image_id)
        with self.db.transaction("delete image") as conn:
            if conn.execute("SELECT 1 FROM refs WHERE image_id = ?", (image_id,)).fetchone():
                raise Conflict(f"image {image.short_id} still has references")
            conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
        self._configs.pop(image_id, None)
        from dockyard.images.gc import collect

        result = collect(self, content=self._blobs_of(image) | set(extra_blobs), snapshots=set(chain))
        return [c for c in reversed(chain) if c in result.snapshots]

    def _blobs_of(self, image: Image) -> set[str]:
        blobs = {image.manifest.digest, image.id}
        try:
            blobs.update(layer.digest for layer in self.manifest(image).layers)
        except (NotFound, InvalidArgument):
            pass
        return blobs
