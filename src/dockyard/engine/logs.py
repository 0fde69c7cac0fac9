"""The json-file log driver: Docker's on-disk format, rotation, and a reader with follow.

On disk (`<data-root>/containers/<id>/<id>-json.log`), one JSON object per record, byte for byte as
moby's `jsonfilelog` writes it (its own string escaper: `<`, `>`, `&` as `\\u003c`..., invalid UTF-8 as
`\\ufffd`, U+2028/2029 escaped; the time in RFC 3339 with nanoseconds, trailing zeros dropped):

    {"log":"hello\\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}

A record is one line of output including its "\\n". As Docker's log copier does with its 16 KiB
buffer, a line longer than 16 KiB is cut into 16 KiB records whose `log` has no "\\n" (partial
messages; the pieces share the first one's time); output that ends without a newline is written,
without one, when the stream closes (`flush()`). With `max-size`, the file is rotated when it has
reached the size before the next record: `<log>` -> `<log>.1` -> ... -> `<log>.<max-file - 1>`, the
oldest dropped; `compress=true` gzips the rotated files (`.1.gz`, ...), as Docker does.

Writer: `JSONFileWriter` is for the per-container monitor process: plain blocking writes on one fd,
no threads, no asyncio; each record is one write(2) of a whole line on an O_APPEND fd, so a reader
never sees half a record except at the very end of the file (which it leaves for the next poll).

Reader: `read_logs` (a generator) and `follow_logs` (an async generator for the daemon: the existing
records, then new ones as they come, across rotation, until the caller's `stop` event is set or
`until` passes) give `LogRecord`s; the API layer frames them as Docker's multiplexed stream, with
`format_timestamp` for `--timestamps` (Docker's fixed nine-digit form there).
"""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import json
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from dockyard.errors import InvalidArgument, SystemCallError

__all__ = [
    "MAX_RECORD",
    "JSONFileOptions",
    "JSONFileWriter",
    "LogRecord",
    "ReadOptions",
    "encode_record",
    "extra_attributes",
    "follow_logs",
    "format_timestamp",
    "log_path",
    "parse_log_options",
    "parse_time",
    "read_logs",
    "validate_log_options",
]

MAX_RECORD = 16 * 1024  # Docker's copier buffer: longer lines become partial records
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LogRecord:
    stream: str  # "stdout" | "stderr"
    line: bytes  # with its trailing "\n" unless partial
    time_ns: int  # nanoseconds since the epoch, UTC
    attrs: Mapping[str, str] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        return not self.line.endswith(b"\n")

    def timestamp(self) -> str:
        return format_timestamp(self.time_ns)


@dataclass(frozen=True)
class JSONFileOptions:
    """`--log-opt` for json-file: max-size (bytes, -1 = no rotation), max-file, compress,
    labels/env/env-regex/labels-regex/tag (kept; attributes are written as Docker's `attrs`)."""

    max_size: int = -1
    max_file: int = 1
    compress: bool = False
    labels: tuple[str, ...] = ()
    labels_regex: str = ""
    env: tuple[str, ...] = ()
    env_regex: str = ""
    tag: str = ""


@dataclass(frozen=True)
class ReadOptions:
    """What `docker logs` asks for. `since_ns`/`until_ns` 0 means unbounded; `tail` -1 means all."""

    stdout: bool = True
    stderr: bool = True
    since_ns: int = 0
    until_ns: int = 0
    tail: int = -1


def log_path(data_root: Path, container_id: str) -> Path:
    """`<data-root>/containers/<id>/<id>-json.log`."""
    return data_root / "containers" / container_id / f"{container_id}-json.log"


# --- options ------------------------------------------------------------------------------------

