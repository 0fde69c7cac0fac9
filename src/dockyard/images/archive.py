"""`docker save` / `docker load`: the docker-archive format of Docker 20.10, and loading OCI image
layouts packed in a tar (oci-archive) through the same entry point.

A docker-archive, as `docker save` writes it (entries in lexical order)::

    <v1 id>/VERSION       "1.0"
    <v1 id>/json          the legacy v1 image JSON of this layer (Docker's V1Image, Go field order)
    <v1 id>/layer.tar     the layer, an uncompressed tar; a symlink to an earlier layer.tar with the
                          same diff id
    <config hex>.json     the image config, byte for byte as stored (its sha256 is the image id)
    manifest.json         [{"Config": ..., "RepoTags": [...] | null, "Layers": [...]}] (+ "Parent")
    repositories          {"<familiar name>": {"<tag>": "<v1 id of the top layer>"}}

The v1 ids are Docker's (`v1.CreateID`: the sha256 of the V1Image JSON with its `layer_id` (chain
id) and `parent` (the layer below's v1 id) in a sorted-key map), so an archive written here names
its files as Docker's does. Loading reads manifest.json (the v1 files are only read by Docker
versions before 1.10 and ignored here), so archives written by any Docker since then load.

Loading streams the archive once: each layer file is hashed into the content store as it passes,
small JSON files are kept in memory (bounded), and when the archive has been read, manifest.json
says what is what. Every layer's diff id is checked as it is unpacked; any failure removes all of
it (see images/ingest.py).
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from dockyard.errors import InvalidArgument, NotFound, SystemCallError
from dockyard.errors import NotImplemented as Unsupported
from dockyard.images import reference as refs
from dockyard.images.ingest import Ingest, Moved
from dockyard.images.reference import Reference
from dockyard.images.store import Image, ImageStore
from dockyard.images.tario import TarWriter
from dockyard.layers import Compression, detect_compression, open_decompressed
from dockyard.oci import decode as d
from dockyard.oci import gojson
from dockyard.oci import media_types as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image_spec import ContainerConfig, Descriptor, ImageConfig, Timestamp, chain_ids

SMALL_FILE_LIMIT = 16 << 20  # a JSON file of an archive larger than this is refused
SMALL_FILES_TOTAL = 256 << 20
_SYMLINK_HOPS = 16


@dataclass
class LoadResult:
    image_ids: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # what `docker load` prints, line by line


# --- reading an archive ---------------------------------------------------------------------


def clean_member_name(name: str) -> str | None:
    """An archive member's name relative to the archive root; None if it points outside."""
    if name.startswith("/"):
        return None
    clean = posixpath.normpath(name)
    if clean in (".", "..") or clean.startswith("../"):
        return None
    return clean


@dataclass
class ArchiveContents:
    """What was read from an image archive: small files in memory, the others as stored blobs."""

    small: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (digest, size)
    links: dict[str, str] = field(default_factory=dict)  # name -> name it stands for

    def resolve(self, name: str, what: str) -> str:
        clean = clean_member_name(name)
        if clean is None:
            raise InvalidArgument(f"{what}: invalid path {name!r}: it points outside the archive")
        for _ in range(_SYMLINK_HOPS):
            if clean not in self.links:
                return clean
            clean = self.links[clean]
        raise InvalidArgument(f"{what}: {name!r}: too many levels of symbolic links")

    def read(self, name: str, what: str, store: ImageStore) -> bytes:
        """A small file's bytes, whether kept in memory or stored as a blob (Docker 25 archives
        keep configs under blobs/)."""
        clean = self.resolve(name, what)
        if clean in self.small:
            return self.small[clean]
        if clean in self.blobs:
            digest, size = self.blobs[clean]
            if size > SMALL_FILE_LIMIT:
                raise InvalidArgument(f"{what}: {name} is too large ({size} bytes) for a metadata file")
            return store.read_blob(digest)
        raise InvalidArgument(f"{what}: the archive has no file {name!r}")

    def blob(self, name: str, what: str) -> tuple[str, int]:
        clean = self.resolve(name, what)
        if clean not in self.blobs:
            raise InvalidArgument(f"{what}: the archive has no file {name!r}")
        return self.blobs[clean]


def _is_small(name: str) -> bool:
    if name.startswith("blobs/"):
        return False
    base = posixpath.basename(name)
    return base.endswith(".json") or base in ("repositories", "VERSION", "json", "oci-layout")


