"""/containers/...: create, lifecycle, inspect, list, logs, attach, cp, export, diff, top, prune."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.hijack import MULTIPLEXED_STREAM, RAW_STREAM, Hijacked, hijack
from dockyard.api.server import Api, Handler, jsonr
from dockyard.engine import fsops, views
from dockyard.engine.engine import AttachRequest
from dockyard.engine.monitor import frame

DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_CTRL = ["ctrl-@", *(f"ctrl-{c}" for c in "abcdefghijklmnopqrstuvwxyz"), "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^",
         "ctrl-_"]


def parse_detach_keys(text: str) -> bytes:
    """Docker's `--detach-keys` (`ctrl-p,ctrl-q`, `ctrl-x,x`): one byte per comma-separated key;
    "" means the default."""
    if not text:
        return DETACH_KEYS
    codes = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            codes += key.encode()
        elif key in _CTRL:
            codes.append(_CTRL.index(key))
        else:
            raise errors.InvalidArgument(f"Invalid detach keys ({text}) provided")
    return bytes(codes)


class EscapeProxy:
    """Finds the detach sequence in a client's input, across reads (moby's term.EscapeProxy):
    `feed` returns the bytes to pass on and whether the sequence was typed. Keys that started a
    match which then broke are passed on as typed."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.matched = 0
                    return bytes(out), True
                continue
            out += self.keys[: self.matched]
            self.matched = 1 if byte == self.keys[0] else 0
            if not self.matched:
                out.append(byte)
        return bytes(out), False


