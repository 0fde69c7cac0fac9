"""JSON for the container start path, through the interpreter's C accelerator (`_json`).

`import json` pulls in re, enum, functools and collections: ~5 ms, a fifth of runc's whole
`run` here. The C scanner and encoder that `json` itself uses need none of that. Errors are the
same: malformed input raises json.JSONDecodeError (a ValueError), which `_json` imports only then.
Pretty printing and other options stay with the `json` module, off the hot path.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


class _Options:
    # The attributes of a json.JSONDecoder that _json.make_scanner reads.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}  # noqa: RUF012 - part of the interface the scanner expects

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_Options())  # type: ignore[arg-type]  # duck-typed like a JSONDecoder


def _raise(msg: str, doc: str, pos: int) -> Any:
    from json import JSONDecodeError

    raise JSONDecodeError(msg, doc, pos)


def loads(data: str | bytes) -> Any:
    text = data.decode() if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as err:
        return _raise("Expecting value", text, err.value)
    rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if rest != len(text):
        return _raise("Extra data", text, rest)
    return value


def _unserializable(obj: object) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(
    None, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def dumps(obj: Any) -> str:
    """Like json.dumps(obj) with its default options (ASCII, ", " and ": " separators)."""
    return "".join(_encode(obj, 0))
