"""Images: references, the image store, save/load/import/commit, garbage collection.

Public API (imported lazily, so `import dockyard.images.reference` stays light):
    ImageService(data_root, *, content=None, snapshotter=None, in_use=None, platform=None)
        resolve, config, rootfs_parent, tag, untag, list_images, inspect, history, remove, prune,
        gc, save, save_oci_layout, load, import_rootfs, commit      (see service.py)
    ImageUse(container_id, running), InUse                          what `in_use(image_id)` returns
    Image, Ref                                                      store records
    LoadResult(image_ids, messages)                                 what load returns
    GCResult(content, snapshots, bytes_freed)                       what gc returns
    Reference, parse_normalized, parse_docker_ref                   Docker's reference grammar
    bootstrap_busybox(images), bootstrap_debian(images, suite)      offline base images
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.images.archive import LoadResult
    from dockyard.images.bootstrap import bootstrap_busybox, bootstrap_debian
    from dockyard.images.gc import GCResult
    from dockyard.images.reference import Reference, parse_docker_ref, parse_normalized
    from dockyard.images.remove import ImageUse, InUse
    from dockyard.images.service import ImageService
    from dockyard.images.store import Image, Ref

_WHERE = {
    "LoadResult": "archive", "bootstrap_busybox": "bootstrap", "bootstrap_debian": "bootstrap", "GCResult": "gc",
    "Reference": "reference", "parse_docker_ref": "reference", "parse_normalized": "reference",
    "ImageUse": "remove", "InUse": "remove", "ImageService": "service", "Image": "store", "Ref": "store",
}

__all__ = [
    "GCResult",
    "Image",
    "ImageService",
    "ImageUse",
    "InUse",
    "LoadResult",
    "Ref",
    "Reference",
    "bootstrap_busybox",
    "bootstrap_debian",
    "parse_docker_ref",
    "parse_normalized",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.images' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.images.{module}"), name)
