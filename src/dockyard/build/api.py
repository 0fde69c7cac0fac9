"""The Engine API's `POST /build` on top of the builder, so the daemon only mounts a route:

    builder = Builder(engine.images, runtime_root=engine.runtime_root,
                      work_root=engine.data_root / "builder", cgroup_parent=engine.cgroup_parent)

    async def build(request):                      # POST /build and /v{version}/build
        version = request.match_info.get("version", "")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        body = api.body_reader(request)            # made on the event loop, read from the worker
        await api.stream_from(request, response, lambda out: serve_build(
            builder, request.query, body, out, api_version=version))
        await response.write_eof()
        return response

(Tested that way against the real docker CLI: tests/build/test_dockyardd.py.)

`serve_build(builder, query, body, out)` reads the query parameters as dockerd 20.10 does
(`t` several times, `dockerfile`, `buildargs` and `labels` as JSON, `target`, `nocache`, `q`,
`rm`, `forcerm`, `pull`, `networkmode`, `extrahosts`, `platform`, `memory`, `memswap`,
`cpushares`, `cpusetcpus`, `cpusetmems`, `cpuperiod`, `cpuquota`, `shmsize`, `cgroupparent`, ...),
extracts the context tar from `body` (plain or compressed), builds, and writes Docker's JSON
stream to `out`, one message per line ending in `\\r\\n`:

    {"stream":"Step 1/2 : FROM busybox"}            (Go's JSON: `<>&` escaped)
    {"stream":" ---\\u003e 3f57d9401f8d\\n"}
    {"aux":{"ID":"sha256:..."}}                     (API 1.30 and later, after each stage)
    {"errorDetail":{"code":3,"message":"The command ..."},"error":"The command ..."}

Errors follow dockerd: one raised before anything was written (a bad parameter, a broken
context, a Dockerfile that does not parse, a bad tag) propagates, for the route to answer with
its status code and `{"message": ...}` (InvalidArgument -> 400, NotFound -> 404, ...); once
the stream has started, an error is its last message and `serve_build` returns None. With
`q=1` the output is held back: on success only `{"stream":"sha256:...\\n"}` is written, on
failure the held output and then the error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, BinaryIO, Protocol

from dockyard import errors
from dockyard.build.context import BuildContext
from dockyard.build.executor import Builder, BuildOptions, BuildResult, RunFailed
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.oci import gojson

__all__ = ["build_options_from_query", "encode_message", "serve_build"]


class _MultiQuery(Protocol):
    def getall(self, key: str, default: list[str]) -> list[str]: ...


Query = Mapping[str, Any] | _MultiQuery


def _all(query: Query, key: str) -> list[str]:
    getall = getattr(query, "getall", None)
    if getall is not None:
        values: list[str] = list(getall(key, []))
        return values
    value = query.get(key) if isinstance(query, Mapping) else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _value(query: Query, key: str) -> str:
    values = _all(query, key)
    return values[0] if values else ""


def _bool(query: Query, key: str) -> bool:
    """httputils.BoolValue: anything but "", 0, no, false, none."""
    return _value(query, key).strip().lower() not in ("", "0", "no", "false", "none")


def _int(query: Query, key: str) -> int:
    """httputils.Int64ValueOrZero."""
    try:
        return int(_value(query, key))
    except ValueError:
        return 0


def _version_at_least(version: str, wanted: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in v.split("."))
        except ValueError:
            return (0,)

    return not version or parts(version) >= parts(wanted)


def _json_map(query: Query, key: str, what: str) -> dict[str, Any]:
    raw = _value(query, key)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as err:
        raise InvalidArgument(f"error reading {what}: {err}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"error reading {what}: json: cannot unmarshal {type(value).__name__} into Go value "
                              "of type map[string]string")
    return value


def build_options_from_query(query: Query, *, api_version: str = "") -> BuildOptions:
    """dockerd's newImageBuildOptions: the query of POST /build as BuildOptions."""
    if _value(query, "remote"):
        raise errors.NotImplemented("building from a remote context (git, URL) is not supported: dockyard does not "
                             "download build contexts; send the context as the request body")
    if _value(query, "version") == "2":
        raise errors.NotImplemented("BuildKit is not supported by dockyard: use the classic builder (DOCKER_BUILDKIT=0)")
    if _value(query, "version") not in ("", "1", "2"):
        raise InvalidArgument(f'invalid version "{_value(query, "version")}"')
    if _bool(query, "squash"):
        raise InvalidArgument("squash is only supported with experimental mode")
    if _all(query, "securityopt"):
        raise InvalidArgument("The daemon on this platform does not support setting security options on build")
    build_args: dict[str, str | None] = {}
    for key, value in _json_map(query, "buildargs", "build args").items():
        if value is not None and not isinstance(value, str):
            raise InvalidArgument("error reading build args: json: cannot unmarshal number into Go value of type string")
        build_args[key] = value
    labels = {str(k): str(v) for k, v in _json_map(query, "labels", "labels").items()}
    force_rm = _bool(query, "forcerm")
    if force_rm and _version_at_least(api_version, "1.12"):
        remove = True
    elif _value(query, "rm") == "" and _version_at_least(api_version, "1.12"):
        remove = True
    else:
        remove = _bool(query, "rm")
    shm = _value(query, "shmsize")
    try:
        shm_size = int(shm) if shm else 0
    except ValueError:
        raise InvalidArgument(f'strconv.ParseInt: parsing "{shm}": invalid syntax') from None
    return BuildOptions(
        dockerfile=_value(query, "dockerfile") or "Dockerfile",
        tags=_all(query, "t"),
        build_args=build_args,
        labels=labels,
        target=_value(query, "target"),
        no_cache=_bool(query, "nocache"),
        pull=_bool(query, "pull"),
        quiet=_bool(query, "q"),
        remove=remove,
        force_remove=force_rm,
        network_mode=_value(query, "networkmode"),
        extra_hosts=_all(query, "extrahosts"),
        platform=_value(query, "platform") if _version_at_least(api_version, "1.32") else "",
        cgroup_parent=_value(query, "cgroupparent"),
        memory=_int(query, "memory"),
        memory_swap=_int(query, "memswap"),
        cpu_shares=_int(query, "cpushares"),
        cpu_period=_int(query, "cpuperiod"),
        cpu_quota=_int(query, "cpuquota"),
        cpuset_cpus=_value(query, "cpusetcpus"),
        cpuset_mems=_value(query, "cpusetmems"),
        shm_size=shm_size,
    )


