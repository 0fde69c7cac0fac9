"""Go's fmt verbs where the classic builder uses them in history and messages.

Docker writes `created_by` strings with fmt: `CMD %q` of a []string gives `CMD ["sh" "-c" "x"]`,
`VOLUME %v` gives `VOLUME [/a /b]`, `HEALTHCHECK %q` of a *HealthConfig gives
`HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\\x00'}` (durations through their String
method, the retry count as a quoted rune). These are part of the cache key and of what users see,
so they are reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.oci.image_spec import HealthConfig

__all__ = ["duration", "quote", "quote_list", "quote_rune", "quoted_health", "value_list"]

_SIMPLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                   "\\": "\\\\"}


def _escape_char(ch: str, quote_char: str) -> str:
    if ch == quote_char:
        return "\\" + ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    code = ord(ch)
    if "\ud800" <= ch <= "\udfff":  # a lone surrogate: Go sees an invalid byte
        return "\\ufffd"
    if ch.isprintable():
        return ch
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    return '"' + "".join(_escape_char(c, '"') for c in text) + '"'


def quote_rune(value: int) -> str:
    """strconv.QuoteRune (what %q prints for an int)."""
    if value < 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "'\\ufffd'"
    return "'" + _escape_char(chr(value), "'") + "'"


def quote_list(items: Sequence[str] | None) -> str:
    """`%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(quote(i) for i in items or ()) + "]"


def value_list(items: Sequence[str] | None) -> str:
    """`%v` of a []string: `[a b]`."""
    return "[" + " ".join(items or ()) + "]"


def _frac(value: int, prec: int) -> tuple[str, int]:
    """Go's fmtFrac: the fraction of value/10^prec without trailing zeros, and the integer part."""
    digits = []
    printed = False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        value //= 10
    text = ("." + "".join(reversed(digits))) if printed else ""
    return text, value


def duration(ns: int) -> str:
    """time.Duration.String(): `1h2m3.5s`, `500ms`, `0s`."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        if u < 1_000:
            prec, unit = 0, "ns"
        elif u < 1_000_000:
            prec, unit = 3, "µs"
        else:
            prec, unit = 6, "ms"
        fraction, whole = _frac(u, prec)
        text = f"{whole}{fraction}{unit}"
    else:
        fraction, whole = _frac(u, 9)
        text = f"{whole % 60}{fraction}s"
        minutes = whole // 60
        if minutes:
            text = f"{minutes % 60}m{text}"
            hours = minutes // 60
            if hours:
                text = f"{hours}h{text}"
    return "-" + text if neg else text


def quoted_health(health: HealthConfig | None) -> str:
    """`%q` of a *container.HealthConfig as Docker 20.10 declares it (Test, Interval, Timeout,
    StartPeriod, Retries)."""
    if health is None:
        return "%!q(<nil>)"
    return (f"&{{{quote_list(health.test)} {quote(duration(health.interval))} {quote(duration(health.timeout))} "
            f"{quote(duration(health.start_period))} {quote_rune(health.retries)}}}")
