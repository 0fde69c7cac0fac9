"""From a create request to a bundle: the engine's calls into config.py, spec.py, hostfiles.py and
volumes/, in the order Docker makes them.

    create:  parse_request -> validate -> merge (image config, HostConfig defaults) -> command
             -> plan_mounts
    start:   bundle(): mount the rootfs, write hostname/hosts/resolv.conf, set up the mounts
             (volumes created and populated), build the OCI spec, write config.json, and return the
             monitor's configuration.

Creating a container is checked in full before anything is made (the request's types and values,
the image, the mounts); starting one regenerates the spec each time, as dockerd does.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.engine import config as cfgmod
from dockyard.engine import logs
from dockyard.engine.config import Config, CreateRequest, HostConfig
from dockyard.engine.monitor import MonitorConfig
from dockyard.errors import DockyardError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.container import Container
    from dockyard.engine.engine import Engine


@dataclass
class Merged:
    config: Config
    host_config: HostConfig
    host_json: dict[str, Any] = field(default_factory=dict)


def parse_request(body: Any) -> CreateRequest:
    if not isinstance(body, dict):
        raise InvalidArgument("json: cannot unmarshal array into Go value of type container.ContainerCreateConfig"
                              if isinstance(body, list) else
                              "json: cannot unmarshal into Go value of type container.ContainerCreateConfig")
    return cfgmod.parse_create_request(body)


def validate(request: CreateRequest) -> list[str]:
    return list(cfgmod.validate_host_config(request.host_config, request.config) or [])


def merge(request: CreateRequest, image_config: Config | None,
          default_log_config: tuple[str, dict[str, str]] = ("json-file", {})) -> Merged:
    from dockyard.engine import spec

    config = spec.merge_image_config(request.config, image_config)
    host = cfgmod.apply_defaults(request.host_config, default_log_type=default_log_config[0],
                                 default_log_config=default_log_config[1])
    logs.validate_log_config(host.log_config.type, host.log_config.config)
    return Merged(config, host, host.to_json())


def command(config: Config) -> tuple[str, list[str]]:
    from dockyard.engine import spec

    return spec.container_command(config)


def plan_mounts(merged: Merged, container_id: str, data_root: Path) -> list[Any]:
    """The container's mounts, checked now and made at start (`MountPoint`s; anonymous volumes are
    named from the container id, so the plan is the same whenever it is made)."""
    from dockyard.volumes import plan_mounts as plan

    host = merged.host_config
    return plan(binds=host.binds or [], mounts=host.mounts, tmpfs=host.tmpfs, image_volumes=merged.config.volumes or [],
                volume_driver=host.volume_driver, daemon_root=str(data_root), container_id=container_id)


def mounts_json(points: list[Any]) -> list[dict[str, Any]]:
    """Inspect's `Mounts` (tmpfs entries are not shown there, as Docker), with our Anonymous flag."""
    return [dict(p.to_json(), Anonymous=bool(getattr(p, "anonymous", False))) for p in points if p.type != "tmpfs"]


def config_json(config: Config) -> dict[str, Any]:
    return config.to_json()


def host_config_json(host: HostConfig) -> dict[str, Any]:
    return host.to_json()


# --- start ------------------------------------------------------------------------------------


def bundle(engine: Engine, c: Container, bundle_dir: Path) -> MonitorConfig:
    """Everything a start needs on disk; the monitor's configuration."""
    from dockyard.engine import hostfiles, spec

    config = cfgmod.parse_config(c.config)
    host = cfgmod.parse_host_config(c.host_config)
    log_options = log_driver_options(host)
    rootfs = Path(engine.mount_rootfs(c))
    cdir = engine.container_dir(c.id)
    hostname = config.hostname or c.id[:12]
    files = hostfiles.write_hostfiles(cdir, hostname=hostname, domainname=config.domainname,
                                      extra_hosts=host.extra_hosts or [], dns=host.dns, dns_search=host.dns_search,
                                      dns_options=host.dns_options, network_mode=host.network_mode or "default")
    oci_mounts: list[Any] = []
    if c.mount_plan:
        from dockyard.volumes import MountPoint, setup_mounts

        points = [MountPoint.from_dict(d) for d in c.mount_plan]
        oci_mounts = setup_mounts(points, engine.volumes, c.id, rootfs)
        c.mounts = mounts_json(points)  # volume sources are known now
    init_path = None
    if host.init:
        from dockyard.engine.initbin import init_binary

        init_path = init_binary(engine.data_root)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    s = spec.build_spec(spec.SpecInput(
        container_id=c.id, config=config, host_config=host, rootfs=rootfs, mounts=oci_mounts, hostfiles=files,
        init_path=init_path, default_cgroup_parent=engine.cgroup_parent))
    doc = spec.spec_to_json(s)
    process = doc.get("process") or {}
    if process.get("terminal") and host.console_size[0] and host.console_size[1] and "consoleSize" not in process:
        # The terminal gets its size when it is made, before the process runs (dockerd resizes it
        # right after the start instead; a `stty size` as the first command would see 0 0 here).
        process["consoleSize"] = {"height": host.console_size[0], "width": host.console_size[1]}
    _write_ephemeral(bundle_dir / "config.json", json.dumps(doc, separators=(",", ":")).encode())
    terminal = bool(s.process.terminal) if s.process else False
    return MonitorConfig(
        container_id=c.id, runtime_root=engine.runtime_root, state_dir=str(engine.state_dir(c.id)),
        bundle=str(bundle_dir), tty=terminal, open_stdin=config.open_stdin, stdin_once=config.stdin_once,
        console_size=(host.console_size[0], host.console_size[1]),
        log_path=str(engine.log_path(c.id)) if log_options is not None else "",
        log_options=log_options or {},
    )


def log_driver_options(host: HostConfig) -> dict[str, str] | None:
    """The log writer's options at start, checked as Docker's driver does when it starts
    (InvalidArgument `failed to initialize logging driver: ...`); None when nothing is kept."""
    driver = host.log_config.type or "json-file"
    if driver not in logs.READABLE_DRIVERS:
        return None
    options = logs.driver_options(driver, host.log_config.config)
    try:
        logs.parse_log_options(options)
    except InvalidArgument as err:
        raise DockyardError(str(err)) from None  # a failed start, not a bad request: Docker answers 500
    return options


def _write_ephemeral(path: Path, data: bytes) -> None:
    """Temp file and rename, without fsync: config.json is made anew at every start and lives in
    the exec root (a tmpfs in production), so a crash can only lose a file nobody needs any more."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)