def read_archive(ingest: Ingest, src: BinaryIO) -> ArchiveContents:
    """Read a tar (plain, gzip, bzip2 or xz) once, front to back."""
    out = ArchiveContents()
    total_small = 0
    try:
        with tarfile.open(fileobj=src, mode="r|*", bufsize=1 << 20) as tf:
            for member in tf:
                name = clean_member_name(member.name)
                if name is None:
                    continue  # never looked up: manifest paths are cleaned the same way
                if member.issym() or member.islnk():
                    base = posixpath.dirname(name) if member.issym() else ""
                    target = clean_member_name(posixpath.join(base, member.linkname))
                    if target is not None:
                        out.links[name] = target
                    continue
                if not member.isreg():
                    continue
                f = cast(BinaryIO, tf.extractfile(member))
                if _is_small(name):
                    if member.size > SMALL_FILE_LIMIT or total_small + member.size > SMALL_FILES_TOTAL:
                        raise InvalidArgument(f"image archive: {name} is too large ({member.size} bytes) for a metadata file")
                    out.small[name] = f.read()
                    total_small += member.size
                    continue
                expected = None
                parts = name.split("/")
                if len(parts) == 3 and parts[0] == "blobs":
                    try:
                        expected = str(Digest(parts[1], parts[2]))
                    except InvalidArgument:
                        expected = None
                out.blobs[name] = ingest.write_stream(f, expected, member.size)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise InvalidArgument(f"image archive: not a readable tar archive: {err}") from err
    return out


def load(store: ImageStore, src: BinaryIO | Path) -> LoadResult:
    """`docker load`: a docker-archive, or an OCI image layout (a directory or a tar of one)."""
    if isinstance(src, Path) and src.is_dir():
        from dockyard.images.oci_layout import load_layout_dir

        return load_layout_dir(store, src)
    with Ingest(store, "load") as ingest:
        if isinstance(src, Path):
            try:
                f = src.open("rb")
            except FileNotFoundError:
                raise NotFound(f"open {src}: no such file or directory") from None
            except OSError as err:
                raise SystemCallError.from_oserror(f"open {src}", err) from err
            with f:
                contents = read_archive(ingest, f)
        else:
            contents = read_archive(ingest, src)
        if "manifest.json" in contents.small:
            image_ids, tags = _stage_docker_archive(ingest, contents)
        elif "index.json" in contents.small:
            from dockyard.images.oci_layout import stage_layout

            image_ids, tags = stage_layout(ingest, contents)
        elif "repositories" in contents.small:
            raise Unsupported("image archive: a pre-1.10 docker-archive (no manifest.json) cannot be loaded")
        else:
            raise InvalidArgument("image archive: neither manifest.json (docker save) nor index.json (OCI image layout) found")
        moved = ingest.commit()
    return LoadResult(image_ids, load_messages(image_ids, tags, moved))


def load_messages(image_ids: list[str], tags: dict[str, list[Reference]], moved: list[Moved]) -> list[str]:
    """What `docker load` prints: a line per tag loaded (or the id of an untagged image), after
    the notice for a tag taken from another image."""
    moved_by_name = {str(m.reference.tag_name_only()): m for m in moved}
    lines: list[str] = []
    for image_id in image_ids:
        if not tags.get(image_id):
            lines.append(f"Loaded image ID: {image_id}")
        for ref in tags.get(image_id, []):
            m = moved_by_name.get(str(ref.tag_name_only()))
            if m is not None:
                lines.append(f"The image {ref.familiar()} already exists, renaming the old one with ID "
                             f"{m.previous_image_id} to empty string")
            lines.append(f"Loaded image: {ref.familiar()}")
    return lines


def _stage_docker_archive(ingest: Ingest, contents: ArchiveContents) -> tuple[list[str], dict[str, list[Reference]]]:
    try:
        import json

        items = json.loads(contents.small["manifest.json"])
    except ValueError as err:
        raise InvalidArgument(f"manifest.json: not valid JSON: {err}") from None
    if not isinstance(items, list):
        raise InvalidArgument("manifest.json: expected a list")
    image_ids: list[str] = []
    tags: dict[str, list[Reference]] = {}
    parents: dict[str, str] = {}
    for i, raw in enumerate(items):
        where = f"manifest.json[{i}]"
        item = d.obj(raw, where)
        config_path = d.required_string(item, "Config", where)
        config_bytes = contents.read(config_path, f"{where}.Config", ingest.store)
        config = ImageConfig.from_bytes(config_bytes, f"image config {config_path}")
        if config.os and config.os != "linux":
            raise InvalidArgument(f"cannot load {config.os} image on linux")
        layer_paths = d.strings(item, "Layers", where)
        if len(layer_paths) != len(config.rootfs.diff_ids):
            raise InvalidArgument(f"invalid manifest, layers length mismatch: expected {len(config.rootfs.diff_ids)}, "
                                  f"got {len(layer_paths)}")
        layers = []
        for n, (path, diff_id) in enumerate(zip(layer_paths, config.rootfs.diff_ids, strict=True)):
            digest, size = contents.blob(path, f"{where}.Layers[{n}]")
            layers.append(Descriptor(_layer_media_type(ingest.store, digest, diff_id, n), digest, size))
        image_id, target = ingest.add_image(config_bytes, config, layers, docker_types=True)
        parent = d.string(item, "Parent", where)
        if parent:
            parents[image_id] = parent
        image_ids.append(image_id)
        for tag in d.strings(item, "RepoTags", where):
            ref = refs.parse_normalized(tag)
            if not ref.tag or ref.digest:
                raise InvalidArgument(f"invalid tag {tag!r}")
            ingest.stage_ref(ref, image_id, target)
            tags.setdefault(image_id, []).append(ref)
    for image_id, parent in parents.items():
        if parent in image_ids or _exists(ingest.store, parent):
            ingest.set_parent(image_id, parent)
    return image_ids, tags


