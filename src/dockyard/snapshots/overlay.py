"""The overlayfs snapshotter (containerd's plugins/snapshots/overlay).

Each snapshot owns snapshots/<id>/fs. A committed snapshot's fs is one read-only layer, shared by
every snapshot above it; an active snapshot's fs is its overlay upper dir, with work/ beside it.
Mounts: an active snapshot without parent is a bind mount of its fs; with parents it is

    overlay  lowerdir=<parent fs>:<grandparent fs>:...,upperdir=<fs>,workdir=<work>[,index=off,...]

A view is read-only: a bind of its single parent's fs, or an overlay of the lowerdirs alone.
Long chains are mounted with relative paths by `dockyard.fsutil.mount.mount_all` (a page holds
the options of about 500 layers that way, the kernel's own limit).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from dockyard.errors import DockyardError
from dockyard.fsutil.mount import Mount, mount_one, unmount_all
from dockyard.snapshots.base import Kind
from dockyard.snapshots.metadata import SnapshotStore

_PARAMS = "/sys/module/overlay/parameters"


def _feature_options() -> tuple[str, ...]:
    """Switch off overlay features that would put state outside the upper dir's plain tree
    (the layer differ reads upper dirs directly), where this kernel knows the option."""
    opts = []
    for name in ("index", "redirect_dir", "metacopy"):
        if os.path.exists(os.path.join(_PARAMS, name)):
            opts.append(f"{name}=off")
    return tuple(opts)


_supported: dict[str, bool] = {}


def overlay_supported(root: str) -> bool:
    """Whether overlayfs with an upper dir can be mounted on the file system of `root`."""
    root = os.path.abspath(root)
    if root in _supported:
        return _supported[root]
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="overlay-check-", dir=root)
    ok = False
    try:
        for d in ("lower1", "lower2", "upper", "work", "merged"):
            os.mkdir(os.path.join(tmp, d))
        m = Mount("overlay", "overlay", (
            f"lowerdir={tmp}/lower1:{tmp}/lower2", f"upperdir={tmp}/upper", f"workdir={tmp}/work",
            *_feature_options()))
        try:
            mount_one(m, os.path.join(tmp, "merged"))
            ok = True
        except DockyardError:
            ok = False
        finally:
            unmount_all(os.path.join(tmp, "merged"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _supported[root] = ok
    return ok


class OverlaySnapshotter(SnapshotStore):
    _work_dir = True

    def _mounts(self, snapshot_id: int, kind: Kind, parent_ids: list[int]) -> list[Mount]:
        fs = self.fs_path(snapshot_id)
        if kind is Kind.ACTIVE:
            if not parent_ids:
                return [Mount("bind", fs, ("rw", "rbind"))]
            lower = ":".join(self.fs_path(i) for i in parent_ids)
            work = os.path.join(self.dir, str(snapshot_id), "work")
            return [Mount("overlay", "overlay",
                          (*_feature_options(), f"workdir={work}", f"upperdir={fs}", f"lowerdir={lower}"))]
        if not parent_ids:
            return [Mount("bind", fs, ("ro", "rbind"))]
        if len(parent_ids) == 1:
            return [Mount("bind", self.fs_path(parent_ids[0]), ("ro", "rbind"))]
        lower = ":".join(self.fs_path(i) for i in parent_ids)
        return [Mount("overlay", "overlay", ("ro", *_feature_options(), f"lowerdir={lower}"))]
