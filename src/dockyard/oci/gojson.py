"""JSON bytes as Go's encoding/json writes them, for documents whose digest is their identity.

An image id is the sha256 of the config bytes, so configs and manifests that dockyard creates are
written the way Docker writes its own: no whitespace, `<`, `>` and `&` escaped as `\\u003c`,
`\\u003e`, `\\u0026` (Go's HTML-safe default), U+2028/U+2029 escaped, other control characters as
`\\u00XX` with lower-case hex (Go before 1.22 has no `\\b`/`\\f` short forms), other non-ASCII text
left as UTF-8. Objects keep the order of the Python dict: a Go struct's field order is the caller's
to give, and a Go map's sorted keys come from `go_map`.

Documents read from elsewhere are never re-encoded: their bytes are kept as they came.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_NEEDS_ESCAPE = re.compile('[\\x00-\\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    if c in _ESCAPES:
        return _ESCAPES[c]
    if "\ud800" <= c <= "\udfff":
        return "\ufffd"  # Go writes invalid UTF-8 (here: a lone surrogate) as the replacement character
    return f"\\u{ord(c):04x}"


def _string(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError("gojson: non-integral numbers are not written by dockyard")
        out.append(str(int(value)))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_string(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"gojson: cannot encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Encode `value` (dicts, lists, str, int, bool, None) as Go's json.Marshal would."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def go_map(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `value` with its keys in the order Go writes a map's: sorted by their bytes."""
    return {k: value[k] for k in sorted(value, key=lambda k: k.encode("utf-8", "surrogatepass"))}
