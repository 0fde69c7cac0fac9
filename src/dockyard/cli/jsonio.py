"""JSON for the CLI without the `json` package.

`import json` costs about 6 ms here because json.decoder compiles regular expressions (it imports
`re`, which imports `enum`). The C accelerator `_json` that json uses underneath needs neither: its
scanner takes any object with the decoder's attributes, and its encoder takes the separators. This
module is that thin wrapper, plus `indent`, Go's json.Indent over raw daemon bytes (docker prints
`inspect` output by re-indenting the daemon's own bytes, so key order and escapes stay the daemon's).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

_WHITESPACE = " \t\n\r"


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _ScannerContext:
    """The attributes `_json.make_scanner` reads from a json.JSONDecoder."""

    __slots__ = ()
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, str] = {}  # noqa: RUF012 - read once by the C scanner, which keeps its own


_scan: Callable[[str, int], tuple[Any, int]] = _json.make_scanner(_ScannerContext())  # type: ignore[arg-type]


def _fail(text: str, pos: int, what: str) -> ValueError:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return ValueError(f"{what}: line {line} column {column} (char {pos})")


def _skip(text: str, pos: int) -> int:
    end = len(text)
    while pos < end and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def loads(data: bytes | str) -> Any:
    """One JSON value; ValueError when `data` is not exactly that."""
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    pos = _skip(text, 0)
    try:
        value, end = _scan(text, pos)
    except StopIteration as stop:
        raise _fail(text, stop.value, "Expecting value") from None
    except SystemError:
        # The C scanner reports other errors through json.decoder.JSONDecodeError, which it only
        # finds when json.decoder is already imported; otherwise it fails without an exception.
        raise _fail(text, pos, "Malformed JSON") from None
    end = _skip(text, end)
    if end != len(text):
        raise _fail(text, end, "Extra data")
    return value


def iter_values(text: str) -> Iterator[tuple[Any, int]]:
    """Each complete JSON value in `text` (concatenated or newline separated) with the offset just
    after it; stops quietly before an incomplete trailing value, so a stream reader can keep the
    rest and call again with more data."""
    pos = _skip(text, 0)
    while pos < len(text):
        try:
            value, end = _scan(text, pos)
        except (StopIteration, ValueError, SystemError):
            return
        yield value, end
        pos = _skip(text, end)


def _no_default(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Go's encoding/json output: compact, UTF-8 kept as is (docker's template `json` turns HTML escaping off).
_compact = _json.make_encoder(None, _no_default, _json.encode_basestring, None, ":", ",", False, False, True)
_compact_sorted = _json.make_encoder(None, _no_default, _json.encode_basestring, None, ":", ",", True, False, True)


def dumps(value: object, sort_keys: bool = False) -> str:
    """Compact JSON, as Go's json.Marshal without HTML escaping."""
    if isinstance(value, str):
        return _json.encode_basestring(value)
    encode = _compact_sorted if sort_keys else _compact
    return "".join(encode(value, 0))


def indent(raw: str, prefix: str = "", unit: str = "    ") -> str:
    """Go's json.Indent: re-indent JSON text without re-encoding it; `{}` and `[]` stay compact."""
    out: list[str] = []
    depth = 0
    need_indent = False
    pos = 0
    end = len(raw)
    newline = "\n" + prefix
    while pos < end:
        ch = raw[pos]
        if ch in _WHITESPACE:
            pos += 1
            continue
        if need_indent and ch not in "]}":
            need_indent = False
            depth += 1
            out.append(newline + unit * depth)
        if ch == '"':
            close = pos + 1
            while True:
                close = raw.find('"', close)
                if close < 0:
                    close = end - 1
                    break
                backslashes = 0
                back = close - 1
                while raw[back] == "\\":
                    backslashes += 1
                    back -= 1
                if backslashes % 2 == 0:
                    break
                close += 1
            out.append(raw[pos:close + 1])
            pos = close + 1
            continue
        if ch in "[{":
            need_indent = True
            out.append(ch)
        elif ch == ",":
            out.append("," + newline + unit * depth)
        elif ch == ":":
            out.append(": ")
        elif ch in "]}":
            if need_indent:
                need_indent = False
            else:
                depth -= 1
                out.append(newline + unit * depth)
            out.append(ch)
        else:
            start = pos
            while pos < end and raw[pos] not in ',:[]{}" \t\n\r':
                pos += 1
            out.append(raw[start:pos])
            continue
        pos += 1
    return "".join(out)
