"""From a create request to a bundle: the engine's calls into config.py, spec.py, hostfiles.py and
volumes/, in the order Docker makes them.

    create:  parse_request -> validate -> merge (image config, HostConfig defaults) -> command
             -> plan_mounts
    start:   bundle(): mount the rootfs, write hostname/hosts/resolv.conf, set up the mounts
             (volumes created and populated), build the OCI spec, write config.json, and return the
             monitor's configuration.

Until the building blocks' bodies land (they raise NotImplementedError), small stand-ins keep
the engine usable: Config read with the image-spec reader, a HostConfig with the fields the
engine itself reads, and a spec from the runtime's default with Docker's capabilities. Each
stand-in is used only when the real function is not implemented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.engine import config as cfgmod
from dockyard.engine.config import Config, CreateRequest, HostConfig
from dockyard.engine.monitor import MonitorConfig
from dockyard.errors import InvalidArgument

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
        raise InvalidArgument("json: cannot unmarshal into Go value of type container.ContainerCreateConfig")
    try:
        return cfgmod.parse_create_request(body)
    except NotImplementedError:
        return _fallback_request(body)


def validate(request: CreateRequest) -> list[str]:
    try:
        return list(cfgmod.validate_host_config(request.host_config, request.config) or [])
    except (NotImplementedError, ImportError):  # ImportError: volumes' checks not in yet
        return []


def merge(request: CreateRequest, image_config: Config | None) -> Merged:
    from dockyard.engine import spec

    try:
        config = spec.merge_image_config(request.config, image_config)
    except NotImplementedError:
        config = _fallback_merge(request.config, image_config)
    try:
        host = cfgmod.apply_defaults(request.host_config)
    except NotImplementedError:
        host = request.host_config
    merged = Merged(config, host)
    merged.host_json = host_config_json(host, getattr(request, "_raw_host", None))
    return merged


def command(config: Config) -> tuple[str, list[str]]:
    from dockyard.engine import spec

    try:
        return spec.container_command(config)
    except NotImplementedError:
        argv = [*(config.entrypoint or []), *(config.cmd or [])]
        if not argv:
            raise InvalidArgument("No command specified") from None
        return argv[0], argv[1:]


def plan_mounts(merged: Merged) -> list[dict[str, Any]]:
    """The container's mounts as inspect shows them (checked now, made at start)."""
    try:
        from dockyard.volumes import plan_mounts as plan

        host = merged.host_config
        points = plan(binds=host.binds or [], mounts=host.mounts, tmpfs=host.tmpfs,
                      image_volumes=merged.config.volumes or [], volume_driver=host.volume_driver)
        return [dict(p.to_json(), Anonymous=bool(p.type == "volume" and not _named(p, host))) for p in points]
    except NotImplementedError:
        if merged.host_config.binds or merged.host_config.mounts:
            raise InvalidArgument("mounts are not supported yet") from None
        return []


def _named(point: Any, host: HostConfig) -> bool:
    names = {b.split(":", 1)[0] for b in host.binds or []} | {m.source for m in host.mounts}
    return bool(point.name) and point.name in names


def config_json(config: Config) -> dict[str, Any]:
    return config.to_json()


