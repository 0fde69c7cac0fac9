"""Copy-on-write snapshots of filesystem trees, as containerd's snapshotters.

Public API:
    Snapshotter                     the contract (see base.py for the lifecycle and a worked example)
    Kind, Info, Usage               what stat/walk/usage return
    Mount                           a mount to make (re-exported from dockyard.fsutil.mount)
    OverlaySnapshotter(root)        overlayfs: lower layers shared, one upper per active snapshot
    CopySnapshotter(root)           fallback where overlay cannot be mounted: prepare copies the parent
    overlay_supported(root) -> bool whether overlayfs can be mounted with upper/work dirs under root
    new_snapshotter(root) -> Snapshotter   overlay if supported there, else copy
    mount_all, unmount_all          re-exported from dockyard.fsutil.mount
"""

from dockyard.fsutil.mount import Mount, mount_all, unmount_all
from dockyard.snapshots.base import Info, Kind, Snapshotter, Usage
from dockyard.snapshots.copy import CopySnapshotter
from dockyard.snapshots.overlay import OverlaySnapshotter, overlay_supported


def new_snapshotter(root: str) -> Snapshotter:
    """The overlay snapshotter if overlayfs works under `root`, else the copy fallback."""
    if overlay_supported(root):
        return OverlaySnapshotter(root)
    return CopySnapshotter(root)


__all__ = [
    "CopySnapshotter",
    "Info",
    "Kind",
    "Mount",
    "OverlaySnapshotter",
    "Snapshotter",
    "Usage",
    "mount_all",
    "new_snapshotter",
    "overlay_supported",
    "unmount_all",
]