def _exists(store: ImageStore, image_id: str) -> bool:
    try:
        store.image(image_id)
    except NotFound:
        return False
    return True


def _layer_media_type(store: ImageStore, digest: str, diff_id: str, index: int) -> str:
    """A layer file is a plain tar whose digest is its diff id, or compressed (then its diff id is
    checked when it is unpacked)."""
    if digest == diff_id:
        return mt.DOCKER_LAYER
    with store.content.open(Digest.parse(digest)) as f:
        kind = detect_compression(f.read(8))
    if kind is Compression.GZIP:
        return mt.DOCKER_LAYER_GZIP
    if kind is Compression.ZSTD:
        return mt.DOCKER_LAYER_ZSTD
    raise InvalidArgument(f"invalid diffID for layer {index}: expected {diff_id!r}, got {digest!r}")


# --- writing an archive ---------------------------------------------------------------------


@dataclass
class SaveItem:
    image: Image
    tags: list[Reference] = field(default_factory=list)


def resolve_save_names(store: ImageStore, names: Sequence[str]) -> list[SaveItem]:
    """The images and tags `docker save NAME...` writes: a tagged name its image with that tag, a
    repository name alone every tag of that repository, an id (or digest) the image untagged."""
    items: dict[str, SaveItem] = {}

    def add(image: Image, ref: Reference | None) -> None:
        item = items.setdefault(image.id, SaveItem(image))
        if ref is not None and ref.tag and not ref.digest and all(str(t) != str(ref) for t in item.tags):
            item.tags.append(ref)

    for name in names:
        if refs.is_full_id(name.removeprefix("sha256:")):
            add(store.resolve(name), None)
            continue
        ref = refs.parse_normalized(name)
        if not ref.tag and not ref.digest:
            repo_refs = [r for r in store.all_refs() if r.reference.name == ref.name and r.kind == "tag"]
            if repo_refs:
                for r in repo_refs:
                    add(store.image(r.image_id), r.reference)
                continue
            add(store.resolve(name), None)
            continue
        found = store.get_ref(ref)
        if found is None:
            image = store.resolve(name)  # an id prefix, or No such image
            add(image, None)
            continue
        add(store.image(found.image_id), ref if ref.tag and not ref.digest else None)
    return list(items.values())


def v1_image_json(config: ImageConfig, top: bool, layer_id: str = "", parent: str = "") -> dict[str, Any]:
    """Docker's V1Image of one layer of a saved image, in Go field order: the image's own fields for
    the top layer, an empty record created at the epoch for the others."""
    out: dict[str, Any] = {}
    if layer_id:
        out["id"] = layer_id
    if parent:
        out["parent"] = parent
    if not top:
        out["created"] = "1970-01-01T00:00:00Z"
        out["container_config"] = ContainerConfig().to_json()
        return out
    if config.comment:
        out["comment"] = config.comment
    out["created"] = (config.created or Timestamp.zero()).rfc3339nano()
    if config.container:
        out["container"] = config.container
    out["container_config"] = (config.container_config or ContainerConfig()).to_json()
    if config.docker_version:
        out["docker_version"] = config.docker_version
    if config.author:
        out["author"] = config.author
    if config.config is not None:
        out["config"] = config.config.to_json()
    if config.architecture:
        out["architecture"] = config.architecture
    if config.variant:
        out["variant"] = config.variant
    return out


def v1_layer_ids(config: ImageConfig) -> list[str]:
    """The v1 ids `docker save` gives the layers of an image (moby's `v1.CreateID`)."""
    ids: list[str] = []
    chain = chain_ids(config.rootfs.diff_ids)
    for i, chain_id in enumerate(chain):
        record = v1_image_json(config, top=i == len(chain) - 1)
        if i == len(chain) - 1 and config.os:
            record["os"] = config.os
        record["layer_id"] = chain_id
        if ids:
            record["parent"] = "sha256:" + ids[-1]
        ids.append(hashlib.sha256(gojson.dumps(gojson.go_map(record))).hexdigest())
    return ids


