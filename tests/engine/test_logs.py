"""The json-file log driver: byte-for-byte against Docker's own log file, rotation, the reader's
filters, and follow across rotation with a real writer process."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
import textwrap
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.engine import logs
from dockyard.engine.logs import JSONFileOptions, JSONFileWriter, ReadOptions
from dockyard.errors import InvalidArgument
from tests.engine.conftest import RefDocker

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run with a deadline: a hang is a failure, not a stuck suite."""
    return asyncio.run(asyncio.wait_for(coro, 30))

SPECIAL = (b'a<b>&"q" \\ \t\x01\x7f \xc3\xa9 \xe2\x80\xa8 \xff\n'  # escapes, DEL, UTF-8, U+2028, invalid byte
           b"\n"  # an empty line
           + b"x" * 20000 + b"\n"  # longer than 16 KiB: a partial record and its last piece
           + b"y" * 16384 + b"\n"  # exactly 16 KiB, then the newline alone
           + b"tail-no-newline")  # flushed at the end without a newline


def _clock(times: list[int]) -> object:
    values = iter(times)
    return lambda: next(values)


@pytest.mark.docker
def test_same_bytes_as_docker(ref_docker: RefDocker, clean_tmp: Path) -> None:
    """Docker logs SPECIAL from a container; our writer, given the same bytes and the same clock
    readings, writes the very same file."""
    script = clean_tmp / "out"
    script.write_bytes(SPECIAL)
    name = "logs-bytes"
    run = ref_docker.docker("run", "--name", name, "-v", f"{script}:/out:ro", "busybox", "cat", "/out")
    try:
        assert run.returncode == 0, run.stderr.decode()
        cid = ref_docker.inspect(name)["Id"]
        theirs = (ref_docker.data_root / "containers" / cid / f"{cid}-json.log").read_bytes()
    finally:
        ref_docker.docker("rm", "-f", name)
    times: list[int] = []
    for line in theirs.splitlines():
        t = logs.parse_time(json.loads(line)["time"])
        if not times or times[-1] != t:
            times.append(t)
    path = clean_tmp / "ours-json.log"
    with JSONFileWriter(path, clock=_clock(times)) as w:  # type: ignore[arg-type]
        for i in range(0, len(SPECIAL), 4096):  # fed in pieces, as a pipe delivers it
            w.write("stdout", SPECIAL[i:i + 4096])
    assert path.read_bytes() == theirs
    records = list(logs.read_logs(path))
    assert b"".join(r.line for r in records) == SPECIAL.replace(b"\xff", "\ufffd".encode())
    assert [len(r.line) for r in records][2:4] == [16384, 20000 - 16384 + 1]
    assert records[-1].partial and not records[0].partial


@pytest.mark.docker
@pytest.mark.parametrize("opts", [["max-size=abc"], ["max-size=0"], ["max-file=x"], ["max-file=0"],
                                  ["compress=maybe"], ["compress=true"], ["max-size=1k", "compress=true"],
                                  ["bogus=1"]])
def test_bad_options_like_docker(ref_docker: RefDocker, opts: list[str]) -> None:
    """Docker checks the names at create (validate_log_options) and the values when the driver starts
    (parse_log_options): `docker run` meets both."""
    args = [a for o in opts for a in ("--log-opt", o)]
    name = "logs-" + "-".join(o.replace("=", "-") for o in opts)
    made = ref_docker.docker("run", "--name", name, *args, "busybox", "true")
    ref_docker.docker("rm", "-f", name)
    assert made.returncode != 0
    expected = made.stderr.decode().split("Error response from daemon: ", 1)[1].splitlines()[0].strip().rstrip(".")
    with pytest.raises(InvalidArgument) as err:
        logs.parse_log_options(dict(o.split("=", 1) for o in opts))
    assert str(err.value) == expected


def test_options() -> None:
    o = logs.parse_log_options({"max-size": "10m", "max-file": "3", "compress": "true", "labels": "a,b", "env": "X"})
    assert (o.max_size, o.max_file, o.compress, o.labels, o.env) == (10_000_000, 3, True, ("a", "b"), ("X",))
    assert logs.parse_log_options({"max-size": "1.5KiB"}).max_size == 1500
    assert logs.parse_log_options(None) == JSONFileOptions()
    attrs = logs.extra_attributes(o, {"a": "1", "c": "3"}, ["X=y", "Z=w"], tag="t")
    assert attrs == {"a": "1", "X": "y", "tag": "t"}


