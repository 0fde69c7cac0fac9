"""The overlayfs snapshotter."""

from __future__ import annotations


def overlay_supported(root: str) -> bool:
    raise NotImplementedError


class OverlaySnapshotter:
    def __init__(self, root: str) -> None:
        self.root = root
