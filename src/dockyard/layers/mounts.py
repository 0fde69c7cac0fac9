"""Layer operations on a snapshot's mounts (containerd's differ and applier, in short).

Fast paths read the directories the mounts name, without mounting anything:
- an overlay mount's upperdir is its layer: apply with Whiteouts.OVERLAY, tar it, diff it
  against its lowerdirs;
- a bind mount's source is a whole tree: apply with Whiteouts.DELETE, diff two of them.
Anything else is mounted on a temporary directory (read-only for the lower side), used, and
unmounted, even on error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO

from dockyard.fsutil.mount import Mount, mount_all, unmount_all
from dockyard.layers.apply import ApplyResult, Whiteouts, apply_layer
from dockyard.layers.changes import Change, changes_between, changes_from_upper
from dockyard.layers.compression import Compression
from dockyard.layers.create import LayerResult, write_layer_from_diff, write_layer_from_upper


def _overlay_upper(mounts: Sequence[Mount]) -> tuple[str, list[str]] | None:
    if len(mounts) == 1 and mounts[0].type == "overlay":
        upper = mounts[0].option("upperdir")
        lower = mounts[0].option("lowerdir")
        if upper:
            return upper, lower.split(":") if lower else []
    return None


def _bind_source(mounts: Sequence[Mount]) -> str | None:
    if len(mounts) == 1 and mounts[0].type == "bind":
        return mounts[0].source
    return None


def _lower_dirs(mounts: Sequence[Mount]) -> list[str] | None:
    """The directories a read-only lower view stacks, nearest first (None if not plain dirs)."""
    if not mounts:
        return []
    src = _bind_source(mounts)
    if src is not None:
        return [src]
    if len(mounts) == 1 and mounts[0].type == "overlay" and not mounts[0].option("upperdir"):
        lower = mounts[0].option("lowerdir")
        return lower.split(":") if lower else []
    return None


@contextmanager
def _mounted(mounts: Sequence[Mount], readonly: bool) -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="dockyard-mount-")
    try:
        if mounts:
            ms = [Mount(m.type, m.source, (*[o for o in m.options if o != "rw"], "ro")) if readonly else m
                  for m in mounts]
            mount_all(ms, tmp)
        try:
            yield tmp
        finally:
            if mounts:
                unmount_all(tmp)
    finally:
        if not os.path.ismount(tmp):  # never delete through a mount that would not go away
            shutil.rmtree(tmp, ignore_errors=True)


def apply_layer_to_mounts(stream: BinaryIO, mounts: Sequence[Mount], *, outward_symlinks: bool = False) -> ApplyResult:
    """apply_layer into a snapshot's mounts (`outward_symlinks`: see apply.py's docstring)."""
    overlay = _overlay_upper(mounts)
    if overlay is not None:
        return apply_layer(stream, overlay[0], whiteouts=Whiteouts.OVERLAY, outward_symlinks=outward_symlinks)
    src = _bind_source(mounts)
    if src is not None and "ro" not in mounts[0].options:
        return apply_layer(stream, src, whiteouts=Whiteouts.DELETE, outward_symlinks=outward_symlinks)
    with _mounted(mounts, readonly=False) as target:
        return apply_layer(stream, target, whiteouts=Whiteouts.DELETE, outward_symlinks=outward_symlinks)


def write_layer_from_mounts(
    lower: Sequence[Mount], upper: Sequence[Mount], out: Any, compression: Compression = Compression.GZIP
) -> LayerResult:
    """The layer that turns `lower` (the parent's view mounts, [] for none) into `upper`."""
    overlay = _overlay_upper(upper)
    if overlay is not None and _lower_dirs(lower) == overlay[1]:
        return write_layer_from_upper(overlay[0], out, compression)
    new = _bind_source(upper)
    if new is not None and not lower:
        return write_layer_from_upper(new, out, compression)
    old_dirs = _lower_dirs(lower)
    if new is not None and old_dirs is not None and len(old_dirs) == 1:
        return write_layer_from_diff(old_dirs[0], new, out, compression)
    with _mounted(lower, readonly=True) as old_root, _mounted(upper, readonly=True) as new_root:
        return write_layer_from_diff(old_root, new_root, out, compression)


def changes_from_mounts(lower: Sequence[Mount], upper: Sequence[Mount]) -> list[Change]:
    """docker diff between `lower` (the parent's view mounts, [] for none) and `upper`."""
    overlay = _overlay_upper(upper)
    if overlay is not None:
        return changes_from_upper(overlay[0], overlay[1])
    new = _bind_source(upper)
    if new is not None and not lower:
        return changes_from_upper(new, [])
    old_dirs = _lower_dirs(lower)
    if new is not None and old_dirs is not None and len(old_dirs) == 1:
        return changes_between(old_dirs[0], new)
    with _mounted(lower, readonly=True) as old_root, _mounted(upper, readonly=True) as new_root:
        return changes_between(old_root, new_root)
