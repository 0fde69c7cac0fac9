"""/_ping, /version, /info, /system/df, /events."""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Any

from aiohttp import web

from dockyard.api.server import (
    API_VERSION,
    MIN_API_VERSION,
    SERVER_VERSION,
    Api,
    Handler,
    jsonr,
    platform_info,
)
from dockyard.engine import views


def routes(api: Api) -> list[tuple[str, str, Handler]]:
    async def ping(request: web.Request) -> web.StreamResponse:
        headers = {"Api-Version": API_VERSION, "Docker-Experimental": "false", "Ostype": "linux",
                   "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
        if request.method == "HEAD":
            return web.Response(status=200, headers={**headers, "Content-Type": "text/plain; charset=utf-8",
                                                     "Content-Length": "0"})
        return web.Response(text="OK", headers=headers)

    async def version(request: web.Request) -> web.StreamResponse:
        info = platform_info()
        kernel = os.uname().release
        return jsonr({
            "Platform": {"Name": "dockyard"},
            "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": {
                "ApiVersion": API_VERSION, "Arch": info["arch"], "BuildTime": "", "Experimental": "false",
                "GitCommit": "dockyard", "GoVersion": f"python{platform.python_version()}", "KernelVersion": kernel,
                "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}}],
            "Version": SERVER_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "dockyard", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
            "Arch": info["arch"], "KernelVersion": kernel, "BuildTime": "",
        })

    async def info(request: web.Request) -> web.StreamResponse:
        engine = api.engine
        states = [c.state.status for c in list(engine.containers.values())]
        images = await api.call(engine.images.list_images)
        uname = os.uname()
        mem = 0
        try:
            with open("/proc/meminfo") as f:
                mem = int(f.readline().split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        cgroup_version = "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"
        return jsonr({
            "ID": _daemon_id(api), "Containers": len(states),
            "ContainersRunning": sum(s in ("running", "restarting") for s in states),
            "ContainersPaused": states.count("paused"),
            "ContainersStopped": sum(s not in ("running", "restarting", "paused") for s in states),
            "Images": len(images), "Driver": "overlay2" if engine.images.driver_name() == "overlayfs" else "vfs",
            "DriverStatus": [["Backing Filesystem", "extfs"]], "Plugins": {
                "Volume": ["local"], "Network": ["host", "null"], "Authorization": None,
                "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": True, "KernelMemory": False, "CpuCfsPeriod": True,
            "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
            "BridgeNfIptables": False, "BridgeNfIp6tables": False, "Debug": api.debug, "NFd": _count_fds(),
            "OomKillDisable": cgroup_version == "1", "NGoroutines": 0, "SystemTime": _now(),
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version,
            "NEventsListener": 0, "KernelVersion": uname.release, "OperatingSystem": _os_name(),
            "OSVersion": "", "OSType": "linux", "Architecture": uname.machine, "IndexServerAddress":
                "https://index.docker.io/v1/", "RegistryConfig": None, "NCPU": os.cpu_count() or 1,
            "MemTotal": mem, "GenericResources": None, "DockerRootDir": str(engine.data_root),
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": uname.nodename, "Labels": [],
            "ExperimentalBuild": False, "ServerVersion": SERVER_VERSION, "Runtimes": {
                "dockyard": {"path": "dockyard-runtime"}}, "DefaultRuntime": "dockyard",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": engine.live_restore, "Isolation": "", "InitBinary": "dockyard-init",
            "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "dockyard", "Expected": "dockyard"},
            "InitCommit": {"ID": "dockyard", "Expected": "dockyard"}, "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": None,
        })

    async def system_df(request: web.Request) -> web.StreamResponse:
        engine = api.engine

        def collect() -> dict[str, Any]:
            images = engine.images.list_images(all=True)
            containers = views.list_containers(engine, all=True, size=True)
            counts: dict[str, int] = {}
            for c in containers:
                counts[c["ImageID"]] = counts.get(c["ImageID"], 0) + 1
            for image in images:
                image["Containers"] = counts.get(image["Id"], 0)
                image["SharedSize"] = 0
            volumes: list[Any] = []
            if engine.volumes is not None:
                try:
                    for v in engine.volumes.list_volumes():
                        doc = v.to_json()
                        doc["UsageData"] = {"Size": engine.volumes.size(v.name), "RefCount": len(engine.volumes.users(v.name))}
                        volumes.append(doc)
                except NotImplementedError:
                    volumes = []
            layers = sum(i["Size"] for i in images)
            return {"LayersSize": layers, "Images": images, "Containers": containers, "Volumes": volumes,
                    "BuildCache": []}

        return jsonr(await api.call(collect))

    async def events(request: web.Request) -> web.StreamResponse:
        return await _events(api, request)

    return [
        ("GET", "/_ping", ping), ("HEAD", "/_ping", ping),
        ("GET", "/version", version), ("GET", "/info", info), ("GET", "/system/df", system_df),
        ("GET", "/events", events),
    ]


async def _events(api: Api, request: web.Request) -> web.StreamResponse:
    bus = api.bus
    since_ns = _time_ns(request.query.get("since", ""))
    until_ns = _time_ns(request.query.get("until", ""))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    if bus is None:
        if until_ns:
            return response
        import asyncio

        while True:  # no bus: keep the stream open, as an idle dockerd does
            await asyncio.sleep(3600)
    from dockyard.engine.events import EventFilters

    filters = EventFilters.parse(request.query.get("filters", ""))
    sub = bus.subscribe(filters, since_ns, until_ns)
    try:
        async for event in sub:
            await response.write(json.dumps(event.to_json()).encode() + b"\n")
    finally:
        sub.close()
    return response


def _time_ns(text: str) -> int:
    from dockyard.api.routes_containers import _time_arg

    return _time_arg(text)


def _daemon_id(api: Api) -> str:
    path = api.engine.data_root / "engine-id"
    try:
        return path.read_text().strip()
    except OSError:
        import uuid

        value = str(uuid.uuid4())
        path.write_text(value)
        return value


def _count_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"
