"""/volumes/...: over dockyard.volumes.VolumeStore."""

from __future__ import annotations

from aiohttp import web

from dockyard import errors
from dockyard.api.server import Api, Handler, jsonr
from dockyard.engine import views


def routes(api: Api) -> list[tuple[str, str, Handler]]:
    def store() -> object:
        volumes = api.engine.volumes
        if volumes is None:
            raise errors.NotImplemented("volumes are not available in this build")
        return volumes

    async def list_(request: web.Request) -> web.StreamResponse:
        volumes = store()
        filters = views.parse_filters(request.query.get("filters", ""))
        found = await api.call(volumes.list_volumes, filters)  # type: ignore[attr-defined]
        return jsonr({"Volumes": [v.to_json() for v in found], "Warnings": None})

    async def create(request: web.Request) -> web.StreamResponse:
        volumes = store()
        body = await api.json_body(request) or {}
        if not isinstance(body, dict):
            raise errors.InvalidArgument("json: cannot unmarshal into Go value of type volume.CreateOptions")
        volume = await api.call(volumes.create, body.get("Name") or None,  # type: ignore[attr-defined]
                                driver=body.get("Driver") or "local", driver_opts=body.get("DriverOpts") or {},
                                labels=body.get("Labels") or {})
        api.engine.publish("volume", "create", volume.name, {"driver": volume.driver})
        return jsonr(volume.to_json(), status=201)

    async def inspect(request: web.Request) -> web.StreamResponse:
        volumes = store()
        return jsonr(await api.call(volumes.inspect, request.match_info["name"]))  # type: ignore[attr-defined]

    async def remove(request: web.Request) -> web.StreamResponse:
        volumes = store()
        name = request.match_info["name"]
        await api.call(volumes.remove, name, force=api.qbool(request, "force"))  # type: ignore[attr-defined]
        api.engine.publish("volume", "destroy", name, {"driver": "local"})
        return web.Response(status=204)

    async def prune(request: web.Request) -> web.StreamResponse:
        volumes = store()
        filters = views.parse_filters(request.query.get("filters", ""))
        report = await api.call(volumes.prune, filters)  # type: ignore[attr-defined]
        return jsonr(report.to_json())

    return [
        ("GET", "/volumes", list_),
        ("POST", "/volumes/create", create),
        ("POST", "/volumes/prune", prune),
        ("GET", "/volumes/{name}", inspect),
        ("DELETE", "/volumes/{name}", remove),
    ]
