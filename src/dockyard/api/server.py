"""The Docker Engine API over aiohttp: the app, its routes, error mapping, and blocking-call glue.

Every route is reachable with and without a version prefix (`/v1.43/containers/json`); a
version above API_VERSION or below MIN_API_VERSION is refused as dockerd refuses it. Handlers
are thin: they read the query and body, call the engine in a thread (`Api.call`), and write
Docker's JSON. Errors are mapped here and only here (`STATUS`): the engine raises
dockyard.errors kinds and the body is `{"message": ...}` in Docker's words.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import platform
import threading
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

from aiohttp import web

from dockyard import errors
from dockyard.engine.engine import Engine, NotModified, StartFailed

API_VERSION = "1.43"
MIN_API_VERSION = "1.24"
SERVER_VERSION = "24.0.0-dockyard"

STATUS: list[tuple[type[BaseException], int]] = [
    (NotModified, 304),
    (errors.NotFound, 404),
    (errors.AlreadyExists, 409),
    (errors.Conflict, 409),
    (errors.InvalidArgument, 400),
    (errors.NotImplemented, 501),
    (errors.PermissionDenied, 403),
    (errors.Unavailable, 503),
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_of(err: BaseException) -> int:
    if isinstance(err, StartFailed):
        return 400 if err.invalid_config else 500
    for kind, status in STATUS:
        if isinstance(err, kind):
            return status
    return 500


def jsonr(data: Any, status: int = 200) -> web.Response:
    """A JSON response with Content-Type exactly `application/json`: the docker CLI compares the
    header verbatim before it reads an error's message."""
    return web.Response(body=json.dumps(data).encode() + b"\n", status=status,
                        headers={"Content-Type": "application/json"})


def error_response(status: int, message: str) -> web.Response:
    return jsonr({"message": message}, status=status)


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    version = request.match_info.get("version", "")
    if version:
        if _version_tuple(version) > _version_tuple(API_VERSION):
            return error_response(400, f"client version {version} is too new. Maximum supported API version is "
                                       f"{API_VERSION}")
        if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
            return error_response(400, f"client version {version} is too old. Minimum supported API version is "
                                       f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except NotModified:
        return web.Response(status=304)
    except errors.DockyardError as err:
        return error_response(status_of(err), str(err))
    except ConnectionResetError:
        return web.Response()  # the client went away; nothing to tell it
    except Exception as err:
        import traceback

        traceback.print_exc()
        return error_response(500, f"{type(err).__name__}: {err}")
    response.headers.setdefault("Api-Version", API_VERSION)
    response.headers.setdefault("Docker-Experimental", "false")
    response.headers.setdefault("Ostype", "linux")
    response.headers.setdefault("Server", f"Docker/{SERVER_VERSION} (linux)")
    return response


class Api:
    """The routes' shared state: the engine, the thread pool, the event bus."""

    def __init__(self, engine: Engine, *, debug: bool = False) -> None:
        self.engine = engine
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="api")
        self.debug = debug
        self.loop: asyncio.AbstractEventLoop | None = None
        self.bus: Any = None
        self.config: dict[str, Any] = {}

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))

    # -- request helpers ------------------------------------------------------------------------

    @staticmethod
    async def json_body(request: web.Request, *, allow_empty: bool = True) -> Any:
        raw = await request.read()
        if not raw.strip():
            if allow_empty:
                return None
            raise errors.InvalidArgument("body cannot be empty")
        try:
            return json.loads(raw)
        except ValueError as err:
            raise errors.InvalidArgument(f"invalid JSON: {_go_json_error(err)}") from None

    @staticmethod
    def qbool(request: web.Request, name: str, default: bool = False) -> bool:
        value = request.query.get(name)
        if value is None:
            return default
        return value.lower() not in ("", "0", "false", "no")

    @staticmethod
    def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
        value = request.query.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise errors.InvalidArgument(f"invalid value for {name}: {value!r}") from None

    # -- streaming from a blocking producer -----------------------------------------------------

    async def stream_from(self, request: web.Request, response: web.StreamResponse,
                          producer: Callable[[BinaryIO], Any]) -> Any:
        """Run `producer(out)` in a thread; what it writes to `out` is sent as the body as it comes."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        room = threading.Semaphore(64)
        out = _QueueWriter(loop, queue, room)

        def run() -> Any:
            try:
                return producer(out)  # type: ignore[arg-type]
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        future = loop.run_in_executor(self.pool, run)
        prepared = response.prepared
        try:
            while True:
                chunk = await queue.get()
                if chunk is None:
                    break
                room.release()
                if not prepared:
                    await response.prepare(request)
                    prepared = True
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            out.broken = True
            for _ in range(64):
                room.release()
            raise
        result = await future
        if not prepared:
            await response.prepare(request)
        return result

    def body_reader(self, request: web.Request) -> BinaryIO:
        """A blocking file-like reading the request body, for a consumer running in a thread."""
        loop = asyncio.get_running_loop()
        return _BodyReader(loop, request)  # type: ignore[return-value]


class _QueueWriter:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None],
                 room: threading.Semaphore) -> None:
        self.loop = loop
        self.queue = queue
        self.room = room
        self.broken = False

    def write(self, data: bytes) -> int:
        if self.broken:
            raise BrokenPipeError("client went away")
        if data:
            self.room.acquire()
            if self.broken:
                raise BrokenPipeError("client went away")
            self.loop.call_soon_threadsafe(self.queue.put_nowait, bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class _BodyReader:
    def __init__(self, loop: asyncio.AbstractEventLoop, request: web.Request) -> None:
        self.loop = loop
        self.request = request

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            coro = self.request.content.read()
        else:
            coro = self.request.content.read(n)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


def _go_json_error(err: ValueError) -> str:
    return str(err)


def build_app(api: Api) -> web.Application:
    from dockyard.api import (
        routes_build,
        routes_containers,
        routes_exec,
        routes_images,
        routes_system,
        routes_volumes,
    )

    app = web.Application(middlewares=[_middleware], client_max_size=0, handler_args={"max_field_size": 65536})
    app["api"] = api
    table: list[tuple[str, str, Handler]] = []
    for module in (routes_system, routes_containers, routes_exec, routes_images, routes_volumes, routes_build):
        table.extend(module.routes(api))
    for method, path, handler in table:
        app.router.add_route(method, "/v{version:[0-9.]+}" + path, handler)
        app.router.add_route(method, path, handler)
    return app


def platform_info() -> dict[str, str]:
    return {"os": "linux", "arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())}