def routes(api: Api) -> list[tuple[str, str, Handler]]:
    engine = api.engine

    async def create(request: web.Request) -> web.StreamResponse:
        body = await api.json_body(request)
        if body is None:
            raise errors.InvalidArgument("config cannot be empty in order to create a container")
        name = request.query.get("name", "")
        cid, warnings = await api.call(engine.create, body, name, request.query.get("platform", ""))
        return jsonr({"Id": cid, "Warnings": warnings or []}, status=201)

    async def list_(request: web.Request) -> web.StreamResponse:
        filters = views.parse_filters(request.query.get("filters", ""))
        result = await api.call(views.list_containers, engine, all=api.qbool(request, "all"),
                                limit=api.qint(request, "limit", -1) or -1, size=api.qbool(request, "size"),
                                filters=filters)
        return jsonr(result)

    async def inspect(request: web.Request) -> web.StreamResponse:
        c = engine.get(request.match_info["id"])
        doc = await api.call(views.inspect, engine, c, api.qbool(request, "size"))
        return jsonr(doc)

    async def start(request: web.Request) -> web.StreamResponse:
        await api.json_body(request)  # old clients send a HostConfig; it is ignored, as dockerd >= 1.24 does
        await api.call(engine.start, request.match_info["id"])
        return web.Response(status=204)

    async def stop(request: web.Request) -> web.StreamResponse:
        timeout = api.qint(request, "t", None)
        await api.call(engine.stop, request.match_info["id"], timeout, request.query.get("signal", ""))
        return web.Response(status=204)

    async def restart(request: web.Request) -> web.StreamResponse:
        timeout = api.qint(request, "t", None)
        await api.call(engine.restart, request.match_info["id"], timeout, request.query.get("signal", ""))
        return web.Response(status=204)

    async def kill(request: web.Request) -> web.StreamResponse:
        await api.call(engine.kill, request.match_info["id"], request.query.get("signal", ""))
        return web.Response(status=204)

    async def pause(request: web.Request) -> web.StreamResponse:
        await api.call(engine.pause, request.match_info["id"])
        return web.Response(status=204)

    async def unpause(request: web.Request) -> web.StreamResponse:
        await api.call(engine.unpause, request.match_info["id"])
        return web.Response(status=204)

    async def rename(request: web.Request) -> web.StreamResponse:
        await api.call(engine.rename, request.match_info["id"], request.query.get("name", ""))
        return web.Response(status=204)

    async def resize(request: web.Request) -> web.StreamResponse:
        h = api.qint(request, "h", 0) or 0
        w = api.qint(request, "w", 0) or 0
        await api.call(engine.resize, request.match_info["id"], h, w)
        return web.Response(status=200)

    async def remove(request: web.Request) -> web.StreamResponse:
        if api.qbool(request, "link"):
            raise errors.InvalidArgument("Conflict, cannot remove the default link name of the container")
        await api.call(engine.remove, request.match_info["id"], force=api.qbool(request, "force"),
                       volumes=api.qbool(request, "v"))
        return web.Response(status=204)

    async def wait(request: web.Request) -> web.StreamResponse:
        condition = request.query.get("condition", "")
        future = engine.wait(request.match_info["id"], condition)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # headers first: the docker CLI waits for them before `start`
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise
        await response.write(json.dumps(result).encode() + b"\n")
        await response.write_eof()
        return response

    async def prune(request: web.Request) -> web.StreamResponse:
        filters = views.parse_filters(request.query.get("filters", ""))
        return jsonr(await api.call(engine.prune, filters))

    async def top(request: web.Request) -> web.StreamResponse:
        return jsonr(await api.call(fsops.top, engine, request.match_info["id"],
                                                request.query.get("ps_args", "-ef")))

    async def changes(request: web.Request) -> web.StreamResponse:
        result = await api.call(fsops.changes, engine, request.match_info["id"])
        return jsonr(result or None)

    async def export(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        engine.get(ref)
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await api.stream_from(request, response, lambda out: fsops.export(engine, ref, out))
        await response.write_eof()
        return response

    async def archive_head(request: web.Request) -> web.StreamResponse:
        path = request.query.get("path", "")
        st = await api.call(fsops.archive_stat, engine, request.match_info["id"], path)
        return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": st.header_value(),
                                                 "Content-Type": "application/x-tar"})

    async def archive_get(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        path = request.query.get("path", "")
        st = await api.call(fsops.archive_stat, engine, ref, path)
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar",
                                               "X-Docker-Container-Path-Stat": st.header_value()})
        await api.stream_from(request, response, lambda out: fsops.archive_get(engine, ref, path, out))
        await response.write_eof()
        return response

    async def archive_put(request: web.Request) -> web.StreamResponse:
        ref = request.match_info["id"]
        path = request.query.get("path", "")
        reader = api.body_reader(request)
        await api.call(fsops.archive_put, engine, ref, path, reader,
                       no_overwrite_dir_non_dir=api.qbool(request, "noOverwriteDirNonDir"),
                       copy_uid_gid=api.qbool(request, "copyUIDGID"))
        return web.Response(status=200)

    async def logs(request: web.Request) -> web.StreamResponse:
        return await _logs(api, request)

    async def attach(request: web.Request) -> web.StreamResponse:
        return await _attach(api, request)

    async def attach_ws(request: web.Request) -> web.StreamResponse:
        return await _attach_ws(api, request)

    async def commit(request: web.Request) -> web.StreamResponse:
        body = await api.json_body(request)
        ref = request.query.get("container", "")
        if not ref:
            raise errors.InvalidArgument("No container name or ID supplied")
        image_id = await api.call(
            fsops.commit, engine, ref, repo=request.query.get("repo", ""), tag=request.query.get("tag", ""),
            comment=request.query.get("comment", ""), author=request.query.get("author", ""),
            changes_=request.query.getall("changes", []), pause=api.qbool(request, "pause", True),
            config=body if isinstance(body, dict) and body else None)
        return jsonr({"Id": image_id}, status=201)

    async def stats(request: web.Request) -> web.StreamResponse:
        return await _stats(api, request)

    async def update(request: web.Request) -> web.StreamResponse:
        body = await api.json_body(request) or {}
        warnings = await api.call(engine.update, request.match_info["id"], body)
        return jsonr({"Warnings": warnings})

    return [
        ("POST", "/containers/create", create),
        ("GET", "/containers/json", list_),
        ("POST", "/containers/prune", prune),
        ("GET", "/containers/{id}/json", inspect),
        ("POST", "/containers/{id}/start", start),
        ("POST", "/containers/{id}/stop", stop),
        ("POST", "/containers/{id}/restart", restart),
        ("POST", "/containers/{id}/kill", kill),
        ("POST", "/containers/{id}/pause", pause),
        ("POST", "/containers/{id}/unpause", unpause),
        ("POST", "/containers/{id}/rename", rename),
        ("POST", "/containers/{id}/resize", resize),
        ("POST", "/containers/{id}/wait", wait),
        ("POST", "/containers/{id}/attach", attach),
        ("GET", "/containers/{id}/attach/ws", attach_ws),
        ("POST", "/containers/{id}/update", update),
        ("GET", "/containers/{id}/logs", logs),
        ("GET", "/containers/{id}/top", top),
        ("GET", "/containers/{id}/changes", changes),
        ("GET", "/containers/{id}/export", export),
        ("GET", "/containers/{id}/stats", stats),
        ("HEAD", "/containers/{id}/archive", archive_head),
        ("GET", "/containers/{id}/archive", archive_get),
        ("PUT", "/containers/{id}/archive", archive_put),
        ("DELETE", "/containers/{id}", remove),
        ("POST", "/commit", commit),
    ]


