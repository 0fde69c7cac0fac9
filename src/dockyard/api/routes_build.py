"""POST /build: the builder's route (dockyard.build.api does the work; this only mounts it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard.api.server import Api, Handler


def routes(api: Api) -> list[tuple[str, str, Handler]]:
    builders: dict[str, Any] = {}

    def builder() -> Any:
        if "b" not in builders:
            from dockyard.build.executor import Builder

            engine = api.engine
            builders["b"] = Builder(engine.images, runtime_root=engine.runtime_root,
                                    work_root=engine.data_root / "builder", cgroup_parent=engine.cgroup_parent)
        return builders["b"]

    async def build(request: web.Request) -> web.StreamResponse:
        from dockyard.build.api import serve_build

        version = request.match_info.get("version", "")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        body = api.body_reader(request)
        b = await api.call(builder)
        await api.stream_from(request, response, lambda out: serve_build(b, request.query, body, out,
                                                                         api_version=version))
        await response.write_eof()
        return response

    return [("POST", "/build", build)]
