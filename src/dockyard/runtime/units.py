"""Sizes and durations as runc's flags take them: "100m", "1g", "5s", "250ms"."""

from __future__ import annotations

from dockyard.errors import InvalidArgument

_SIZES = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40}
_DURATIONS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: str) -> int:
    """Bytes from "1024", "100m", "1.5g"; "-1" means unlimited and stays -1."""
    value = text.strip().lower()
    if value == "-1":
        return -1
    number = value.rstrip("kmgtb")
    suffix = value[len(number):]
    try:
        if suffix not in _SIZES:
            raise ValueError
        return int(float(number) * _SIZES[suffix])
    except ValueError:
        raise InvalidArgument(f"invalid size: {text!r}") from None


def parse_duration(text: str) -> float:
    """Seconds from a Go duration such as "5s", "100ms", "1m30s" (a bare number is seconds)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    total, number = 0.0, ""
    i = 0
    while i < len(value):
        if value[i].isdigit() or value[i] == ".":
            number += value[i]
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "ms", "s", "m", "h") if value.startswith(u, i)), None)
        if unit is None or not number:
            raise InvalidArgument(f"invalid duration: {text!r}")
        total += float(number) * _DURATIONS[unit]
        number = ""
        i += len(unit)
    if number:
        raise InvalidArgument(f"invalid duration: {text!r} (missing unit)")
    return total
