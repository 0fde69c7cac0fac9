"""Output the docker way: humanised sizes and durations (docker/go-units), ids, Go's tabwriter
(docker's table layout: min width 10, padding 3), times, and `--format` rendering of lists.

    human_duration(3) == "3 seconds"      human_size(1990000) == "1.99MB"     bytes_size(2048) == "2KiB"
    render(items, fmt, default_table, header)    docker's formatter.Context.Write: "table ...",
                                                 "json", or a custom template; a header row for tables
"""

from __future__ import annotations

import time

from dockyard.cli.errors import CLIError
from dockyard.gounits import human_duration as human_duration  # shared with the daemon's Status column

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: Sequence[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def _go_g(value: float, precision: int) -> str:
    """Go's %.<precision>g; Python's %g agrees for the sizes printed here."""
    return f"{value:.{precision}g}"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision (docker's tables use 3 significant digits)."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL)
    return _go_g(value, precision) + unit


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits."""
    value, unit = _scaled(float(size), 1024.0, _BINARY)
    return _go_g(value, 4) + unit


def truncate_id(ident: str) -> str:
    """stringid.TruncateID: drop the algorithm prefix, keep 12 characters."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def _char_width(ch: str) -> int:
    if ch < "\u1100":
        return 1
    import unicodedata
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def ellipsis(text: str, width: int) -> str:
    """formatter.Ellipsis: cut to `width` display columns, the last one an ellipsis."""
    if width <= 0:
        return ""
    if width == 1:
        return text[:1]
    if text_width(text) <= width:
        return text
    out = []
    used = 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def go_time(unix: float) -> str:
    """time.Unix(t, 0).String() in local time: `2006-01-02 15:04:05 -0700 MST`."""
    t = time.localtime(unix)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", t)


def timegm(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """calendar.timegm without `calendar` (which imports datetime and locale): days from the
    civil date (Howard Hinnant's algorithm), then seconds."""
    y = year - (month <= 2)
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def parse_time(text: str) -> float | None:
    """An RFC 3339 timestamp from the API (nanoseconds allowed) as unix seconds; None for Go's
    zero time or anything unparsable."""
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        date, _, rest = text.partition("T")
        year, month, day = (int(p) for p in date.split("-"))
        zone = 0
        clock = rest
        if rest.endswith("Z"):
            clock = rest[:-1]
        else:
            for sign in ("+", "-"):
                at = rest.rfind(sign)
                if at > 0:
                    clock, tz = rest[:at], rest[at + 1:]
                    hh, mm = tz.split(":")
                    zone = (int(hh) * 3600 + int(mm) * 60) * (1 if sign == "+" else -1)
                    break
        hms, _, frac = clock.partition(".")
        hour, minute, second = (int(p) for p in hms.split(":"))
        base = timegm(year, month, day, hour, minute, second)
        return base - zone + (float("0." + frac) if frac else 0.0)
    except (ValueError, IndexError):
        return None


def _parse_datetime(value: str, local: bool) -> float:
    """`YYYY-MM-DD[THH[:MM[:SS[.fraction]]]]` + `Z`/`±hh:mm` unless `local`; unix seconds."""
    zone = 0
    text = value
    if not local:
        if text[-1:] in "zZ":
            text = text[:-1]
        else:
            at = max(text.rfind("+"), text.rfind("-"))
            if at <= 7:
                raise ValueError(value)
            hh, _, mm = text[at + 1:].partition(":")
            zone = (int(hh) * 3600 + int(mm or 0) * 60) * (1 if text[at] == "+" else -1)
            text = text[:at]
    date, _, clock = text.partition("T")
    year, month, day = (int(p) for p in date.split("-"))
    hms, _, frac = clock.partition(".")
    fields = [int(p) for p in hms.split(":")] if hms else []
    if len(fields) > 3 or not (1 <= month <= 12 and 1 <= day <= 31) or len(date) != 10:
        raise ValueError(value)
    hour, minute, second = [*fields, 0, 0, 0][:3]
    fraction = float("0." + frac) if frac else 0.0
    if local:
        return time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + fraction
    return timegm(year, month, day, hour, minute, second) - zone + fraction


def get_timestamp(value: str, now: float | None = None) -> str:
    """docker's GetTimestamp for --since/--until: a Go duration before now (`10m`), an RFC 3339
    date or time (local time without a zone), or unix seconds[.nanoseconds] passed as they are."""
    reference = time.time() if now is None else now
    if value != "0":
        from dockyard.cli.containeropts import parse_duration
        try:
            return str(int((reference - parse_duration(value) / 1e9) // 1))
        except ValueError:
            pass
    local = not any(c in value for c in "zZ+") and value.count("-") != 3
    try:
        stamp = _parse_datetime(value, local)
    except (ValueError, IndexError):
        if "-" in value:
            raise CLIError(f'parsing time "{value}": cannot parse as an RFC 3339 date or time') from None
        seconds, dot, nanos = value.partition(".")
        if not seconds.lstrip("-").isdigit() or (dot and not nanos.isdigit()):
            raise CLIError(f'failed to parse value as time or duration: "{value}"') from None
        return value
    whole = int(stamp // 1)
    return f"{whole}.{round((stamp - whole) * 1e9):09d}"


# --- Go's text/tabwriter as docker configures it -------------------------------------------

def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-terminated cells into columns (elastic tabstops, docker's flags: pad with spaces,
    tabwidth 1). The last cell of each line is not part of a column."""
    lines: list[list[tuple[str, int]]] = []
    for raw in text.split("\n"):
        cells = raw.split("\t")
        lines.append([(c, text_width(c)) for c in cells])
    trailing_newline = text.endswith("\n")
    if trailing_newline:
        lines.pop()
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            line = lines[i]
            parts: list[str] = []
            for j, (cell, width) in enumerate(line):
                parts.append(cell)
                if j < len(line) - 1 and j < len(widths):
                    parts.append(" " * (widths[j] - width))
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            line = lines[this]
            if column >= len(line) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1:
                line = lines[this]
                if column >= len(line) - 1:
                    break
                width = max(width, line[column][1] + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if trailing_newline else "")


# --- --format for lists --------------------------------------------------------------------

class HeaderContext:
    """The header row's data: field name -> column title (docker's SubHeaderContext)."""

    __slots__ = ("_titles",)

    def __init__(self, titles: dict[str, str]) -> None:
        self._titles = titles

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._titles.get(name, "")

    def Label(self, name: str) -> str:
        return name.split(".")[-1].replace("-", " ").replace("_", " ")

    def marshal(self) -> dict[str, str]:
        return dict(self._titles)


def template_string(fmt: str) -> tuple[str, bool]:
    """docker's Format.templateString: the template text and whether it is a table."""
    if fmt == "json":
        return "{{json .}}", False
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table"):]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return fmt, table


def render(items: Sequence[Any], fmt: str, default_table: str, titles: dict[str, str],
           write: Callable[[str], object], parse_error: str = "template parsing error") -> None:
    """Write `items` with `fmt` ("" or "table" = the default table) as docker's formatter does."""
    from dockyard.cli.template import HEADER_FUNCS, TemplateError, parse
    if fmt in ("", "table"):
        fmt = default_table
    text, table = template_string(fmt)
    try:
        tmpl = parse(text)
    except TemplateError as e:
        raise CLIError(f"{parse_error}: {e}", 64 if parse_error == "template parsing error" else 1) from None
    rows: list[str] = []
    try:
        for item in items:
            rows.append(tmpl.execute(item) + "\n")
    except TemplateError as e:
        raise CLIError(f"template parsing error: {e}") from None
    if not table:
        write("".join(rows))
        return
    try:
        header = tmpl.with_funcs(HEADER_FUNCS).execute(HeaderContext(titles))
    except TemplateError:
        header = ""
    write(tabwrite(header + "\n" + "".join(rows)))