def test_attrs_and_streams(clean_tmp: Path) -> None:
    path = clean_tmp / "a-json.log"
    with JSONFileWriter(path, attrs={"z": "1", "a": "<2>"}, clock=_clock(list(range(10**18, 10**18 + 10)))) as w:  # type: ignore[arg-type]
        w.write("stdout", b"out\n")
        w.write("stderr", b"err\n")
    first, second = path.read_bytes().splitlines()
    assert first == b'{"log":"out\\n","stream":"stdout","attrs":{"a":"\\u003c2\\u003e","z":"1"},"time":"2001-09-09T01:46:40Z"}'
    assert b'"stream":"stderr"' in second and b'"time":"2001-09-09T01:46:40.000000001Z"' in second
    assert [r.stream for r in logs.read_logs(path, ReadOptions(stdout=False))] == ["stderr"]
    assert [r.attrs for r in logs.read_logs(path, ReadOptions(stderr=False))] == [{"a": "<2>", "z": "1"}]


def test_partial_lines_per_stream(clean_tmp: Path) -> None:
    path = clean_tmp / "p-json.log"
    with JSONFileWriter(path) as w:
        w.write("stdout", b"hal")
        w.write("stderr", b"e1\ne")
        w.write("stdout", b"f\nx")
    records = list(logs.read_logs(path))
    assert [(r.stream, r.line) for r in records] == [
        ("stderr", b"e1\n"), ("stdout", b"half\n"), ("stdout", b"x"), ("stderr", b"e")]


def test_rotation(clean_tmp: Path) -> None:
    path = clean_tmp / "r-json.log"
    opts = logs.parse_log_options({"max-size": "1k", "max-file": "3"})
    with JSONFileWriter(path, opts) as w:
        for i in range(200):
            w.write("stdout", f"line {i:04d}\n".encode())
    names = sorted(p.name for p in clean_tmp.iterdir())
    assert names == ["r-json.log", "r-json.log.1", "r-json.log.2"]
    for p in clean_tmp.iterdir():
        assert p.stat().st_size < 1000 + 100  # rotated once it reached 1000 bytes: one record over at most
        assert oct(p.stat().st_mode & 0o777) == "0o640"
    lines = [r.line for r in logs.read_logs(path)]
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], 200)) and len(numbers) > 20
    assert [r.line for r in logs.read_logs(path, ReadOptions(tail=3))] == [b"line 0197\n", b"line 0198\n", b"line 0199\n"]
    assert list(logs.read_logs(path, ReadOptions(tail=0))) == []


def test_rotation_single_file_and_compress(clean_tmp: Path) -> None:
    single = clean_tmp / "s-json.log"
    with JSONFileWriter(single, logs.parse_log_options({"max-size": "200"})) as w:
        for i in range(50):
            w.write("stdout", f"{i}\n".encode())
    assert sorted(p.name for p in clean_tmp.iterdir()) == ["s-json.log"]
    assert [r.line for r in logs.read_logs(single)][-1] == b"49\n"

    zipped = clean_tmp / "z" / "z-json.log"
    zipped.parent.mkdir()
    with JSONFileWriter(zipped, logs.parse_log_options({"max-size": "500", "max-file": "4", "compress": "true"})) as w:
        for i in range(100):
            w.write("stderr", f"entry {i}\n".encode())
    assert sorted(p.name for p in zipped.parent.iterdir()) == ["z-json.log", "z-json.log.1.gz", "z-json.log.2.gz",
                                                               "z-json.log.3.gz"]
    with gzip.open(zipped.parent / "z-json.log.1.gz") as f:
        assert f.readline().startswith(b'{"log":"entry ')
    got = [int(r.line.split()[1]) for r in logs.read_logs(zipped)]
    assert got == list(range(got[0], 100))