# --- attach ------------------------------------------------------------------------------------


async def _attach(api: Api, request: web.Request) -> web.StreamResponse:
    engine = api.engine
    c = engine.get(request.match_info["id"])
    stream = api.qbool(request, "stream")
    want_logs = api.qbool(request, "logs")
    req = AttachRequest(stdin=api.qbool(request, "stdin"), stdout=api.qbool(request, "stdout"),
                        stderr=api.qbool(request, "stderr"))
    if not (req.stdin or req.stdout or req.stderr):
        raise errors.InvalidArgument("at least one of stdin, stdout, stderr must be requested")
    keys = parse_detach_keys(request.query.get("detachKeys", ""))
    future = engine.attach(c.id, req) if stream else None
    hj = await hijack(request, RAW_STREAM if c.tty else MULTIPLEXED_STREAM)
    try:
        if want_logs:
            await _replay_logs(api, c.id, c.tty, req, hj)
        if future is None:
            return web.Response()
        conn = await asyncio.wrap_future(future)
        if conn is None:
            return web.Response()
        engine.container_event(c, "attach")
        await _pump(hj, conn, detach=keys if c.tty and req.stdin else None, stdin=req.stdin)
    except ConnectionResetError:
        pass
    finally:
        if future is not None and not future.done():
            future.cancel()
        hj.close()
    return web.Response()


async def _pump(hj: Hijacked, conn: socket.socket, *, detach: bytes | None, stdin: bool) -> None:
    """Proxy between the client and the monitor until the monitor closes (the process exited) or
    the client types the `detach` sequence."""
    conn.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=conn)

    escape = EscapeProxy(detach) if detach else None

    async def upstream() -> None:
        while True:
            data = await hj.read()
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            if escape is not None:
                data, detached = escape.feed(data)
                if detached:
                    if data and stdin:
                        writer.write(data)
                    raise _Detached()
            if stdin:
                writer.write(data)
                await writer.drain()

    up = asyncio.ensure_future(upstream())
    down = asyncio.ensure_future(_downstream(reader, hj))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and up.exception() is None and not down.done():
            await down  # stdin ended: keep sending output until the process exits
    finally:
        for task in (up, down):
            if not task.done():
                task.cancel()
        writer.close()


class _Detached(Exception):
    pass


async def _downstream(reader: asyncio.StreamReader, hj: Hijacked) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            return
        await hj.write(data)


