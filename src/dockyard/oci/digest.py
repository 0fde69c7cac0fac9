"""Content digests: ``<algorithm>:<hex>``, as the OCI image spec defines them.

Only the two registered algorithms are accepted: ``sha256`` (64 lowercase hex digits, the default
everywhere) and ``sha512`` (128). Anything else is an InvalidArgument naming the bad value, so a
digest that reaches the content store, a path or a URL has already been checked.

    d = Digest.parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    d.algorithm, d.hex, str(d)
    Digest.from_bytes(b"")            # the same digest
    h = d.hasher(); h.update(b""); Digest(d.algorithm, h.hexdigest()) == d
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument

SHA256 = "sha256"
SHA512 = "sha512"
_HEX_LENGTHS = {SHA256: 64, SHA512: 128}
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, order=True)
class Digest:
    """A validated digest. Construct with `Digest.parse` or `Digest.from_bytes`."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        expected = _HEX_LENGTHS.get(self.algorithm)
        if expected is None:
            raise InvalidArgument(f"unsupported digest algorithm {self.algorithm!r} (want sha256 or sha512)")
        if len(self.hex) != expected or not _HEX.fullmatch(self.hex):
            raise InvalidArgument(
                f"invalid {self.algorithm} digest {self.algorithm}:{self.hex!r}: want {expected} lowercase hex digits"
            )

    @classmethod
    def parse(cls, value: str) -> Digest:
        if not isinstance(value, str):
            raise InvalidArgument(f"invalid digest {value!r}: expected a string")
        algorithm, sep, hexpart = value.partition(":")
        if not sep:
            raise InvalidArgument(f"invalid digest {value!r}: expected <algorithm>:<hex>")
        return cls(algorithm, hexpart)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = SHA256) -> Digest:
        if algorithm not in _HEX_LENGTHS:
            raise InvalidArgument(f"unsupported digest algorithm {algorithm!r} (want sha256 or sha512)")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> Any:
        """A fresh hashlib object for this digest's algorithm."""
        return hashlib.new(self.algorithm)

    @property
    def short(self) -> str:
        """The first 12 hex digits, as docker prints ids."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def is_supported(algorithm: str) -> bool:
    return algorithm in _HEX_LENGTHS
