"""New images from a filesystem: `docker import` (a rootfs tarball as a one-layer image) and
`docker commit` (a container's changes as a new layer on its image), with Docker's configs.

Import (moby's ImportImage): the tar (plain or compressed) is stored uncompressed, so its diff id
is the sha256 of the tar as given, as in Docker; the config is the changes applied to an empty
container config, `comment` and one history entry carry the message ("Imported from -" by default).

Commit (moby's CommitImage and NewChildImage): the container's writable snapshot is diffed against
its image's top layer into an uncompressed tar layer; the config is the caller's (or the
container's) with the changes applied, then merged with the container's (Docker's `merge`: empty
fields filled from it); history gains an entry with author, comment and the container's command
as created_by, `empty_layer` when the diff is empty (the layer is then not added); `container` and
`container_config` record the container; the new image's parent is the container's image.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from contextlib import suppress
from typing import BinaryIO

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.images import reference as refs
from dockyard.images.changes import apply_changes
from dockyard.images.ingest import Ingest
from dockyard.images.store import EMPTY_LAYER_DIFF_ID, ImageStore
from dockyard.layers import Compression, open_decompressed, write_layer_from_mounts
from dockyard.metadata import CONTENT
from dockyard.oci import media_types as mt
from dockyard.oci.image_spec import (
    ContainerConfig,
    Descriptor,
    History,
    ImageConfig,
    Platform,
    RootFS,
    Timestamp,
    merge_config,
)


def _target_ref(repo: str, tag: str, what: str) -> refs.Reference | None:
    if not repo:
        return None
    ref = refs.parse_normalized(repo)
    if ref.digest:
        raise InvalidArgument(f"cannot {what} digest reference")
    if tag:
        ref = ref.trim().with_tag(tag)
    return refs.parse_tag_target(str(ref))


def import_rootfs(store: ImageStore, src: BinaryIO, *, repo: str = "", tag: str = "", changes: Sequence[str] = (),
                  message: str = "", source: str = "-", platform: Platform | None = None) -> str:
    """`docker import`: a root filesystem tar (plain, gzip or zstd) as a one-layer image; its id."""
    new_ref = _target_ref(repo, tag, "import")
    config = apply_changes(ContainerConfig(), changes)
    platform = platform or store.platform
    message = message or f"Imported from {source}"
    with Ingest(store, "import") as ingest:
        plain, _ = open_decompressed(src)
        diff_id, size = ingest.write_stream(plain)
        created = Timestamp.now()
        image_config = ImageConfig(
            architecture=platform.architecture, os=platform.os, variant=platform.variant, created=created,
            comment=message, config=config, rootfs=RootFS("layers", [diff_id]),
            history=[History(created=created, comment=message)])
        image_id, target = ingest.add_image(image_config.to_bytes(), image_config,
                                            [Descriptor(mt.DOCKER_LAYER, diff_id, size)], docker_types=True)
        if new_ref is not None:
            ingest.stage_ref(new_ref, image_id, target)
        ingest.commit()
    return image_id


def commit(store: ImageStore, *, container_id: str, snapshot_key: str, image_id: str,
           container_config: ContainerConfig, config: ContainerConfig | None = None, changes: Sequence[str] = (),
           author: str = "", comment: str = "", repo: str = "", tag: str = "", os_name: str = "linux") -> str:
    """`docker commit`: the container's snapshot `snapshot_key`, made from image `image_id` ("" for
    none), as a new image; its id."""
    new_ref = _target_ref(repo, tag, "commit to")
    new_config = merge_config(apply_changes(config or container_config, changes), container_config)
    parent = store.config(image_id) if image_id else ImageConfig(rootfs=RootFS())
    parent_layers = store.manifest(store.image(image_id)).layers if image_id else []
    docker_types = not image_id or store.image(image_id).manifest.media_type == mt.DOCKER_MANIFEST
    snapshotter = store.snapshotter
    with Ingest(store, "commit") as ingest:
        top = store.top_layer(image_id) if image_id else None
        view_key = f"dockyard-view-{secrets.token_hex(8)}"
        lower = []
        if top is not None:
            ingest.pin("snapshot", view_key)
            lower = snapshotter.view(view_key, top)
        try:
            with store.content.writer() as w:
                result = write_layer_from_mounts(lower, snapshotter.mounts(snapshot_key), w, Compression.NONE)
                ingest.pin(CONTENT, str(w.digest()))
                info = w.commit()
        finally:
            if top is not None:
                with suppress(DockyardError):
                    snapshotter.remove(view_key)
        diff_id = str(result.diff_id)
        empty = diff_id == EMPTY_LAYER_DIFF_ID
        created = Timestamp.now()
        history = History(created=created, created_by=" ".join(container_config.cmd or []), author=author,
                          comment=comment, empty_layer=empty)
        layers = list(parent_layers)
        diff_ids = list(parent.rootfs.diff_ids)
        if not empty:
            layers.append(Descriptor(mt.DOCKER_LAYER if docker_types else mt.OCI_LAYER, str(info.digest), info.size))
            diff_ids.append(diff_id)
        image_config = ImageConfig(
            architecture=parent.architecture or store.platform.architecture, variant=parent.variant, os=os_name,
            os_version=parent.os_version, os_features=list(parent.os_features), created=created, author=author,
            container=container_id, container_config=container_config, config=new_config,
            rootfs=RootFS("layers", diff_ids), history=[*parent.history, history])
        new_id, target = ingest.add_image(image_config.to_bytes(), image_config, layers, docker_types, parent=image_id)
        if new_ref is not None:
            ingest.stage_ref(new_ref, new_id, target)
        ingest.commit()
    return new_id