def test_since_until_tail(clean_tmp: Path) -> None:
    path = clean_tmp / "t-json.log"
    base = 1_700_000_000 * 10**9
    with JSONFileWriter(path, clock=_clock([base + i * 10**9 for i in range(10)])) as w:  # type: ignore[arg-type]
        for i in range(10):
            w.write("stdout" if i % 2 else "stderr", f"{i}\n".encode())
    def got(**kw: int | bool) -> list[int]:
        return [int(r.line) for r in logs.read_logs(path, ReadOptions(**kw))]  # type: ignore[arg-type]
    assert got(since_ns=base + 3 * 10**9) == [3, 4, 5, 6, 7, 8, 9]
    assert got(until_ns=base + 3 * 10**9) == [0, 1, 2, 3]
    assert got(since_ns=base + 2 * 10**9, until_ns=base + 6 * 10**9, tail=2) == [5, 6]
    assert got(stderr=False, tail=2) == [7, 9]
    assert logs.format_timestamp(base + 5) == "2023-11-14T22:13:20.000000005Z"
    assert logs.parse_time("2023-11-14T23:13:20.5+01:00") == base + 500_000_000


def test_damaged_and_unfinished_records_are_skipped(clean_tmp: Path) -> None:
    path = clean_tmp / "d-json.log"
    with JSONFileWriter(path) as w:
        w.write("stdout", b"one\n")
    with open(path, "ab") as f:
        f.write(b"garbage\n")
    with JSONFileWriter(path) as w:
        w.write("stdout", b"two\n")
    with open(path, "ab") as f:
        f.write(b'{"log":"half')
    assert [r.line for r in logs.read_logs(path)] == [b"one\n", b"two\n"]


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dockyard.engine.logs import JSONFileWriter, parse_log_options
    path, count = Path(sys.argv[1]), int(sys.argv[2])
    w = JSONFileWriter(path, parse_log_options({"max-size": "2k", "max-file": "10"}))
    for i in range(count):
        w.write("stdout" if i % 3 else "stderr", b"record %05d %s\\n" % (i, b"." * (i % 50)))
        if i % 7 == 0:
            w.write("stdout", b"")
            time.sleep(0.002)
    w.close()
""")


def test_follow_across_rotation_with_a_writer_process(clean_tmp: Path) -> None:
    """A separate process writes and rotates (max-size 2k, 10 files) while follow reads: every record
    arrives once, in order, none lost to rotation."""
    path = clean_tmp / "f-json.log"
    with JSONFileWriter(path) as w:
        w.write("stdout", b"before follow\n")
    count = 1500

    async def run() -> list[bytes]:
        stop = asyncio.Event()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(path), str(count), env=env)
        got: list[bytes] = []

        async def waiter() -> None:
            await proc.wait()
            stop.set()

        task = asyncio.create_task(waiter())
        try:
            async for record in logs.follow_logs(path, ReadOptions(), stop=stop, poll_interval=0.01):
                got.append(record.line)
        finally:
            await task
        assert proc.returncode == 0
        return got

    got = _run(run())
    assert got[0] == b"before follow\n"
    numbers = [int(line.split()[1]) for line in got[1:]]
    assert numbers == list(range(count))


def test_follow_stops_at_until_and_sees_new_lines(clean_tmp: Path) -> None:
    path = clean_tmp / "u-json.log"

    async def run() -> list[bytes]:
        got: list[bytes] = []
        writer = JSONFileWriter(path)
        writer.write("stdout", b"old\n")
        until = time.time_ns() + 400_000_000

        async def produce() -> None:
            for i in range(3):
                await asyncio.sleep(0.05)
                writer.write("stdout", f"new {i}\n".encode())

        producer = asyncio.create_task(produce())
        async for record in logs.follow_logs(path, ReadOptions(until_ns=until), poll_interval=0.02):
            got.append(record.line)
        await producer
        writer.close()
        return got

    started = time.monotonic()
    assert _run(run()) == [b"old\n", b"new 0\n", b"new 1\n", b"new 2\n"]
    assert time.monotonic() - started < 3


def test_follow_tail_and_stream_selection(clean_tmp: Path) -> None:
    path = clean_tmp / "s-json.log"
    writer = JSONFileWriter(path)
    for i in range(5):
        writer.write("stderr" if i == 4 else "stdout", f"{i}\n".encode())

    async def run() -> list[bytes]:
        stop = asyncio.Event()
        got: list[bytes] = []

        async def later() -> None:
            await asyncio.sleep(0.05)
            writer.write("stdout", b"5\n")
            writer.write("stderr", b"6\n")
            await asyncio.sleep(0.05)
            stop.set()

        task = asyncio.create_task(later())
        async for record in logs.follow_logs(path, ReadOptions(stderr=False, tail=2), stop=stop, poll_interval=0.01):
            got.append(record.line)
        await task
        return got

    assert _run(run()) == [b"2\n", b"3\n", b"5\n"]
    writer.close()
