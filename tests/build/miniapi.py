"""A minimal Engine API server for the builder: /_ping and POST /build (over
`dockyard.build.serve_build`) on a unix socket, served from a thread, so the real docker CLI can
build with dockyard's builder before and apart from dockyardd (test_api.py, bench/build.py).

    with MiniApi(builder, Path("/tmp/x/api.sock")):
        subprocess.run(["docker", "build", "."], env={..., "DOCKER_HOST": "unix:///tmp/x/api.sock",
                                                      "DOCKER_BUILDKIT": "0"})
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path
from typing import Any

from dockyard.build import Builder, serve_build
from dockyard.errors import DockyardError, InvalidArgument, NotFound


class MiniApi:
    """/_ping and /build of the Engine API over `serve_build`, on a unix socket, in a thread."""

    def __init__(self, builder: Builder, socket_path: Path) -> None:
        self.builder = builder
        self.socket_path = socket_path
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.runner: Any = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        from aiohttp import web

        headers = {"Api-Version": "1.41", "Ostype": "linux", "Docker-Experimental": "false"}

        async def ping(request: web.Request) -> web.StreamResponse:
            return web.Response(text="OK", headers=headers)

        async def build(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            version = request.match_info.get("version", "")
            out = io.BytesIO()

            def produce() -> Any:
                return serve_build(self.builder, request.query, io.BytesIO(body), out, api_version=version)

            try:
                await asyncio.get_running_loop().run_in_executor(None, produce)
            except DockyardError as err:
                status = 404 if isinstance(err, NotFound) else 400 if isinstance(err, InvalidArgument) else 500
                return web.Response(body=json.dumps({"message": str(err)}).encode(), status=status,
                                    headers={**headers, "Content-Type": "application/json"})
            return web.Response(body=out.getvalue(), headers={**headers, "Content-Type": "application/json"})

        app = web.Application(client_max_size=0)
        for prefix in ("", "/v{version:[0-9.]+}"):
            app.router.add_route("GET", prefix + "/_ping", ping)
            app.router.add_route("HEAD", prefix + "/_ping", ping)
            app.router.add_route("POST", prefix + "/build", build)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.UnixSite(self.runner, str(self.socket_path)).start()

    def __enter__(self) -> MiniApi:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
