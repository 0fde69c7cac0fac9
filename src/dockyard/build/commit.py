"""Images made by build steps (moby's NewChildImage, CommitBuildStep and CreateImage).

    image_id = commit_step(store, StepCommit(parent_id, parent_config, config, container_config,
                                             container_id, author, layer))

The new image's config is the step's run config; `container_config` is what the step ran (the
`#(nop)` command of a metadata instruction, the RUN's command line); history gains one entry whose
`created_by` is that command joined by spaces, `empty_layer` when the step changed no file (the
layer is then left out of rootfs); architecture, variant, OS features and version come from the
parent; the parent is recorded as Docker's local parent (what the build cache looks at).

The layer, when there is one, is an uncompressed tar already in the content store (diff id =
digest, as `docker commit` stores them); the images ingest unpacks it onto the parent's layers.
Nothing is visible until the image is registered, and a failure removes what this step added.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from dockyard.images.ingest import Ingest
from dockyard.images.store import ImageStore
from dockyard.oci import media_types as mt
from dockyard.oci.image_spec import (
    ContainerConfig,
    Descriptor,
    History,
    ImageConfig,
    RootFS,
    Timestamp,
    merge_config,
)

__all__ = ["Layer", "StepCommit", "commit_step", "copy_config", "merge_container_config"]


@dataclass
class Layer:
    """A layer blob in the content store: an uncompressed tar, so digest = diff id."""

    digest: str
    size: int


@dataclass
class StepCommit:
    parent_id: str  # "" for FROM scratch
    parent: ImageConfig  # the parent's config (an empty one with the OS set for scratch)
    config: ContainerConfig  # the image's config after the step
    container_config: ContainerConfig  # what the step ran
    container_id: str = ""  # "" for COPY/ADD, which use no container
    author: str = ""
    layer: Layer | None = None  # None when the step changed nothing


def commit_step(store: ImageStore, step: StepCommit, ingest: Ingest | None = None) -> str:
    """Register the step's image; its id. With `ingest`, the caller commits it."""
    parent = step.parent
    created = Timestamp.now()
    history = History(created=created, created_by=" ".join(step.container_config.cmd or []), author=step.author,
                      empty_layer=step.layer is None)
    docker_types = True
    layers: list[Descriptor] = []
    if step.parent_id:
        image = store.image(step.parent_id)
        docker_types = image.manifest.media_type == mt.DOCKER_MANIFEST
        layers = list(store.manifest(image).layers)
    diff_ids = list(parent.rootfs.diff_ids)
    if step.layer is not None:
        layers.append(Descriptor(mt.DOCKER_LAYER if docker_types else mt.OCI_LAYER, step.layer.digest, step.layer.size))
        diff_ids.append(step.layer.digest)
    config = ImageConfig(
        architecture=parent.architecture or store.platform.architecture, variant=parent.variant,
        os=parent.os or "linux", os_version=parent.os_version, os_features=list(parent.os_features),
        created=created, author=step.author, container=step.container_id,
        container_config=step.container_config, config=step.config,
        rootfs=RootFS("layers", diff_ids), history=[*parent.history, history])
    own = ingest is None
    session = ingest if ingest is not None else Ingest(store, "build")
    try:
        if step.layer is not None:
            session.pin("content", step.layer.digest)
        image_id, _ = session.add_image(config.to_bytes(), config, layers, docker_types, parent=step.parent_id)
        if own:
            session.commit()
    finally:
        if own:
            session.__exit__(None, None, None)
    return image_id


def copy_config(c: ContainerConfig) -> ContainerConfig:
    """A copy of a config whose lists, maps and health check are its own (a deep copy, minus
    deepcopy's cost: a build copies its config at every step)."""
    out = copy.copy(c)
    for name in ("exposed_ports", "env", "cmd", "volumes", "entrypoint", "on_build", "shell"):
        value = getattr(c, name)
        if value is not None:
            setattr(out, name, list(value))
    if c.labels is not None:
        out.labels = dict(c.labels)
    if c.healthcheck is not None:
        out.healthcheck = replace(c.healthcheck, test=None if c.healthcheck.test is None else list(c.healthcheck.test))
    return out


def merge_container_config(user: ContainerConfig, image: ContainerConfig | None) -> ContainerConfig:
    """What dockerd's container create does to a build step's config (daemon/commit.go `merge`):
    fields the step's config leaves empty are filled from its image's config, in place of a
    copy. Recorded as `container_config` for steps that make a container."""
    return copy_config(user) if image is None else merge_config(user, image)
