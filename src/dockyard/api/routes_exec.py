"""/containers/{id}/exec and /exec/{id}/...: create, start (hijacked), resize, inspect."""

from __future__ import annotations

from aiohttp import web

from dockyard import errors
from dockyard.api.hijack import MULTIPLEXED_STREAM, RAW_STREAM, hijack
from dockyard.api.routes_containers import _pump, parse_detach_keys
from dockyard.api.server import Api, Handler, jsonr
from dockyard.engine.monitor import frame


def routes(api: Api) -> list[tuple[str, str, Handler]]:
    execs = api.engine.execs

    async def create(request: web.Request) -> web.StreamResponse:
        body = await api.json_body(request)
        if body is None:
            raise errors.InvalidArgument("No exec command specified")
        exec_id = await api.call(execs.create, request.match_info["id"], body)
        return jsonr({"Id": exec_id}, status=201)

    async def start(request: web.Request) -> web.StreamResponse:
        body = await api.json_body(request) or {}
        if not isinstance(body, dict):
            raise errors.InvalidArgument("json: cannot unmarshal into Go value of type types.ExecStartCheck")
        exec_id = request.match_info["id"]
        record = execs.get(exec_id)
        detach = bool(body.get("Detach"))
        tty = body.get("Tty")
        size = body.get("ConsoleSize") or [0, 0]
        if detach:
            await api.call(execs.start, exec_id, detach=True, tty=tty, console_size=(size[0], size[1]))
            return web.Response(status=200)
        if record.running or record.started:
            # Checked again by start(); refused here first so the client gets a status, not a stream.
            raise errors.Conflict(f"Error: Exec command {exec_id} is already running" if record.running
                                  else f"Error: Exec command {exec_id} has already run")
        # As dockerd: answer 101 first, then start the process. Clients (the Python SDK) read the
        # stream from the raw socket after parsing the headers: output sent along with the 101
        # would be lost in their buffer.
        hj = await hijack(request, RAW_STREAM if record.tty else MULTIPLEXED_STREAM)
        try:
            try:
                conn = await api.call(execs.start, exec_id, detach=False, tty=tty, console_size=(size[0], size[1]))
            except errors.DockyardError as err:
                message = (str(err) + "\r\n").encode()
                await hj.write(message if record.tty else frame(1, message))
                return web.Response()
            if conn is not None:
                keys = parse_detach_keys(record.detach_keys) if record.tty and record.attach_stdin else None
                await _pump(hj, conn, detach=keys, stdin=record.attach_stdin)
            # The client asks for the exit code as soon as the stream ends: have it recorded by then.
            await api.call(execs.wait, exec_id, 5.0)
        except ConnectionResetError:
            pass
        finally:
            hj.close()
        return web.Response()

    async def resize(request: web.Request) -> web.StreamResponse:
        h = api.qint(request, "h", 0) or 0
        w = api.qint(request, "w", 0) or 0
        await api.call(execs.resize, request.match_info["id"], h, w)
        return web.Response(status=200)

    async def inspect(request: web.Request) -> web.StreamResponse:
        return jsonr(execs.get(request.match_info["id"]).inspect())

    return [
        ("POST", "/containers/{id}/exec", create),
        ("POST", "/exec/{id}/start", start),
        ("POST", "/exec/{id}/resize", resize),
        ("GET", "/exec/{id}/json", inspect),
    ]


__all__ = ["routes"]