def host_config_json(host: HostConfig, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return host.to_json()
    except NotImplementedError:
        return {
            "Binds": host.binds, "LogConfig": {"Type": host.log_config.type or "json-file",
                                              "Config": host.log_config.config},
            "NetworkMode": host.network_mode or "default", "PortBindings": host.port_bindings,
            "RestartPolicy": host.restart_policy.to_json(), "AutoRemove": host.auto_remove,
            "Init": host.init, "Privileged": host.privileged, "ReadonlyRootfs": host.readonly_rootfs,
            "ConsoleSize": list(host.console_size), "Memory": host.memory, "CpuShares": host.cpu_shares,
            "Mounts": [m.to_json() for m in host.mounts] or None, "Tmpfs": host.tmpfs,
        }


def _parse_host(doc: dict[str, Any]) -> HostConfig:
    try:
        return cfgmod.parse_host_config(doc)
    except NotImplementedError:
        return _fallback_host(doc)


def _parse_config(doc: dict[str, Any]) -> Config:
    try:
        return cfgmod.parse_config(doc)
    except NotImplementedError:
        return Config.read(doc, "Config")


# --- start ------------------------------------------------------------------------------------


def bundle(engine: Engine, c: Container, bundle_dir: Path) -> MonitorConfig:
    """Everything a start needs on disk; the monitor's configuration."""
    from dockyard.engine import hostfiles, spec

    config = _parse_config(c.config)
    host = _parse_host(c.host_config)
    rootfs = Path(engine.mount_rootfs(c))
    cdir = engine.container_dir(c.id)
    hostname = config.hostname or c.id[:12]
    try:
        files: Any = hostfiles.write_hostfiles(cdir, hostname=hostname, domainname=config.domainname,
                                              extra_hosts=host.extra_hosts or [], dns=host.dns,
                                              dns_search=host.dns_search, dns_options=host.dns_options,
                                              network_mode=host.network_mode or "default")
    except NotImplementedError:
        files = None
    oci_mounts: list[Any] = []
    if engine.volumes is not None and c.mounts:
        from dockyard.volumes import plan_mounts as plan
        from dockyard.volumes import setup_mounts

        points = plan(binds=host.binds or [], mounts=host.mounts, tmpfs=host.tmpfs,
                      image_volumes=config.volumes or [], volume_driver=host.volume_driver)
        oci_mounts = setup_mounts(points, engine.volumes, c.id, rootfs)
    init_path = None
    if host.init:
        from dockyard.engine.initbin import init_binary

        init_path = init_binary(engine.data_root)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    try:
        s = spec.build_spec(spec.SpecInput(
            container_id=c.id, config=config, host_config=host, rootfs=rootfs, mounts=oci_mounts, hostfiles=files,
            init_path=init_path, default_cgroup_parent=engine.cgroup_parent))
        spec.write_config(bundle_dir, s)
        terminal = bool(s.process.terminal) if s.process else False
    except (NotImplementedError, TypeError) as err:  # TypeError: spec.py vs the runtime's records (in flux)
        if isinstance(err, TypeError):
            import logging

            logging.getLogger("dockyardd").warning("build_spec failed (%s); using the stand-in spec", err)
        doc = _fallback_spec(c, config, host, rootfs, engine.cgroup_parent, init_path)
        tmp = bundle_dir / "config.json.tmp"
        tmp.write_text(json.dumps(doc))
        tmp.rename(bundle_dir / "config.json")
        terminal = bool(doc["process"]["terminal"])
    log_type = host.log_config.type or "json-file"
    return MonitorConfig(
        container_id=c.id, runtime_root=engine.runtime_root, state_dir=str(engine.state_dir(c.id)),
        bundle=str(bundle_dir), tty=terminal, open_stdin=config.open_stdin, stdin_once=config.stdin_once,
        console_size=(host.console_size[0], host.console_size[1]),
        log_path=str(engine.log_path(c.id)) if log_type == "json-file" else "",
        log_options=dict(host.log_config.config),
    )


# --- stand-ins -------------------------------------------------------------------------------


def _fallback_request(body: dict[str, Any]) -> CreateRequest:
    top = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    try:
        config = Config.read(top, "Config")
    except Exception as err:
        raise InvalidArgument(str(err)) from None
    host = _fallback_host(body.get("HostConfig") or {})
    return CreateRequest(config=config, host_config=host, networking_config=body.get("NetworkingConfig") or {})


def _fallback_host(doc: dict[str, Any]) -> HostConfig:
    if not isinstance(doc, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field .HostConfig")
    policy = doc.get("RestartPolicy") or {}
    name = policy.get("Name") or ""
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy '{name}'")
    log = doc.get("LogConfig") or {}
    size = doc.get("ConsoleSize") or [0, 0]
    return HostConfig(
        binds=doc.get("Binds"), auto_remove=bool(doc.get("AutoRemove")), init=doc.get("Init"),
        restart_policy=cfgmod.RestartPolicy(name, int(policy.get("MaximumRetryCount") or 0)),
        log_config=cfgmod.LogConfig(log.get("Type") or "", dict(log.get("Config") or {})),
        network_mode=doc.get("NetworkMode") or "", privileged=bool(doc.get("Privileged")),
        readonly_rootfs=bool(doc.get("ReadonlyRootfs")), console_size=(int(size[0] or 0), int(size[1] or 0)),
        memory=int(doc.get("Memory") or 0), cpu_shares=int(doc.get("CpuShares") or 0), tmpfs=doc.get("Tmpfs"),
    )


def _fallback_merge(config: Config, image: Config | None) -> Config:
    if image is None:
        return config
    out = replace(config)
    if not out.entrypoint and not out.cmd:
        out.cmd = image.cmd
    if out.entrypoint is None:
        out.entrypoint = image.entrypoint
    env = list(out.env or [])
    names = {e.partition("=")[0] for e in env}
    out.env = [e for e in image.env or [] if e.partition("=")[0] not in names] + env
    out.working_dir = out.working_dir or image.working_dir
    out.user = out.user or image.user
    out.stop_signal = out.stop_signal or image.stop_signal
    out.labels = {**(image.labels or {}), **(out.labels or {})} or out.labels
    return out


_DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                "CAP_KILL", "CAP_AUDIT_WRITE"]


def _fallback_spec(c: Container, config: Config, host: HostConfig, rootfs: Path, cgroup_parent: str,
                   init_path: str | None) -> dict[str, Any]:
    from dockyard.runtime.default_spec import default_spec

    doc = default_spec()
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", f"HOSTNAME={config.hostname or c.id[:12]}"]
    if config.tty:
        env.append("TERM=xterm")
    names = {e.partition("=")[0] for e in env}
    for entry in config.env or []:
        key = entry.partition("=")[0]
        if key in names:
            env = [e for e in env if e.partition("=")[0] != key]
        env.append(entry)
    args = [c.path, *c.args]
    if init_path:
        args = ["/sbin/docker-init", "--", *args]
        doc["mounts"].append({"destination": "/sbin/docker-init", "type": "bind", "source": init_path,
                              "options": ["bind", "ro"]})
    uid = gid = 0
    if config.user:
        u, _, g = config.user.partition(":")
        uid = int(u) if u.isdigit() else 0
        gid = int(g) if g.isdigit() else 0
    doc["process"].update({
        "terminal": config.tty, "args": args, "env": env, "cwd": config.working_dir or "/",
        "user": {"uid": uid, "gid": gid},
        "capabilities": {k: list(_DOCKER_CAPS) for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": False,
    })
    doc["root"] = {"path": str(rootfs), "readonly": host.readonly_rootfs}
    doc["hostname"] = config.hostname or c.id[:12]
    doc["linux"]["cgroupsPath"] = f"{cgroup_parent.rstrip('/')}/{c.id}"
    doc["linux"]["namespaces"] = [{"type": t} for t in ("mount", "network", "uts", "pid", "ipc")]
    doc["linux"].pop("uidMappings", None)
    doc["linux"].pop("gidMappings", None)
    return doc