_SIZE = re.compile(r"^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_OPTIONS = ("max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag")


def _from_human_size(text: str) -> int:
    """go-units' FromHumanSize (decimal: 1k = 1000)."""
    m = _SIZE.match(text)
    if not m:
        raise InvalidArgument(f"invalid size: '{text}'")
    try:
        value = float(m.group(1))
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'") from None
    unit = (m.group(3) or "").lower()
    return int(value * _DECIMAL.get(unit, 1))


def _go_atoi(text: str, what: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise InvalidArgument(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _go_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InvalidArgument(f'strconv.ParseBool: parsing "{text}": invalid syntax')


# Docker's built-in logging drivers. dockyard keeps logs for json-file and, through the same writer
# with the local driver's defaults (Docker reads both back; only the on-disk format differs),
# for local; none keeps nothing. The others send logs to services elsewhere.
READABLE_DRIVERS = ("json-file", "local")
LOCAL_DEFAULTS = {"max-size": "20m", "max-file": "5", "compress": "true"}
_LOCAL_OPTIONS = ("max-size", "max-file", "compress")
_REMOTE_DRIVERS = ("awslogs", "etwlogs", "fluentd", "gcplogs", "gelf", "journald", "logentries", "splunk",
                   "syslog")


def validate_log_config(driver: str, config: Mapping[str, str] | None) -> None:
    """Docker's check of `HostConfig.LogConfig` at create (logger.ValidateLogOpts): the mode
    options every driver takes, then the driver's own option names; an unknown driver is looked up
    as a plugin. A driver that ships logs elsewhere is refused: dockyard would lose them."""
    config = config or {}
    if driver == "none":
        return
    mode = config.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidArgument(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in config:
        if mode != "non-blocking":
            raise InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        try:
            _from_human_size(config["max-buffer-size"])
        except InvalidArgument as err:
            raise InvalidArgument(f"error parsing option max-buffer-size: {err}") from None
    options = _driver_own(config)
    if driver == "json-file":
        validate_log_options(options)
    elif driver == "local":
        for key in options:
            if key not in _LOCAL_OPTIONS:
                raise InvalidArgument(f"unknown log opt '{key}' for log driver local")
    elif driver in _REMOTE_DRIVERS:
        raise InvalidArgument(f"logging driver {driver} is not supported by dockyard (json-file, local and none are)")
    else:
        raise InvalidArgument(f'error looking up logging plugin {driver}: plugin "{driver}" not found')


def driver_options(driver: str, config: Mapping[str, str] | None) -> dict[str, str]:
    """The options the writer gets for a readable driver: local's defaults under the user's."""
    options = _driver_own(config or {})
    return {**LOCAL_DEFAULTS, **options} if driver == "local" else options


def _driver_own(config: Mapping[str, str]) -> dict[str, str]:
    """The options but the two that Docker's logger takes for every driver (mode, max-buffer-size)."""
    return {k: v for k, v in config.items() if k not in ("mode", "max-buffer-size")}


def validate_log_options(config: Mapping[str, str] | None) -> None:
    """The check Docker makes at create (`ValidateLogOpt`): option names only,
    `unknown log opt 'x' for json-file log driver`."""
    for key in config or {}:
        if key not in _OPTIONS:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")


def parse_log_options(config: Mapping[str, str] | None) -> JSONFileOptions:
    """The options as the driver reads them when the container starts. A bad value is an
    InvalidArgument in Docker's words, prefixed as Docker reports it from a start:
    `failed to initialize logging driver: max-file cannot be less than 1`."""
    validate_log_options(config)
    try:
        return _parse_values(config or {})
    except InvalidArgument as err:
        raise InvalidArgument(f"failed to initialize logging driver: {err}") from None


def _parse_values(config: Mapping[str, str]) -> JSONFileOptions:
    max_size = -1
    if "max-size" in config:
        max_size = _from_human_size(config["max-size"])
        if max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    max_file = 1
    if "max-file" in config:
        max_file = _go_atoi(config["max-file"], "max-file")
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    compress = False
    if "compress" in config:
        compress = _go_bool(config["compress"])
        if compress and (max_file == 1 or max_size == -1):
            raise InvalidArgument("compress cannot be true when max-file is less than 2 or max-size is not set")
    for key in ("labels-regex", "env-regex"):
        if config.get(key):
            try:
                re.compile(config[key])
            except re.error as e:
                raise InvalidArgument(f"error parsing regexp: {e}") from None
    return JSONFileOptions(
        max_size=max_size, max_file=max_file, compress=compress,
        labels=tuple(x for x in config.get("labels", "").split(",") if x),
        labels_regex=config.get("labels-regex", ""),
        env=tuple(x for x in config.get("env", "").split(",") if x),
        env_regex=config.get("env-regex", ""),
        tag=config.get("tag", ""),
    )


def extra_attributes(options: JSONFileOptions, labels: Mapping[str, str] | None, env: Sequence[str] | None,
                     tag: str = "") -> dict[str, str]:
    """Docker's `Info.ExtraAttributes` for the `attrs` of each record: the container labels and env
    variables the options name (or match), and `tag` when the caller has rendered one."""
    attrs: dict[str, str] = {}
    labels = labels or {}
    for key in options.labels:
        if key in labels:
            attrs[key] = labels[key]
    if options.labels_regex:
        pattern = re.compile(options.labels_regex)
        for key, value in labels.items():
            if pattern.search(key):
                attrs[key] = value
    env_map = {}
    for entry in env or ():
        key, sep, value = entry.partition("=")
        if sep:
            env_map[key] = value
    for key in options.env:
        if key in env_map:
            attrs[key] = env_map[key]
    if options.env_regex:
        pattern = re.compile(options.env_regex)
        for key, value in env_map.items():
            if pattern.search(key):
                attrs[key] = value
    if tag:
        attrs["tag"] = tag
    return attrs


# --- encoding -----------------------------------------------------------------------------------

_HEX = "0123456789abcdef"
_SAFE = re.compile(rb"[\x20-\x7f]*")


def _escape(data: bytes) -> bytes:
    """moby's ffjsonWriteJSONBytesAsString."""
    out = bytearray(b'"')
    i, n = 0, len(data)
    while i < n:
        m = _SAFE.match(data, i)
        assert m is not None
        j = m.end()
        chunk = data[i:j]
        if chunk:
            if b"\\" in chunk or b'"' in chunk or b"<" in chunk or b">" in chunk or b"&" in chunk:
                chunk = (chunk.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"<", b"\\u003c")
                         .replace(b">", b"\\u003e").replace(b"&", b"\\u0026"))
            out += chunk
            i = j
            if i >= n:
                break
        b = data[i]
        if b < 0x80:
            if b == 0x0A:
                out += b"\\n"
            elif b == 0x0D:
                out += b"\\r"
            else:
                out += b"\\u00" + _HEX[b >> 4].encode() + _HEX[b & 0xF].encode()
            i += 1
            continue
        size = _utf8_len(data, i)
        if size == 0:
            out += b"\\ufffd"
            i += 1
            continue
        rune = data[i:i + size]
        if rune in (b"\xe2\x80\xa8", b"\xe2\x80\xa9"):
            out += b"\\u202" + (b"8" if rune[2] == 0xA8 else b"9")
        else:
            out += rune
        i += size
    out += b'"'
    return bytes(out)


def _utf8_len(data: bytes, i: int) -> int:
    """The length of the valid UTF-8 sequence at `i`, or 0 (Go's DecodeRune: RuneError, size 1)."""
    b = data[i]
    if 0xC2 <= b <= 0xDF:
        size = 2
    elif 0xE0 <= b <= 0xEF:
        size = 3
    elif 0xF0 <= b <= 0xF4:
        size = 4
    else:
        return 0
    seq = data[i:i + size]
    if len(seq) < size:
        return 0
    try:
        seq.decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return size


def _time_text(time_ns: int) -> bytes:
    """Go's RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return (text + "Z").encode()


def format_timestamp(time_ns: int) -> str:
    """Docker's `--timestamps` form (jsonmessage.RFC3339NanoFixed, UTC): nine fraction digits always,
    `2026-01-02T03:04:05.000000001Z`."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def encode_record(stream: str, line: bytes, time_ns: int, attrs_json: bytes = b"") -> bytes:
    """One record as Docker's JSONLogs.MarshalJSONBuf writes it, with its trailing newline."""
    parts = []
    if line:
        parts.append(b'"log":' + _escape(line))
    if stream:
        parts.append(b'"stream":' + _escape(stream.encode()))
    if attrs_json:
        parts.append(b'"attrs":' + attrs_json)
    parts.append(b'"time":"' + _time_text(time_ns) + b'"')
    return b"{" + b",".join(parts) + b"}\n"


def _go_map_json(attrs: Mapping[str, str]) -> bytes:
    from dockyard.oci import gojson

    return gojson.dumps(gojson.go_map(dict(attrs)))


# --- writer -------------------------------------------------------------------------------------


class JSONFileWriter:
    """Appends records to a json-file log and rotates it. Not thread-safe; one per container."""

    def __init__(self, path: Path, options: JSONFileOptions = JSONFileOptions(),
                 attrs: Mapping[str, str] | None = None, clock: Callable[[], int] | None = None) -> None:
        self.path = Path(path)
        self.options = options
        self._attrs = _go_map_json(attrs) if attrs else b""
        self._clock = clock or time.time_ns
        self._pending: dict[str, bytearray] = {}
        self._partial_ts: dict[str, int] = {}
        self._fd = -1
        self._size = 0
        self._open()

    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self._size = os.fstat(self._fd).st_size
        except OSError as err:
            raise SystemCallError.from_oserror(f"open {self.path}", err) from None

    def write(self, stream: str, data: bytes) -> None:
        """Feed raw output of `stream` ("stdout" or "stderr"): complete lines become records at once,
        the rest waits for its newline (or 16 KiB, or `flush`)."""
        buf = self._pending.setdefault(stream, bytearray())
        buf += data
        start = 0
        n = len(buf)
        while start < n:
            q = buf.find(b"\n", start, min(n, start + MAX_RECORD))
            if q >= 0:
                ts = self._partial_ts.pop(stream, None)
                self._record(stream, bytes(buf[start:q + 1]), ts if ts is not None else self._clock())
                start = q + 1
            elif n - start >= MAX_RECORD:
                ts = self._partial_ts.setdefault(stream, self._clock())
                self._record(stream, bytes(buf[start:start + MAX_RECORD]), ts)
                start += MAX_RECORD
            else:
                break
        del buf[:start]

    def flush(self, stream: str | None = None) -> None:
        """Write what is pending without a newline (a partial last line) for one stream or both."""
        for name in [stream] if stream is not None else list(self._pending):
            buf = self._pending.get(name)
            if buf:
                ts = self._partial_ts.setdefault(name, self._clock())
                self._record(name, bytes(buf), ts)
                buf.clear()

    def _record(self, stream: str, line: bytes, time_ns: int) -> None:
        data = encode_record(stream, line, time_ns, self._attrs)
        if self.options.max_size != -1 and self._size >= self.options.max_size:
            self._rotate()
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as err:
            raise SystemCallError.from_oserror(f"write {self.path}", err) from None
        self._size += len(data)

    def _rotate(self) -> None:
        with _dir_lock(self.path.parent, exclusive=True):
            self._rotate_locked()

    def _rotate_locked(self) -> None:
        os.close(self._fd)
        self._fd = -1
        name = str(self.path)
        max_file = self.options.max_file
        try:
            if max_file < 2:
                os.truncate(name, 0)
            else:
                ext = ".gz" if self.options.compress else ""
                try:
                    os.unlink(f"{name}.{max_file - 1}{ext}")
                except FileNotFoundError:
                    pass
                for i in range(max_file - 1, 1, -1):
                    try:
                        os.rename(f"{name}.{i - 1}{ext}", f"{name}.{i}{ext}")
                    except FileNotFoundError:
                        pass
                os.rename(name, f"{name}.1")
                if self.options.compress:
                    _compress(f"{name}.1")
        except OSError as err:
            raise SystemCallError.from_oserror(f"rotate {self.path}", err) from None
        self._open()

    def close(self) -> None:
        """Flush and close the file."""
        if self._fd < 0:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JSONFileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _compress(path: str) -> None:
    """`<path>` -> `<path>.gz`, the original removed (moby's compressFile)."""
    tmp = f"{path}.gz.tmp"
    with open(path, "rb") as src, open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.rename(tmp, f"{path}.gz")
    os.unlink(path)


# --- reader -------------------------------------------------------------------------------------

_TIME = re.compile(rb"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")


def parse_time(text: bytes | str) -> int:
    """An RFC 3339 time (as the log and Docker's API write them) as ns since the epoch."""
    raw = text.encode() if isinstance(text, str) else text
    m = _TIME.fullmatch(raw)
    if not m:
        raise InvalidArgument(f"invalid time {raw!r}")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or b"").ljust(9, b"0")
    seconds = int((datetime(y, mo, d, h, mi, s, tzinfo=UTC) - _EPOCH).total_seconds())
    zone = m.group(8)
    if zone != b"Z":
        sign = -1 if zone[:1] == b"-" else 1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + int(frac)


def _decode(line: bytes) -> LogRecord | None:
    try:
        doc = json.loads(line)
        return LogRecord(stream=doc.get("stream", ""), line=doc.get("log", "").encode("utf-8", "surrogatepass"),
                         time_ns=parse_time(doc["time"]), attrs=doc.get("attrs") or {})
    except (ValueError, KeyError, TypeError, InvalidArgument):
        return None  # a damaged record is skipped, as Docker's decoder resynchronises


@contextmanager
def _dir_lock(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """flock(2) on the log's directory: the writer holds it exclusively while it rotates (renames and
    creates), readers hold it shared while they open the set of files, so a reader always opens a
    consistent set (each file once, in order) however fast the writer rotates. Held for opens and
    renames only, never while data is read or written."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _files(path: Path) -> list[Path]:
    """The log's files, oldest first: <log>.N[.gz] ... <log>.1[.gz], <log>."""
    rotated = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1:]
        number = suffix[:-3] if suffix.endswith(".gz") else suffix
        if number.isdigit():
            rotated.append((int(number), candidate))
    return [p for _, p in sorted(rotated, reverse=True)] + [path]


def _open_set(path: Path) -> tuple[list[IO[bytes]], IO[bytes] | None]:
    """The rotated files (oldest first) and the live one, all opened under the shared lock."""
    rotated: list[IO[bytes]] = []
    with _dir_lock(path.parent, exclusive=False):
        names = _files(path)
        for p in names[:-1]:
            f = _open_log(p)
            if f is not None:
                rotated.append(f)
        live = _open_log(path)
    return rotated, live


def _open_log(p: Path) -> IO[bytes] | None:
    try:
        if p.name.endswith(".gz"):
            return gzip.GzipFile(p, "rb")  # type: ignore[return-value]  # a binary file object all the same
        return open(p, "rb")
    except FileNotFoundError:
        return None


def _wanted(record: LogRecord, options: ReadOptions) -> bool:
    if record.stream == "stdout" and not options.stdout:
        return False
    if record.stream == "stderr" and not options.stderr:
        return False
    return not (options.since_ns and record.time_ns < options.since_ns)


def _records(f: IO[bytes], limit: int = -1) -> Iterator[LogRecord]:
    data = f.read(limit) if limit >= 0 else f.read()
    for raw in data.split(b"\n")[:-1]:  # a record still being written (no newline yet) waits
        record = _decode(raw + b"\n")
        if record is not None:
            yield record


def _all_records(path: Path, live_limit: int = -1) -> Iterator[LogRecord]:
    rotated, live = _open_set(path)
    try:
        for f in rotated:
            yield from _records(f)
        if live is not None:
            yield from _records(live, live_limit)
    finally:
        for f in rotated:
            f.close()
        if live is not None:
            live.close()


def read_logs(path: Path, options: ReadOptions = ReadOptions()) -> Iterator[LogRecord]:
    """The records in the log and its rotated files, oldest first, filtered by `options` (stdout /
    stderr, since, until, then the last `tail` of what is left)."""
    selected: Iterator[LogRecord] | deque[LogRecord]
    matching = (r for r in _all_records(path) if _wanted(r, options)
                and not (options.until_ns and r.time_ns > options.until_ns))
    if options.tail >= 0:
        selected = deque(matching, maxlen=options.tail) if options.tail else deque()
    else:
        selected = matching
    yield from selected


class _Follower:
    """Reads a log from where it was, across rotation: keeps the live file open; when the path names
    another file, drains the old one and, under the shared directory lock, opens the new live file
    and the rotated files newer than the old one (told apart by inode; the old file is held open
    until then, so its inode cannot have been reused)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f: IO[bytes] | None = None
        self.ino = 0
        self.old: IO[bytes] | None = None  # the file read last, while no live file is open
        self.rest = b""

    def start(self) -> list[IO[bytes]]:
        """Open the set as it is now; the live file is kept for following. Returns the rotated files
        (oldest first) for the caller to read and close."""
        rotated, live = _open_set(self.path)
        if live is not None:
            self.f, self.ino = live, os.fstat(live.fileno()).st_ino
        elif rotated:
            self.old = os.fdopen(os.dup(rotated[-1].fileno()), "rb")  # the newest rotated file: read last
        return rotated

    def _lines(self, f: IO[bytes], final: bool = False) -> list[bytes]:
        data = self.rest + f.read()
        lines = data.split(b"\n")
        self.rest = lines.pop()
        if final and self.rest:
            self.rest = b""
        return lines

    def poll(self) -> list[bytes]:
        out: list[bytes] = []
        if self.f is not None:
            out += self._lines(self.f)
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = 0
            if current == self.ino:
                return out
            out += self._lines(self.f, final=True)
            if self.old is not None:
                self.old.close()
            self.old, self.f = self.f, None
        prev = os.fstat(self.old.fileno()).st_ino if self.old is not None else None
        rotated, live = _open_set(self.path)
        try:
            if live is None:
                return out
            newer: list[IO[bytes]] = []
            for f in reversed(rotated):  # newest first, down to the file read last
                if prev is not None and os.fstat(f.fileno()).st_ino == prev:
                    break
                newer.append(f)
            for f in reversed(newer):
                out += self._lines(f, final=True)
            self.f, self.ino = live, os.fstat(live.fileno()).st_ino
            if self.old is not None:
                self.old.close()
                self.old = None
            out += self._lines(live)
            return out
        finally:
            for f in rotated:
                f.close()

    def close(self) -> None:
        for f in (self.f, self.old):
            if f is not None:
                f.close()
        self.f = self.old = None


async def follow_logs(path: Path, options: ReadOptions = ReadOptions(), *,
                      stop: asyncio.Event | None = None, poll_interval: float = 0.1) -> AsyncIterator[LogRecord]:
    """Like `read_logs`, then the records written after, across rotation, until `stop` is set (after
    one last read) or `until` passes. Set `stop` when the container exits."""
    follower = _Follower(path)
    try:
        rotated = follower.start()
        try:
            end = os.fstat(follower.f.fileno()).st_size if follower.f is not None else 0

            def past() -> Iterator[LogRecord]:
                for f in rotated:
                    yield from _records(f)
                if follower.f is not None:
                    yield from _records(follower.f, end)

            matching = (r for r in past() if _wanted(r, options)
                        and not (options.until_ns and r.time_ns > options.until_ns))
            old: Iterator[LogRecord] | deque[LogRecord] = matching
            if options.tail >= 0:
                old = deque(matching, maxlen=options.tail) if options.tail else deque()
            for earlier in old:
                yield earlier
        finally:
            for f in rotated:
                f.close()
        while True:
            stopping = stop is not None and stop.is_set()
            for raw in follower.poll():
                record = _decode(raw + b"\n")
                if record is None or not _wanted(record, options):
                    continue
                if options.until_ns and record.time_ns > options.until_ns:
                    return
                yield record
            if stopping:
                return
            if options.until_ns and time.time_ns() > options.until_ns:
                return
            if stop is not None:
                try:
                    await asyncio.wait_for(stop.wait(), poll_interval)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(poll_interval)
    finally:
        follower.close()