async def _attach_ws(api: Api, request: web.Request) -> web.StreamResponse:
    engine = api.engine
    c = engine.get(request.match_info["id"])
    req = AttachRequest(stdin=api.qbool(request, "stdin"), stdout=api.qbool(request, "stdout"),
                        stderr=api.qbool(request, "stderr"))
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    if api.qbool(request, "logs"):
        for record in await api.call(lambda: list(_read_logs(api, c.id, _read_options(req))) ):
            await ws.send_bytes(record.line)
    if not api.qbool(request, "stream"):
        await ws.close()
        return ws
    conn = await asyncio.wrap_future(engine.attach(c.id, req))
    if conn is None:
        await ws.close()
        return ws
    conn.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=conn)

    async def down() -> None:
        buf = bytearray()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if c.tty:
                await ws.send_bytes(data)
                continue
            buf += data
            while len(buf) >= 8:
                size = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + size:
                    break
                await ws.send_bytes(bytes(buf[8:8 + size]))
                del buf[:8 + size]

    task = asyncio.ensure_future(down())
    try:
        async for msg in ws:
            if msg.type.name in ("TEXT", "BINARY") and req.stdin:
                data = msg.data.encode() if isinstance(msg.data, str) else msg.data
                writer.write(data)
                await writer.drain()
        await task
    finally:
        task.cancel()
        writer.close()
        await ws.close()
    return ws


# --- logs --------------------------------------------------------------------------------------


def _read_options(req: AttachRequest, since_ns: int = 0, until_ns: int = 0, tail: int = -1) -> Any:
    from dockyard.engine.logs import ReadOptions

    return ReadOptions(stdout=req.stdout, stderr=req.stderr, since_ns=since_ns, until_ns=until_ns, tail=tail)


def _read_logs(api: Api, cid: str, options: Any) -> Any:
    from dockyard.engine import logs as logmod

    return list(logmod.read_logs(api.engine.log_path(cid), options))


def _format_record(record: Any, tty: bool, timestamps: bool) -> bytes:
    line = record.line
    if timestamps:
        from dockyard.engine.logs import format_timestamp

        line = format_timestamp(record.time_ns).encode() + b" " + line
    if tty:
        return bytes(line)
    return frame(1 if record.stream == "stdout" else 2, line)


async def _replay_logs(api: Api, cid: str, tty: bool, req: AttachRequest, hj: Hijacked) -> None:
    records = await api.call(_read_logs, api, cid, _read_options(req))
    for record in records:
        await hj.write(_format_record(record, tty, False))


async def _logs(api: Api, request: web.Request) -> web.StreamResponse:
    engine = api.engine
    c = engine.get(request.match_info["id"])
    stdout, stderr = api.qbool(request, "stdout"), api.qbool(request, "stderr")
    if not (stdout or stderr):
        raise errors.InvalidArgument("Bad parameters: you must choose at least one stream")
    from dockyard.engine.logs import READABLE_DRIVERS

    if c.log_driver not in READABLE_DRIVERS:
        raise errors.NotImplemented('configured logging driver does not support reading')
    follow = api.qbool(request, "follow")
    timestamps = api.qbool(request, "timestamps")
    tail_text = request.query.get("tail", "all")
    tail = -1 if tail_text in ("", "all") else _int(tail_text, "tail")
    since_ns = _time_arg(request.query.get("since", ""))
    until_ns = _time_arg(request.query.get("until", ""))
    from dockyard.engine.logs import ReadOptions

    options = ReadOptions(stdout=stdout, stderr=stderr, since_ns=since_ns, until_ns=until_ns, tail=tail)
    response = web.StreamResponse(headers={"Content-Type": RAW_STREAM if c.tty else MULTIPLEXED_STREAM})
    await response.prepare(request)
    if follow and c.state.status in ("running", "paused", "restarting"):
        await _follow(api, c.id, c.tty, timestamps, options, response)
    else:
        for record in await api.call(_read_logs, api, c.id, options):
            await response.write(_format_record(record, c.tty, timestamps))
    await response.write_eof()
    return response


