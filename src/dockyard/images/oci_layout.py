"""OCI image layouts (image-spec `image-layout.md`): saving images to one, as a directory or a tar
(oci-archive), and loading from either.

    oci-layout            {"imageLayoutVersion": "1.0.0"}
    index.json            an image index; one entry per name (or per untagged image)
    blobs/<alg>/<hex>     manifests, configs, layers: every file named by its digest

Images kept as Docker schema 2 are written with an OCI manifest of the same blobs (as skopeo
does when copying them into a layout): the config bytes, hence the image id, are unchanged.
Names are written as containerd and Docker 25+ write them: `io.containerd.image.name` holds the
full reference and `org.opencontainers.image.ref.name` the tag (what `skopeo ... oci:DIR:TAG`
selects). On loading, the first is used, else the second if it is a whole reference
(`busybox:latest`); a bare tag names nothing (the image is loaded untagged).

Loading verifies every blob it uses against the digest and size its descriptor gives before the
image is published; a missing or mismatching blob, a manifest naming a missing blob, or a layer
whose diff id does not match fails the whole load and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound, SystemCallError
from dockyard.images import reference as refs
from dockyard.images.archive import ArchiveContents, LoadResult, SaveItem, load_messages, resolve_save_names
from dockyard.images.ingest import Ingest
from dockyard.images.reference import Reference
from dockyard.images.store import ImageStore
from dockyard.images.tario import TarWriter, fsync_dir
from dockyard.oci import decode as d
from dockyard.oci import gojson
from dockyard.oci import media_types as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import Descriptor, ImageConfig, Index, Manifest

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
_MAX_DEPTH = 8


class _Blobs(Protocol):
    def ensure(self, desc: Descriptor, what: str) -> None:
        """Make sure the blob is in the content store, verified against `desc`."""
        ...


class _DirBlobs:
    def __init__(self, ingest: Ingest, root: Path) -> None:
        self.ingest, self.root = ingest, root

    def ensure(self, desc: Descriptor, what: str) -> None:
        digest = Digest.parse(desc.digest)
        path = self.root / "blobs" / digest.algorithm / digest.hex
        if self.ingest.has_blob(desc.digest, desc.size):
            return
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise InvalidArgument(f"{what} names a missing blob {desc.digest}") from None
        except OSError as err:
            raise InvalidArgument(f"{what}: cannot read blob {desc.digest}: {err}") from err
        with f:
            self.ingest.write_stream(f, desc.digest, desc.size)


class _TarBlobs:
    def __init__(self, ingest: Ingest, contents: ArchiveContents) -> None:
        self.ingest, self.contents = ingest, contents

    def ensure(self, desc: Descriptor, what: str) -> None:
        digest = Digest.parse(desc.digest)
        found = self.contents.blobs.get(f"blobs/{digest.algorithm}/{digest.hex}")
        if found is None:
            if self.ingest.has_blob(desc.digest, desc.size):
                return
            raise InvalidArgument(f"{what} names a missing blob {desc.digest}")
        if found[1] != desc.size:
            raise InvalidArgument(f"{what}: blob {desc.digest} has {found[1]} bytes, the descriptor says {desc.size}")


def _name_of(desc: Descriptor) -> Reference | None:
    name = desc.annotations.get(ANNOTATION_IMAGE_NAME, "")
    if not name:
        candidate = desc.annotations.get(ANNOTATION_REF_NAME, "")
        if ":" in candidate or "/" in candidate or "@" in candidate:
            name = candidate
    if not name:
        return None
    ref = refs.parse_normalized(name)
    if ref.digest:
        return None
    return ref.tag_name_only()


def _stage(ingest: Ingest, index_bytes: bytes, layout_bytes: bytes | None,
           blobs: _Blobs) -> tuple[list[str], dict[str, list[Reference]]]:
    if layout_bytes is None:
        raise InvalidArgument("OCI layout: no oci-layout file")
    try:
        layout = d.obj(json.loads(layout_bytes), "oci-layout")
    except ValueError as err:
        raise InvalidArgument(f"oci-layout: not valid JSON: {err}") from None
    version = d.required_string(layout, "imageLayoutVersion", "oci-layout")
    if version.split(".")[0] != "1":
        raise InvalidArgument(f"oci-layout: unsupported imageLayoutVersion {version!r}")
    index = Index.from_bytes(index_bytes, mt.OCI_INDEX, "index.json")
    image_ids: list[str] = []
    tags: dict[str, list[Reference]] = {}
    done: dict[str, str] = {}  # target digest -> image id
    for n, target in enumerate(index.manifests):
        what = f"index.json manifests[{n}]"
        image_id = done.get(target.digest)
        if image_id is None:
            image_id = _stage_target(ingest, target, blobs, what)
            done[target.digest] = image_id
            if image_id not in image_ids:
                image_ids.append(image_id)
        ref = _name_of(target)
        if ref is not None:
            plain_target = Descriptor(target.media_type, target.digest, target.size)
            ingest.stage_ref(ref, image_id, plain_target)
            tags.setdefault(image_id, []).append(ref)
    return image_ids, tags


def _stage_target(ingest: Ingest, target: Descriptor, blobs: _Blobs, what: str) -> str:
    store = ingest.store
    desc = target
    for _ in range(_MAX_DEPTH):
        blobs.ensure(desc, what)
        if desc.media_type not in mt.INDEXES:
            break
        index = Index.from_bytes(store.read_blob(desc.digest), desc.media_type, f"index {desc.digest}")
        chosen = index.select(store.platform)
        if chosen is None:
            raise NotFound(f"{what}: no matching manifest for {store.platform} in the manifest list entries "
                           f"(index {desc.digest})")
        desc, what = chosen, f"index {desc.digest}"
    else:
        raise InvalidArgument(f"{what}: indexes nested too deeply")
    if desc.media_type not in mt.MANIFESTS:
        raise InvalidArgument(f"{what}: unsupported media type {desc.media_type!r}")
    manifest = Manifest.from_bytes(store.read_blob(desc.digest), desc.media_type, f"manifest {desc.digest}")
    where = f"manifest {desc.digest}"
    if manifest.config.media_type not in mt.CONFIGS:
        raise InvalidArgument(f"{where}: config has unsupported media type {manifest.config.media_type!r}")
    blobs.ensure(manifest.config, where)
    for layer in manifest.layers:
        blobs.ensure(layer, where)
    config = ImageConfig.from_bytes(store.read_blob(manifest.config.digest), f"image config {manifest.config.digest}")
    size = ingest.unpack(manifest, config)
    ingest.stage_image(manifest.config.digest, Descriptor(desc.media_type, desc.digest, desc.size), size)
    return manifest.config.digest


def stage_layout(ingest: Ingest, contents: ArchiveContents) -> tuple[list[str], dict[str, list[Reference]]]:
    """Stage the images of an OCI layout read from a tar."""
    return _stage(ingest, contents.small["index.json"], contents.small.get("oci-layout"), _TarBlobs(ingest, contents))


def load_layout_dir(store: ImageStore, root: Path) -> LoadResult:
    """Load every image of an OCI layout directory."""
    def read(name: str) -> bytes | None:
        try:
            return (root / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise InvalidArgument(f"OCI layout {root}: cannot read {name}: {err}") from err

    index_bytes = read("index.json")
    if index_bytes is None:
        raise InvalidArgument(f"OCI layout {root}: no index.json")
    with Ingest(store, "load") as ingest:
        image_ids, tags = _stage(ingest, index_bytes, read("oci-layout"), _DirBlobs(ingest, root))
        moved = ingest.commit()
    return LoadResult(image_ids, load_messages(image_ids, tags, moved))


# --- saving ---------------------------------------------------------------------------------


_TO_OCI = {mt.DOCKER_CONFIG: mt.OCI_CONFIG, mt.DOCKER_LAYER: mt.OCI_LAYER, mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP,
           mt.DOCKER_LAYER_ZSTD: mt.OCI_LAYER_ZSTD, mt.DOCKER_FOREIGN_LAYER_GZIP: mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP}


def _oci_manifest(manifest: Manifest) -> bytes:
    """A Docker schema 2 manifest as the OCI manifest of the same blobs (what skopeo writes when it
    copies a Docker image into a layout; tools select layout entries by OCI media types)."""
    def convert(desc: Descriptor) -> Descriptor:
        return Descriptor(_TO_OCI.get(desc.media_type, desc.media_type), desc.digest, desc.size, desc.urls)

    return Manifest(convert(manifest.config), [convert(layer) for layer in manifest.layers], mt.OCI_MANIFEST).to_bytes()


@dataclass
class _Plan:
    index: bytes  # index.json
    stored: dict[str, int] = field(default_factory=dict)  # blobs copied from the content store: digest -> size
    made: dict[str, bytes] = field(default_factory=dict)  # blobs made for the layout (OCI manifests): digest -> bytes


def _layout_plan(store: ImageStore, items: list[SaveItem]) -> _Plan:
    entries: list[Descriptor] = []
    plan = _Plan(b"")
    for item in items:
        manifest = store.manifest(item.image)
        for desc in (manifest.config, *manifest.layers):
            plan.stored[desc.digest] = desc.size
        if item.image.manifest.media_type == mt.DOCKER_MANIFEST:
            data = _oci_manifest(manifest)
            target = Descriptor(mt.OCI_MANIFEST, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
            plan.made[target.digest] = data
        else:
            target = Descriptor(item.image.manifest.media_type, item.image.manifest.digest, item.image.manifest.size)
            plan.stored[target.digest] = target.size
        if not item.tags:
            entries.append(target)
        for tag in item.tags:
            entries.append(Descriptor(target.media_type, target.digest, target.size,
                                      annotations={ANNOTATION_IMAGE_NAME: str(tag), ANNOTATION_REF_NAME: tag.tag}))
    plan.index = Index(entries, mt.OCI_INDEX).to_bytes()
    return plan


def _layout_file() -> bytes:
    return gojson.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION})


def save_layout_dir(store: ImageStore, names: Sequence[str], dest: Path) -> None:
    """Write the named images as an OCI layout directory `dest` (which must not exist, or be an
    empty directory). It is built beside `dest` and renamed into place when complete."""
    plan = _layout_plan(store, resolve_save_names(store, names))
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise AlreadyExists(f"{dest}: exists and is not an empty directory")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as err:
        raise SystemCallError.from_oserror(f"create {dest}", err) from err
    try:
        for digest in [*plan.stored, *plan.made]:
            (tmp / "blobs" / Digest.parse(digest).algorithm).mkdir(parents=True, exist_ok=True)
        for digest in plan.stored:
            _copy_synced(store.blob_path(digest), tmp / "blobs" / digest.replace(":", "/", 1))
        for path, data in [*((f"blobs/{d.replace(':', '/', 1)}", b) for d, b in plan.made.items()),
                           ("oci-layout", _layout_file()), ("index.json", plan.index)]:
            with open(tmp / path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for sub in [*(tmp / "blobs").iterdir(), tmp / "blobs", tmp]:
            fsync_dir(sub)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise SystemCallError.from_oserror(f"write OCI layout {dest}", err) from err
        raise
    with suppress(OSError):
        os.chmod(dest, 0o755)


def _copy_synced(src: str, dst: Path) -> None:
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(dst, 0o644)


def save_oci_archive(store: ImageStore, names: Sequence[str], out: BinaryIO) -> None:
    """Write the named images as a tar of an OCI layout (what `skopeo copy ... oci-archive:` reads)."""
    plan = _layout_plan(store, resolve_save_names(store, names))
    writer = TarWriter(out)
    writer.add_bytes("oci-layout", _layout_file(), 0)
    writer.add_bytes("index.json", plan.index, 0)
    writer.add_dir("blobs", 0)
    for algorithm in sorted({digest.split(":", 1)[0] for digest in [*plan.stored, *plan.made]}):
        writer.add_dir(f"blobs/{algorithm}", 0)
    for digest, data in plan.made.items():
        writer.add_bytes(f"blobs/{digest.replace(':', '/', 1)}", data, 0)
    for digest, size in plan.stored.items():
        writer.add_file(f"blobs/{digest.replace(':', '/', 1)}", store.blob_path(digest), size, 0)
    writer.close()
