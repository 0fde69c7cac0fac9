"""Filesystem changes between a container and its image, as `docker diff` lists them."""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass


class ChangeKind(enum.IntEnum):
    """Docker's numbering: 0 modified, 1 added, 2 deleted."""

    MODIFY = 0
    ADD = 1
    DELETE = 2

    @property
    def letter(self) -> str:
        return "CAD"[self.value]


@dataclass(frozen=True, order=True)
class Change:
    path: str  # absolute inside the rootfs: "/etc/passwd"
    kind: ChangeKind

    def __str__(self) -> str:
        return f"{self.kind.letter} {self.path}"


def changes_from_upper(upper: str | os.PathLike[str], lowers: Sequence[str | os.PathLike[str]]) -> list[Change]:
    raise NotImplementedError


def changes_between(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> list[Change]:
    raise NotImplementedError
