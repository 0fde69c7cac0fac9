"""/images/...: over dockyard.images.ImageService. Nothing is ever pulled: `fromImage` answers from
the local store or fails at once, as a registry that has no such repository would make dockerd fail."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard import errors
from dockyard.api.server import Api, Handler, jsonr
from dockyard.engine import views


def routes(api: Api) -> list[tuple[str, str, Handler]]:
    images = api.engine.images
    publish = api.engine.publish

    async def list_(request: web.Request) -> web.StreamResponse:
        filters = views.parse_filters(request.query.get("filters", ""))
        name = request.query.get("filter")
        if name:
            filters.setdefault("reference", []).append(name)
        return jsonr(await api.call(images.list_images, api.qbool(request, "all"), filters))

    async def inspect(request: web.Request) -> web.StreamResponse:
        return jsonr(await api.call(images.inspect, request.match_info["name"]))

    async def history(request: web.Request) -> web.StreamResponse:
        return jsonr(await api.call(images.history, request.match_info["name"]))

    async def tag(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        repo = request.query.get("repo", "")
        await api.call(images.tag, name, repo, request.query.get("tag", ""))
        image = await api.call(images.resolve, name)
        publish("image", "tag", image.id, {"name": f"{repo}:{request.query.get('tag') or 'latest'}"})
        return web.Response(status=201)

    async def remove(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        result = await api.call(images.remove, name, api.qbool(request, "force"), not api.qbool(request, "noprune"))
        for item in result:
            if "Untagged" in item:
                publish("image", "untag", item["Untagged"], {"name": item["Untagged"]})
            if "Deleted" in item:
                publish("image", "delete", item["Deleted"], {"name": item["Deleted"]})
        return jsonr(result)

    async def prune(request: web.Request) -> web.StreamResponse:
        filters = views.parse_filters(request.query.get("filters", ""))
        dangling = filters.get("dangling", ["true"])
        all_ = bool(dangling) and dangling[-1].lower() in ("false", "0")
        filters.pop("dangling", None)
        return jsonr(await api.call(images.prune, all_, filters))

    async def create(request: web.Request) -> web.StreamResponse:
        source = request.query.get("fromSrc")
        if source is not None:
            return await _import(request, source)
        image = request.query.get("fromImage", "")
        tag_ = request.query.get("tag", "")
        if not image:
            raise errors.InvalidArgument("fromImage or fromSrc is required")
        ref = image if not tag_ else (f"{image}@{tag_}" if tag_.startswith("sha256:") else f"{image}:{tag_}")
        try:
            found = await api.call(images.resolve, ref)
        except errors.NotFound:
            repo = image.split("@")[0]
            if ":" in repo.rsplit("/", 1)[-1]:
                repo = repo.rsplit(":", 1)[0]
            repo = repo.removeprefix("docker.io/").removeprefix("library/")
            raise errors.NotFound(f"pull access denied for {repo}, repository does not exist or may require "
                                  "'docker login': denied: requested access to the resource is denied") from None
        del found
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        shown = ref if ":" in ref.rsplit("/", 1)[-1] or "@" in ref else f"{ref}:latest"
        for line in ({"status": f"Pulling from {image}", "id": tag_ or "latest"},
                     {"status": f"Status: Image is up to date for {shown}"}):
            await response.write(json.dumps(line).encode() + b"\r\n")
        await response.write_eof()
        return response

    async def _import(request: web.Request, source: str) -> web.StreamResponse:
        if source != "-":
            raise errors.NotImplemented("import from a URL is not supported: dockyard never downloads; "
                                        "send the archive in the request body (fromSrc=-)")
        reader = api.body_reader(request)
        image_id = await api.call(images.import_rootfs, reader, repo=request.query.get("repo", ""),
                                  tag=request.query.get("tag", ""), changes=request.query.getall("changes", []),
                                  message=request.query.get("message", ""))
        publish("image", "import", image_id, {"name": image_id})
        return jsonr({"status": image_id})

    async def load(request: web.Request) -> web.StreamResponse:
        import tempfile
        from pathlib import Path

        quiet = api.qbool(request, "quiet")
        # The archive may be read twice (docker-archive or OCI layout): spool it to a file first.
        with tempfile.NamedTemporaryFile(prefix="dockyard-load-", dir=str(api.engine.data_root)) as tmp:
            while True:
                chunk = await request.content.read(1 << 20)
                if not chunk:
                    break
                tmp.write(chunk)
            tmp.flush()
            result = await api.call(images.load, Path(tmp.name))
        for image_id in result.image_ids:
            publish("image", "load", image_id, {"name": image_id})
        body = b"".join(json.dumps({"stream": m + "\n"}).encode() + b"\n" for m in result.messages)
        del quiet
        return web.Response(body=body, content_type="application/json")

    async def save(request: web.Request) -> web.StreamResponse:
        names = request.query.getall("names", []) or [request.match_info.get("name", "")]
        names = [n for n in names if n]
        for n in names:
            await api.call(images.resolve, n)
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await api.stream_from(request, response, lambda out: images.save(names, out))
        await response.write_eof()
        return response

    return [
        ("GET", "/images/json", list_),
        ("POST", "/images/create", create),
        ("POST", "/images/load", load),
        ("POST", "/images/prune", prune),
        ("GET", "/images/get", save),
        ("GET", "/images/{name:.+}/json", inspect),
        ("GET", "/images/{name:.+}/history", history),
        ("GET", "/images/{name:.+}/get", save),
        ("POST", "/images/{name:.+}/tag", tag),
        ("DELETE", "/images/{name:.+}", remove),
    ]