def save(store: ImageStore, names: Sequence[str], out: BinaryIO) -> None:
    """`docker save NAME...`: write a docker-archive of the named images to `out`."""
    items = resolve_save_names(store, names)
    with tempfile.TemporaryDirectory(prefix="dockyard-save-") as scratch:
        write_docker_archive(store, items, out, Path(scratch))


@dataclass
class _LayerDir:
    """One `<v1 id>/` directory of a docker-archive."""

    v1_json: bytes
    diff_id: str
    layer: Descriptor
    mtime: int


def write_docker_archive(store: ImageStore, items: list[SaveItem], out: BinaryIO, scratch: Path) -> None:
    files: dict[str, tuple[bytes, int]] = {}  # top-level file -> (content, mtime)
    dirs: dict[str, _LayerDir] = {}  # v1 id -> its directory
    layer_paths: dict[str, str] = {}  # diff id -> the "<v1 id>/layer.tar" that holds it
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    saved = {item.image.id for item in items}
    for item in items:
        config = store.config(item.image.id)
        if not config.rootfs.diff_ids:
            raise Unsupported("empty export - not implemented")
        image_manifest = store.manifest(item.image)
        created = max((config.created or Timestamp(0)).unix(), 0)
        v1_ids = v1_layer_ids(config)
        paths: list[str] = []
        for i, (v1_id, diff_id, layer) in enumerate(zip(v1_ids, config.rootfs.diff_ids, image_manifest.layers, strict=True)):
            record = v1_image_json(config, top=i == len(v1_ids) - 1, layer_id=v1_id, parent=v1_ids[i - 1] if i else "")
            if config.os:
                record["os"] = config.os
            dirs[v1_id] = _LayerDir(gojson.dumps(record), diff_id, layer, created)
            layer_paths.setdefault(diff_id, f"{v1_id}/layer.tar")
            paths.append(f"{v1_id}/layer.tar")
        hexid = item.image.id.split(":", 1)[1]
        files[f"{hexid}.json"] = (store.read_blob(item.image.id), created)
        record = {"Config": f"{hexid}.json", "RepoTags": [t.familiar() for t in item.tags] or None, "Layers": paths}
        if item.image.parent in saved and _is_prefix(store, item.image.parent, config.rootfs.diff_ids):
            record["Parent"] = item.image.parent
        manifest.append(record)
        for tag in item.tags:
            repositories.setdefault(tag.familiar_name(), {})[tag.tag] = v1_ids[-1]
    # Docker writes these two with json.Encoder, which ends them with a newline
    files["manifest.json"] = (gojson.dumps(manifest) + b"\n", 0)
    if repositories:
        files["repositories"] = (gojson.dumps(gojson.go_map({k: gojson.go_map(v) for k, v in repositories.items()}))
                                 + b"\n", 0)
    writer = TarWriter(out)
    for name in sorted([*files, *dirs]):  # lexical, as Docker tars its staging directory
        if name in files:
            writer.add_bytes(name, *files[name])
            continue
        d = dirs[name]
        writer.add_dir(name, d.mtime)
        writer.add_bytes(f"{name}/VERSION", b"1.0", d.mtime)
        writer.add_bytes(f"{name}/json", d.v1_json, d.mtime)
        first = layer_paths[d.diff_id]
        if first != f"{name}/layer.tar":
            writer.add_symlink(f"{name}/layer.tar", f"../{first}", d.mtime)
        else:
            _add_plain_layer(store, writer, first, d.layer, d.mtime, scratch)
    writer.close()


def _is_prefix(store: ImageStore, parent: str, diff_ids: list[str]) -> bool:
    parent_ids = store.config(parent).rootfs.diff_ids
    return diff_ids[:len(parent_ids)] == parent_ids


def _add_plain_layer(store: ImageStore, writer: TarWriter, name: str, layer: Descriptor, mtime: int, scratch: Path) -> None:
    """Add a layer as the uncompressed tar docker-archive holds (decompressed on the way if the
    blob is compressed)."""
    if mt.layer_compression(layer.media_type) == "":
        writer.add_file(name, store.blob_path(layer.digest), layer.size, mtime)
        return
    plain_path = scratch / "layer.tar"
    with store.content.open(Digest.parse(layer.digest)) as blob, plain_path.open("wb") as plain:
        stream, _ = open_decompressed(blob)
        shutil.copyfileobj(stream, plain, 1 << 20)
    writer.add_file(name, str(plain_path), plain_path.stat().st_size, mtime)
    plain_path.unlink()
