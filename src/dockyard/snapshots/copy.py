"""The copy-based snapshotter, for where overlayfs cannot be mounted."""

from __future__ import annotations


class CopySnapshotter:
    def __init__(self, root: str) -> None:
        self.root = root
