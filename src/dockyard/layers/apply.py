"""Applying a tar layer onto a directory."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.oci.digest import Digest


class Whiteouts(enum.Enum):
    """What to do with `.wh.<name>` and `.wh..wh..opq` entries."""

    OVERLAY = "overlay"  # target is an overlay upper dir: make 0/0 char devices and opaque xattrs
    DELETE = "delete"  # target is a full tree: delete what they name
    KEEP = "keep"  # not a layer (docker cp): extract them as ordinary files


@dataclass(frozen=True)
class ApplyResult:
    diff_id: Digest  # sha256 of the uncompressed tar stream
    size: int  # bytes of uncompressed tar read


def apply_layer(stream: BinaryIO, target: str | os.PathLike[str], *, whiteouts: Whiteouts = Whiteouts.DELETE) -> ApplyResult:
    raise NotImplementedError
