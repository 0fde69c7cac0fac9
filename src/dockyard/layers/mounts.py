"""Layer operations on a snapshot's mounts: use the directories directly when the mounts say where
they are (an overlay's upperdir, a bind's source), mount into a temporary directory otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO

from dockyard.fsutil.mount import Mount
from dockyard.layers.apply import ApplyResult
from dockyard.layers.changes import Change
from dockyard.layers.compression import Compression
from dockyard.layers.create import LayerResult


def apply_layer_to_mounts(stream: BinaryIO, mounts: Sequence[Mount]) -> ApplyResult:
    raise NotImplementedError


def write_layer_from_mounts(
    lower: Sequence[Mount], upper: Sequence[Mount], out: Any, compression: Compression = Compression.GZIP
) -> LayerResult:
    raise NotImplementedError


def changes_from_mounts(lower: Sequence[Mount], upper: Sequence[Mount]) -> list[Change]:
    raise NotImplementedError