async def _follow(api: Api, cid: str, tty: bool, timestamps: bool, options: Any, response: web.StreamResponse) -> None:
    from dockyard.engine import logs as logmod

    engine = api.engine
    stop = asyncio.Event()
    future = engine.wait(cid, "not-running")
    loop = asyncio.get_running_loop()
    future.add_done_callback(lambda _f: loop.call_soon_threadsafe(stop.set))
    async for record in logmod.follow_logs(engine.log_path(cid), options, stop=stop):
        await response.write(_format_record(record, tty, timestamps))


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.InvalidArgument(f"invalid value for {name}: {text!r}") from None


def _time_arg(text: str) -> int:
    """since/until as the docker CLI sends them: "<seconds>.<nanoseconds>" (kept exact: a float
    would round a record's own timestamp past itself), or an RFC 3339 time or a duration."""
    if not text or text == "0":
        return 0
    seconds, dot, fraction = text.partition(".")
    if seconds.lstrip("-").isdigit() and (not dot or fraction.isdigit()):
        return int(seconds) * 1_000_000_000 + (int(fraction.ljust(9, "0")[:9]) if fraction else 0)
    from dockyard.images.service import parse_until

    return int(parse_until(text) * 1e9)


# --- stats -------------------------------------------------------------------------------------


async def _stats(api: Api, request: web.Request) -> web.StreamResponse:
    """`docker stats`: one document a second (stream), or one (stream=0: two samples a second
    apart, so the CPU percentage has a base, as dockerd; one-shot=1: one sample, no base)."""
    engine = api.engine
    c = engine.get(request.match_info["id"])
    stream = api.qbool(request, "stream", True)
    one_shot = api.qbool(request, "one-shot")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    previous: dict[str, Any] = {}
    if not stream and not one_shot:
        previous = await api.call(_stats_doc, engine, c, {})
        await asyncio.sleep(1)
    while True:
        doc = await api.call(_stats_doc, engine, c, previous)
        await response.write(json.dumps(doc).encode() + b"\n")
        previous = doc
        if not stream or c.state.status not in ("running", "paused"):
            break
        await asyncio.sleep(1)
    await response.write_eof()
    return response


def _system_cpu_ns() -> int:
    """Total CPU time of the host, all CPUs, in ns (the base of Docker's CPU percentage)."""
    import os

    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024


def _stats_doc(engine: Any, c: Any, previous: dict[str, Any]) -> dict[str, Any]:
    import os

    from dockyard.engine.container import rfc3339_now

    raw: dict[str, Any] = {}
    if c.state.status in ("running", "paused"):
        with contextlib.suppress(errors.DockyardError):
            raw = engine.runtime.stats(c.id).get("data", {})
    cpu = raw.get("cpu", {}).get("usage", {})
    memory = raw.get("memory", {})
    pids = raw.get("pids", {})
    ncpu = os.cpu_count() or 1
    limit = memory.get("usage", {}).get("limit", 0)
    return {
        "read": rfc3339_now(), "preread": previous.get("read", "0001-01-01T00:00:00Z"),
        "pids_stats": {"current": pids.get("current", 0), **({"limit": pids["limit"]} if pids.get("limit") else {})},
        "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": cpu.get("total", 0), "percpu_usage": cpu.get("percpu"),
                                    "usage_in_kernelmode": cpu.get("kernel", 0),
                                    "usage_in_usermode": cpu.get("user", 0)},
                      "system_cpu_usage": _system_cpu_ns(), "online_cpus": ncpu, "throttling_data": {
                          "periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": previous.get("cpu_stats", {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}),
        "memory_stats": {"usage": memory.get("usage", {}).get("usage", 0),
                         "limit": min(limit, _mem_total()) if limit else _mem_total(),
                         "stats": memory.get("raw", {})},
        "name": c.name, "id": c.id, "networks": {},
    }


__all__ = ["EscapeProxy", "parse_detach_keys", "routes"]