def encode_message(message: Mapping[str, Any]) -> bytes:
    """One JSON stream message as dockerd writes it (Go's encoding, `\\r\\n` after it)."""
    ordered: dict[str, Any] = {}
    for key in ("stream", "status", "id", "errorDetail", "error", "aux"):
        if key in message:
            ordered[key] = message[key]
    return gojson.dumps(ordered) + b"\r\n"


def _error_message(err: BaseException) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if isinstance(err, RunFailed) and err.code:
        detail["code"] = err.code
    detail["message"] = str(err)
    return {"errorDetail": detail, "error": str(err)}


def serve_build(builder: Builder, query: Query, body: BinaryIO, out: BinaryIO, *, api_version: str = "") -> BuildResult | None:
    """Handle one POST /build: see the module's docstring. Returns the result, or None when the
    build failed after the stream had started (the error is then in the stream)."""
    options = build_options_from_query(query, api_version=api_version)
    want_aux = _version_at_least(api_version, "1.30")
    held: list[bytes] = []
    started = False

    def emit(message: dict[str, Any]) -> None:
        nonlocal started
        if "aux" in message and not want_aux:
            return
        data = encode_message(message)
        if options.quiet:
            held.append(data)
            return
        started = True
        out.write(data)
        flush = getattr(out, "flush", None)
        if flush is not None:
            flush()

    context = BuildContext.from_tar(body, builder.work_root)
    try:
        try:
            result = builder.build(context, options, emit)
        except DockyardError as err:
            if options.quiet and held:
                out.write(b"".join(held))
                started = True
            if not started:
                raise
            out.write(encode_message(_error_message(err)))
            return None
    finally:
        context.close()
    if options.quiet:
        out.write(encode_message({"stream": result.image_id + "\n"}))
    return result

