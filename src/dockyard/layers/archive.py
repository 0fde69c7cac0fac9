"""docker cp: archive a path out of a root filesystem, extract a tar into one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, BinaryIO


@dataclass(frozen=True)
class PathStat:
    """Docker's ContainerPathStat. `mode` is a Go os.FileMode (type bits high, permissions low)."""

    name: str
    size: int
    mode: int
    mtime: float  # seconds since the epoch
    link_target: str = ""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def header_value(self) -> str:
        """base64 of the JSON, for the X-Docker-Container-Path-Stat header."""
        raise NotImplementedError


def stat_path(root: str | os.PathLike[str], path: str) -> PathStat:
    raise NotImplementedError


def archive_path(root: str | os.PathLike[str], path: str, out: Any) -> PathStat:
    raise NotImplementedError


def extract_archive(
    root: str | os.PathLike[str],
    path: str,
    stream: BinaryIO,
    *,
    no_overwrite_dir_non_dir: bool = False,
    chown: tuple[int, int] | None = (0, 0),
) -> None:
    raise NotImplementedError
