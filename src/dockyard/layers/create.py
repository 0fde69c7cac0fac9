"""Creating tar layers from an overlay upper dir or from the difference of two trees; export."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dockyard.layers.compression import Compression
from dockyard.oci.digest import Digest


@dataclass(frozen=True)
class LayerResult:
    diff_id: Digest  # sha256 of the uncompressed tar
    digest: Digest  # sha256 of the bytes written to `out` (the blob)
    size: int  # bytes written to `out`
    uncompressed_size: int
    compression: Compression

    @property
    def media_type(self) -> str:
        return self.compression.media_type


def write_layer_from_upper(upper: str | os.PathLike[str], out: Any, compression: Compression = Compression.GZIP) -> LayerResult:
    raise NotImplementedError


def write_layer_from_diff(
    old: str | os.PathLike[str], new: str | os.PathLike[str], out: Any, compression: Compression = Compression.GZIP
) -> LayerResult:
    raise NotImplementedError


def export_rootfs(root: str | os.PathLike[str], out: Any) -> None:
    raise NotImplementedError
