"""`ImageService`: the image operations the engine (and through it the API) calls, with Docker's
semantics and Docker's result shapes (`docker images`, `docker image inspect`, `docker history`,
`docker rmi`, `docker image prune`, `docker save`/`load`/`import`/`commit`, `docker tag`).

Constructed explicitly with its data root; nothing global:

    images = ImageService(Path("/var/lib/dockyard"), in_use=engine.image_users)
    images.load(Path("busybox.tar")).messages   # ["Loaded image: busybox:latest"]
    images.inspect("busybox")["Id"]
    images.remove("busybox")                    # [{"Untagged": "busybox:latest"}, {"Deleted": ...}]

On disk under the data root: `metadata.db` (see dockyard.metadata), `content/` (the blob store),
`snapshots/` (the snapshotter's). The engine may pass its own content store and snapshotter.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from dockyard.content import LocalStore
from dockyard.content import Store as ContentStore
from dockyard.errors import InvalidArgument, NotFound
from dockyard.images import archive, commit, oci_layout
from dockyard.images import reference as refs
from dockyard.images.archive import LoadResult
from dockyard.images.gc import GCResult, collect
from dockyard.images.ingest import Ingest
from dockyard.images.remove import ImageUse, InUse, Remover
from dockyard.images.store import Image, ImageStore, Ref
from dockyard.images.tario import atomic_output
from dockyard.metadata import MetadataDB
from dockyard.oci.image_spec import (
    ContainerConfig,
    ImageConfig,
    Platform,
    Timestamp,
    chain_ids,
    host_platform,
)
from dockyard.snapshots import Snapshotter, new_snapshotter

ZERO_TIME = "0001-01-01T00:00:00Z"


def _containers_table_users(db: MetadataDB) -> InUse:
    """The default `in_use`: containers recorded in the metadata database (running state unknown)."""
    def in_use(image_id: str) -> list[ImageUse]:
        with db.read("list containers of image") as conn:
            return [ImageUse(cid) for (cid,) in conn.execute(
                "SELECT id FROM containers WHERE image_id = ? ORDER BY created", (image_id,))]
    return in_use


class ImageService:
    def __init__(self, data_root: Path | str, *, content: ContentStore | None = None,
                 snapshotter: Snapshotter | None = None, in_use: InUse | None = None,
                 platform: Platform | None = None) -> None:
        self.root = Path(data_root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = MetadataDB.open(self.root)
        self.content: ContentStore = content if content is not None else LocalStore(self.root / "content")
        self._own_snapshotter = snapshotter is None
        self.snapshotter: Snapshotter = snapshotter if snapshotter is not None else new_snapshotter(str(self.root / "snapshots"))
        self.store = ImageStore(self.db, self.content, self.snapshotter, platform or host_platform())
        self.in_use: InUse = in_use or _containers_table_users(self.db)
        self._remover = Remover(self.store, lambda image_id: self.in_use(image_id))

    def close(self) -> None:
        """Close what this service opened (a snapshotter passed in stays open)."""
        if self._own_snapshotter:
            self.snapshotter.close()
        self.db.close()

    def __enter__(self) -> ImageService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- lookups ----------------------------------------------------------------------------

    def resolve(self, name: str) -> Image:
        """An image by name, id, or id prefix (NotFound: `No such image: x:latest`)."""
        return self.store.resolve(name)

    def config(self, name: str) -> ImageConfig:
        return self.store.config(self.resolve(name).id)

    def rootfs_parent(self, name: str) -> str | None:
        """The committed snapshot (chain id) a container of this image is prepared on, unpacked
        again from the image's blobs if it went missing; None for an image without layers."""
        image = self.resolve(name)
        top = self.store.top_layer(image.id)
        if top is not None:
            try:
                self.snapshotter.stat(top)
            except NotFound:
                with Ingest(self.store, "unpack") as ingest:
                    ingest.unpack(self.store.manifest(image), self.store.config(image.id))
                    ingest.commit()
        return top

    def driver_name(self) -> str:
        return "overlayfs" if type(self.snapshotter).__name__.startswith("Overlay") else "native"

    # --- names ------------------------------------------------------------------------------

    def tag(self, source: str, repo: str, tag: str = "") -> str:
        """`docker tag SOURCE REPO[:TAG]`; the new name, familiar."""
        image = self.resolve(source)
        ref = refs.parse_tag_target(repo, tag)
        self.store.tag(image.id, ref)
        return ref.familiar()

    def untag(self, name: str) -> str:
        """Remove one name (tag or digest reference), never the image; the name removed."""
        ref = refs.parse_normalized(name)
        found = self.store.get_ref(ref)
        if found is None:
            raise NotFound(f"No such image: {ref.tag_name_only().familiar()}")
        self.store.remove_ref(found.name)
        return found.familiar()

    # --- Docker's views ---------------------------------------------------------------------

    def _names(self, image_id: str) -> tuple[list[str], list[str]]:
        names = sorted(self.store.refs_of(image_id), key=Ref.familiar)
        return ([r.familiar() for r in names if r.kind == "tag"], [r.familiar() for r in names if r.kind == "digest"])

    def inspect(self, name: str) -> dict[str, Any]:
        """`docker image inspect NAME` (GET /images/{name}/json), field for field."""
        image = self.resolve(name)
        config = self.store.config(image.id)
        tags, digests = self._names(image.id)
        out: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": tags,
            "RepoDigests": digests,
            "Parent": image.parent,
            # Docker shows the newest history comment when the config has none (a commit's -m)
            "Comment": config.comment or (config.history[-1].comment if config.history else ""),
            "Created": (config.created or Timestamp.zero()).rfc3339nano(),
            "Container": config.container,
            "ContainerConfig": (config.container_config or ContainerConfig()).to_json(),
            "DockerVersion": config.docker_version,
            "Author": config.author,
            "Config": None if config.config is None else config.config.to_json(),
            "Architecture": config.architecture,
        }
        if config.variant:
            out["Variant"] = config.variant
        out["Os"] = config.os
        if config.os_version:
            out["OsVersion"] = config.os_version
        out.update({
            "Size": image.size,
            "VirtualSize": image.size,
            "GraphDriver": {"Data": None, "Name": self.driver_name()},
            "RootFS": {"Type": config.rootfs.type, **({"Layers": list(config.rootfs.diff_ids)} if config.rootfs.diff_ids else {})},
            "Metadata": {"LastTagTime": image.last_tag_time or ZERO_TIME},
        })
        return out

    def list_images(self, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
        """`docker images` (GET /images/json): newest first; `all` shows untagged intermediate
        images too. Filters: dangling=true|false, label=KEY[=VALUE], reference=PATTERN,
        before=IMAGE, since=IMAGE."""
        filters = filters or {}
        unknown = set(filters) - {"dangling", "label", "reference", "before", "since"}
        if unknown:
            raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
        dangling = _bool_filter(filters, "dangling")
        before = min((self._created(self.resolve(b).id) for b in filters.get("before", [])), default=None)
        since = max((self._created(self.resolve(s).id) for s in filters.get("since", [])), default=None)
        images = self.store.images()
        parents = {i.parent for i in images if i.parent}
        out: list[tuple[int, dict[str, Any]]] = []
        for image in images:
            config = self.store.config(image.id)
            created = self._created(image.id)
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            labels = config.config.labels if config.config else None
            if not _labels_match(filters.get("label", []), labels):
                continue
            names = self.store.refs_of(image.id)
            patterns = filters.get("reference", [])
            if patterns:
                names = [n for n in names if any(_ref_matches(p, n) for p in patterns)]
            tags = sorted(n.familiar() for n in names if n.kind == "tag") or None
            digests = sorted(n.familiar() for n in names if n.kind == "digest") or None
            if tags is None and digests is None:
                # Docker lists dangling images from the heads only (images without children)
                if patterns or dangling is False or ((not all or dangling) and image.id in parents):
                    continue
                tags, digests = ["<none>:<none>"], ["<none>@<none>"]
            elif dangling and tags:
                continue
            out.append((created, {
                "Containers": -1, "Created": created, "Id": image.id, "Labels": labels, "ParentId": image.parent,
                "RepoDigests": digests, "RepoTags": tags, "SharedSize": -1, "Size": image.size,
                "VirtualSize": image.size,
            }))
        out.sort(key=lambda item: item[0], reverse=True)
        return [summary for _, summary in out]

    def _created(self, image_id: str) -> int:
        return (self.store.config(image_id).created or Timestamp.zero()).unix()

    def history(self, name: str) -> list[dict[str, Any]]:
        """`docker history NAME` (GET /images/{name}/history): newest first, `<missing>` for the
        entries that are no local image."""
        image = self.resolve(name)
        config = self.store.config(image.id)
        chain = chain_ids(config.rootfs.diff_ids)
        sizes = self.store.layer_sizes(chain)
        entries: list[dict[str, Any]] = []
        layer = 0
        for h in config.history:
            size = 0
            if not h.empty_layer:
                if layer >= len(chain):
                    raise InvalidArgument("too many non-empty layers in History section")
                size = sizes.get(chain[layer], 0)
                layer += 1
            entries.insert(0, {"Comment": h.comment, "Created": (h.created or Timestamp.zero()).unix(),
                               "CreatedBy": h.created_by, "Id": "<missing>", "Size": size, "Tags": None})
        current: Image | None = image
        for entry in entries:
            if current is None:
                break
            entry["Id"] = current.id
            tags, _ = self._names(current.id)
            entry["Tags"] = tags or None
            if not current.parent:
                break
            try:
                current = self.store.image(current.parent)
            except NotFound:
                current = None
        return entries

    # --- removal ----------------------------------------------------------------------------

    def remove(self, name: str, force: bool = False, prune: bool = True) -> list[dict[str, Any]]:
        """`docker rmi [-f] [--no-prune] NAME`: Docker's Untagged/Deleted records."""
        return self._remover.delete(name, force=force, prune=prune)

    def prune(self, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """`docker image prune [-a]`: {"ImagesDeleted": [...] | None, "SpaceReclaimed": bytes}."""
        filters = filters or {}
        unknown = set(filters) - {"dangling", "label", "until"}
        if unknown:
            raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
        dangling = _bool_filter(filters, "dangling")
        until = None
        for value in filters.get("until", []):
            until = parse_until(value)
        label_filters = filters.get("label", [])
        return self._remover.prune(dangling_only=not all if dangling is None else dangling, until=until,
                                   labels=(lambda labels: _labels_match(label_filters, labels)) if label_filters else None)

    def gc(self) -> GCResult:
        """Remove every blob and snapshot no image, name, container or live lease holds."""
        return collect(self.store)

    # --- archives ---------------------------------------------------------------------------

    def save(self, names: Sequence[str], out: BinaryIO | Path, format: str = "docker") -> None:
        """`docker save`: a docker-archive (format "docker") or an OCI layout tar ("oci") of the
        named images, to a stream or a file (written atomically)."""
        writers = {"docker": archive.save, "oci": oci_layout.save_oci_archive}
        if format not in writers:
            raise InvalidArgument(f"unknown archive format {format!r} (docker, oci)")
        if not names:
            raise InvalidArgument("no images to save")
        if isinstance(out, Path):
            with atomic_output(out) as f:
                writers[format](self.store, names, f)
        else:
            writers[format](self.store, names, out)

    def save_oci_layout(self, names: Sequence[str], dest: Path) -> None:
        """The named images as an OCI image layout directory (`skopeo ... oci:DEST`)."""
        oci_layout.save_layout_dir(self.store, names, dest)

    def load(self, src: BinaryIO | Path) -> LoadResult:
        """`docker load`: a docker-archive or an OCI layout (a tar of one, or a directory)."""
        return archive.load(self.store, src)

    def import_rootfs(self, src: BinaryIO, *, repo: str = "", tag: str = "", changes: Sequence[str] = (),
                      message: str = "", source: str = "-", platform: Platform | None = None) -> str:
        """`docker import`: a rootfs tarball as a one-layer image; its id."""
        return commit.import_rootfs(self.store, src, repo=repo, tag=tag, changes=changes, message=message,
                                    source=source, platform=platform)

    def commit(self, *, container_id: str, snapshot_key: str, image: str, container_config: ContainerConfig,
               config: ContainerConfig | None = None, changes: Sequence[str] = (), author: str = "",
               comment: str = "", repo: str = "", tag: str = "") -> str:
        """`docker commit`: the container's snapshot (made from `image`, an id or "") as a new
        image whose parent is that image; its id."""
        image_id = self.resolve(image).id if image else ""
        return commit.commit(self.store, container_id=container_id, snapshot_key=snapshot_key, image_id=image_id,
                             container_config=container_config, config=config, changes=changes, author=author,
                             comment=comment, repo=repo, tag=tag)


def _bool_filter(filters: Mapping[str, Sequence[str]], key: str) -> bool | None:
    values = filters.get(key, [])
    if not values:
        return None
    value = values[-1].lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidArgument(f"Invalid filter '{key}={values[-1]}'")


def _labels_match(wanted: Sequence[str], labels: dict[str, str] | None) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in (labels or {}) or (sep and (labels or {})[key] != value):
            return False
    return True


def _ref_matches(pattern: str, ref: Ref) -> bool:
    """Docker's reference filter: path.Match against the familiar reference, or its name alone."""
    familiar = ref.familiar()
    name = ref.reference.familiar_name()
    return fnmatch.fnmatchcase(familiar, pattern) or fnmatch.fnmatchcase(name, pattern)


def parse_until(value: str) -> float:
    """Docker's `until=` filter value (unix seconds, a duration ago as "10m", or RFC 3339) as unix
    seconds; for images here and for containers in the engine."""
    import time

    try:
        return float(value)
    except ValueError:
        pass
    units = {"s": 1, "m": 60, "h": 3600}
    if value and value[-1] in units:
        try:
            return time.time() - float(value[:-1]) * units[value[-1]]
        except ValueError:
            pass
    try:
        return Timestamp.parse(value).unix_ns / 1e9
    except InvalidArgument:
        raise InvalidArgument(f"invalid filter 'until={value}'") from None
