"""The json-file log driver: Docker's on-disk format, rotation, and a reader with follow.

On disk (`<data-root>/containers/<id>/<id>-json.log`), one JSON object per record, as moby's
`jsonfilelog` writes it:

    {"log":"hello\\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}

A record is one line of output including its "\\n". A line longer than 16 KiB is cut into 16 KiB
records whose `log` has no "\\n" (Docker's partial messages); output that ends without a newline is
written, without one, when the stream closes (or `flush()` is called). With `max-size`, the file is
rotated when the next record would take it past the size: `<log>` -> `<log>.1` -> ... ->
`<log>.<max-file - 1>`, the oldest dropped (`compress=true` gzips the rotated ones, `.1.gz`).

Writer: `JSONFileWriter` is for the per-container monitor process: plain blocking writes on one fd,
no threads, no asyncio; each record is one write(2) of a whole line (O_APPEND), so a reader never sees
half a record except at the very end of the file (which it leaves for the next poll).

Reader: `read_logs` (a generator; no follow) and `follow_logs` (an async generator for the daemon: the
existing records, then new ones as they come, across rotation, until the caller stops or the writer
says the container is gone) give `LogRecord`s; the API layer frames them as Docker's multiplexed
stream and formats the timestamps with `format_timestamp`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_RECORD",
    "JSONFileOptions",
    "JSONFileWriter",
    "LogRecord",
    "ReadOptions",
    "follow_logs",
    "format_timestamp",
    "log_path",
    "parse_log_options",
    "read_logs",
]

MAX_RECORD = 16 * 1024  # Docker's copier buffer: longer lines become partial records


@dataclass(frozen=True)
class LogRecord:
    stream: str  # "stdout" | "stderr"
    line: bytes  # with its trailing "\n" unless partial
    time_ns: int  # nanoseconds since the epoch, UTC
    partial: bool = False

    def timestamp(self) -> str:
        return format_timestamp(self.time_ns)


@dataclass(frozen=True)
class JSONFileOptions:
    """`--log-opt` for json-file: max-size (bytes, -1 = no rotation), max-file, compress,
    labels/env/tag (accepted and kept; attributes are written as Docker's `attrs`)."""

    max_size: int = -1
    max_file: int = 1
    compress: bool = False
    labels: tuple[str, ...] = ()
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


def parse_log_options(config: Mapping[str, str]) -> JSONFileOptions:
    """Check `LogConfig.Config` for json-file with Docker's messages
    (`unknown log opt 'x' for json-file log driver`, `max-file cannot be less than 1`, ...)."""
    raise NotImplementedError


def format_timestamp(time_ns: int) -> str:
    """RFC 3339 with nanoseconds as Docker writes them on disk and for `--timestamps`
    (`2026-01-02T03:04:05.000000001Z`; Go's RFC3339Nano drops trailing zeros in the JSON)."""
    raise NotImplementedError


class JSONFileWriter:
    """Appends records to a json-file log and rotates it. Not thread-safe; one per container."""

    def __init__(self, path: Path, options: JSONFileOptions = JSONFileOptions(),
                 attrs: Mapping[str, str] | None = None, clock: Callable[[], int] | None = None) -> None:
        raise NotImplementedError

    def write(self, stream: str, data: bytes) -> None:
        """Feed raw output of `stream` ("stdout" or "stderr"): complete lines become records at once,
        the rest waits for its newline (or 16 KiB, or `flush`)."""
        raise NotImplementedError

    def flush(self, stream: str | None = None) -> None:
        """Write what is pending without a newline (a partial last line) for one stream or both."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and close the file."""
        raise NotImplementedError


def read_logs(path: Path, options: ReadOptions = ReadOptions()) -> Iterator[LogRecord]:
    """The records in the log and its rotated files, oldest first, filtered by `options`."""
    raise NotImplementedError


async def follow_logs(path: Path, options: ReadOptions = ReadOptions(), *,
                      stop: asyncio.Event | None = None, poll_interval: float = 0.1) -> AsyncIterator[LogRecord]:
    """Like `read_logs`, then the records written after, across rotation, until `stop` is set or the
    record times pass `options.until_ns`. Set `stop` when the container exits (after a last read)."""
    raise NotImplementedError
    yield  # pragma: no cover
