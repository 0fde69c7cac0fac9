"""A container's OCI runtime spec, generated as Docker 20.10 generates it (moby's `createSpec`).

The engine calls, in order:

    request = config.parse_create_request(body)                               # create
    warnings = config.validate(request.config, request.host_config)
    cfg = merge_image_config(request.config, image_config.config)
    host = config.apply_defaults(request.host_config)
    path, args = container_command(cfg)
    ...
    spec = build_spec(SpecInput(container_id=..., config=cfg, host_config=host, rootfs=...,
                                mounts=volumes.setup_mounts(...), hostfiles=hostfiles.write_hostfiles(...),
                                init_path=..., namespace_pids=...))          # start
    write_config(bundle, spec)

`build_spec` follows moby's spec options in their order (common options, cgroups, resources,
sysctls, devices, user, rlimits, namespaces, capabilities, seccomp, mounts, AppArmor, OOM score,
no-new-privileges, masked/readonly paths). It reads the container rootfs's /etc/passwd and
/etc/group (user resolution), /proc/sys (which default sysctls exist), the host's device nodes
(`--device`, privileged) and /proc/self/mountinfo (shared/slave bind propagation). Its result matches,
field by field, the config.json dockerd hands runc for the same request
(tests/engine/test_spec_vs_docker.py compares them). Where dockyard differs on purpose:

- `--network host` leaves out the network namespace (Docker joins its "default" sandbox, a bind
  of the host's namespace: the same thing);
- no `libnetwork-setkey` prestart hook (that is libnetwork's business);
- `--ipc container:<x>` binds the other container's /dev/shm through /proc/<pid>/root;
  `--ipc shareable` is private (nothing else can join it yet);
- ociVersion is Docker's "1.0.2-dev".
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.engine import config as cfgmod
from dockyard.engine.config import Config, HostConfig
from dockyard.engine.devices import devices_from_path, host_devices, parse_cgroup_rule
from dockyard.engine.hostfiles import HostFiles
from dockyard.engine.seccomp_default import default_profile, oci_seccomp, parse_profile
from dockyard.engine.specjson import spec_to_json
from dockyard.engine.user import resolve_user
from dockyard.errors import InvalidArgument, NotFound, SystemCallError
from dockyard.oci import runtime_spec as rs
from dockyard.oci.image_spec import merge_config
from dockyard.oci.runtime_spec import Mount, Spec
from dockyard.records import replace

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH_ENV",
    "INIT_PATH_IN_CONTAINER",
    "OCI_VERSION",
    "SpecInput",
    "build_spec",
    "container_command",
    "container_env",
    "container_hostname",
    "merge_image_config",
    "replace_or_append_env",
    "spec_to_json",
    "tweak_capabilities",
    "write_config",
]

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

INIT_PATH_IN_CONTAINER = "/sbin/docker-init"

_DEFAULT_DEVICE_RULES = (
    rs.DeviceRule(allow=False, type="", major=None, minor=None, access="rwm"),
    rs.DeviceRule(allow=True, type="c", major=1, minor=5, access="rwm"),
    rs.DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),
    rs.DeviceRule(allow=True, type="c", major=1, minor=9, access="rwm"),
    rs.DeviceRule(allow=True, type="c", major=1, minor=8, access="rwm"),
    rs.DeviceRule(allow=True, type="c", major=5, minor=0, access="rwm"),
    rs.DeviceRule(allow=True, type="c", major=5, minor=1, access="rwm"),
    rs.DeviceRule(allow=False, type="c", major=10, minor=229, access="rwm"),
)

_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


@dataclass
class SpecInput:
    """Everything `build_spec` needs. The engine resolves names to paths and pids; this module does not
    know other containers.

    - `config` is the container's Config after `merge_image_config` (Entrypoint/Cmd/Env/User/... final).
    - `host_config` after `config.apply_defaults`.
    - `rootfs`: the container's mounted root filesystem (user resolution reads its /etc files).
    - `mounts`: the user's mounts (binds, volumes, tmpfs) as OCI mounts, from `volumes.setup_mounts`.
    - `hostfiles`: the per-container hosts/hostname/resolv.conf (`hostfiles.write_hostfiles`, or the
      other container's for `--network container:<x>`), or None to leave the image's own files.
    - `init_path`: the host path of the init binary, bind-mounted at /sbin/docker-init when
      `host_config.init` is true (Docker's --init).
    - `namespace_pids`: the pid of the container a `container:<x>` mode names, by namespace kind:
      {"network": 1234, "ipc": 1234, "pid": 1234}.
    - `default_cgroup_parent`: used when HostConfig.CgroupParent is empty ("/dockyard").
    - `seccomp_enabled`: False when this host cannot do seccomp (then no profile, as Docker does).
    - `apparmor_enabled`: whether AppArmor is on (Docker sets `docker-default` then).
    - `daemon_ulimits`: the daemon's default ulimits by name (`nofile`: (soft, hard)), under the
      container's.
    - `daemon_root`: the daemon's data root (a bind source inside it gets rslave propagation).
    - `path` and `args`: the container's command (from `container_command`); computed from `config`
      when not given.
    - `ipc_shm_path`: for `--ipc container:<x>`, the host path of x's /dev/shm when the engine keeps
      one (Docker's `containers/<x>/mounts/shm` for a shareable container); by default x's own
      /dev/shm through /proc/<pid>/root.
    """

    container_id: str
    config: Config
    host_config: HostConfig
    rootfs: Path
    mounts: list[Mount] = field(default_factory=list)
    hostfiles: HostFiles | None = None
    init_path: str | None = None
    namespace_pids: Mapping[str, int] = field(default_factory=dict)
    default_cgroup_parent: str = "/dockyard"
    seccomp_enabled: bool = True
    apparmor_enabled: bool = False
    daemon_ulimits: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    path: str | None = None
    args: list[str] | None = None
    ipc_shm_path: str | None = None


# --- Config merging -------------------------------------------------------------------------------


def merge_image_config(config: Config, image: Config | None) -> Config:
    """The container's Config with the image's filled in as Docker's `merge` (daemon/commit.go) and
    `mergeAndVerifyConfig` do: User, WorkingDir, StopSignal, Healthcheck fields, Volumes, ExposedPorts
    (union), Env (image vars whose names the user did not set are appended), Labels (union, the
    user's win), and Entrypoint/Cmd: if the user gave no Entrypoint, Cmd falls back to the image's
    when empty and Entrypoint to the image's when not given at all; an Entrypoint of `[""]` (from
    `--entrypoint ""`) is then cleared. Returns a new record; InvalidArgument `No command specified`
    when neither is left."""
    user = config.copy() if image is None else merge_config(config, image)
    if user.entrypoint is not None and len(user.entrypoint) == 1 and user.entrypoint[0] == "":
        user.entrypoint = None
    if not user.entrypoint and not user.cmd:
        raise InvalidArgument("No command specified")
    return user


def container_hostname(config: Config, host: HostConfig, container_id: str,
                       network_peer: Config | None = None) -> str:
    """The Config.Hostname dockerd gives a container: with `--network container:<x>`, x's (Docker copies
    x's Hostname and Domainname at start; pass x's Config as `network_peer`); else the user's; else
    the host's name with `--network host`; else the first 12 characters of the id (`newContainer`)."""
    if network_peer is not None and host.network_mode.startswith("container:"):
        return network_peer.hostname
    if config.hostname:
        return config.hostname
    if host.network_mode == "host":
        return os.uname().nodename
    return container_id[:12]


def container_command(config: Config) -> tuple[str, list[str]]:
    """Docker's (Path, Args): Entrypoint + Cmd, first word the path. InvalidArgument
    `No command specified` when both are empty."""
    if config.entrypoint:
        return config.entrypoint[0], [*config.entrypoint[1:], *(config.cmd or [])]
    if not config.cmd:
        raise InvalidArgument("No command specified")
    return config.cmd[0], list(config.cmd[1:])


def replace_or_append_env(defaults: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """moby's ReplaceOrAppendEnvValues: `K=V` replaces K or is appended; a bare `K` unsets K."""
    out: list[str | None] = list(defaults)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(defaults)}
    for value in overrides:
        if "=" not in value:
            if value in index:
                out[index[value]] = None
            continue
        key = value.split("=", 1)[0]
        if key in index:
            out[index[key]] = value
        else:
            out.append(value)
    return [e for e in out if e]


def container_env(config: Config, hostname: str | None = None) -> list[str]:
    """The process environment Docker builds: PATH (default), HOSTNAME, TERM=xterm with a tty, then the
    Config's Env replacing or appending by name."""
    env = [f"PATH={DEFAULT_PATH_ENV}", f"HOSTNAME={config.hostname if hostname is None else hostname}"]
    if config.tty:
        env.append("TERM=xterm")
    return replace_or_append_env(env, config.env or [])


def tweak_capabilities(host: HostConfig) -> list[str]:
    """Docker's TweakCapabilities: privileged gets every capability; CapAdd/CapDrop (with "ALL") change
    the default 14."""
    if host.privileged:
        return list(cfgmod.ALL_CAPABILITIES)
    if not host.cap_add and not host.cap_drop:
        return list(DEFAULT_CAPABILITIES)
    drop = cfgmod.normalize_capabilities(host.cap_drop, "CapDrop")
    add = cfgmod.normalize_capabilities(host.cap_add, "CapAdd")
    if "ALL" in add:
        return [c for c in cfgmod.ALL_CAPABILITIES if c not in drop]
    if "ALL" in drop:
        return add
    return [c for c in DEFAULT_CAPABILITIES if c not in drop] + add


# --- the spec -----------------------------------------------------------------------------------


def _default_mounts() -> list[Mount]:
    return [
        Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", "nosuid", "noexec", "nodev"]),
        Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        Mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777"]),
    ]


def _sysctl_exists(name: str) -> bool:
    return os.path.exists(os.path.join("/proc/sys", name.replace(".", "/")))


def _running_in_userns() -> bool:
    try:
        text = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return False
    return text[:3] != ["0", "0", "4294967295"]


def _network_is_private(mode: str) -> bool:
    return mode != "host" and not mode.startswith("container:")


def _resources(host: HostConfig) -> rs.Resources:
    if host.cpu_shares < 0:
        raise InvalidArgument("shares: invalid argument")
    memory = rs.Memory(
        limit=host.memory if host.memory > 0 else None,
        reservation=host.memory_reservation if host.memory_reservation > 0 else None,
        swap=host.memory_swap if host.memory_swap > 0 else None,
        kernel=host.kernel_memory or None,
        kernel_tcp=host.kernel_memory_tcp or None,
        swappiness=None if host.memory_swappiness is None else host.memory_swappiness % 2**64,
        disable_oom_killer=host.oom_kill_disable,
    )
    cpu = rs.CPU(shares=host.cpu_shares, cpus=host.cpuset_cpus, mems=host.cpuset_mems)
    if host.nano_cpus > 0:
        cpu.period = 100_000
        cpu.quota = host.nano_cpus * 100_000 // 1_000_000_000
    if host.cpu_period:
        cpu.period = host.cpu_period
    if host.cpu_quota:
        cpu.quota = host.cpu_quota
    if host.cpu_realtime_period:
        cpu.realtime_period = host.cpu_realtime_period
    if host.cpu_realtime_runtime:
        cpu.realtime_runtime = host.cpu_realtime_runtime
    blkio = rs.BlockIO(weight=host.blkio_weight)
    for wd in host.blkio_weight_device or ():
        major, minor = _device_numbers(wd.path)
        blkio.weight_device.append(rs.WeightDevice(major, minor, wd.weight))
    for source, target in ((host.blkio_device_read_bps, blkio.throttle_read_bps),
                           (host.blkio_device_write_bps, blkio.throttle_write_bps),
                           (host.blkio_device_read_iops, blkio.throttle_read_iops),
                           (host.blkio_device_write_iops, blkio.throttle_write_iops)):
        for td in source or ():
            major, minor = _device_numbers(td.path)
            target.append(rs.ThrottleDevice(major, minor, td.rate))
    pids = None
    if host.pids_limit is not None:
        pids = -1 if host.pids_limit <= 0 else host.pids_limit
    return rs.Resources(devices=[replace(r) for r in _DEFAULT_DEVICE_RULES], memory=memory, cpu=cpu,
                        pids_limit=pids, block_io=blkio)


def _device_numbers(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as err:
        raise InvalidArgument(f"stat {path}: {os.strerror(err.errno or 0).lower()}") from None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _set_namespace(namespaces: list[rs.Namespace], kind: str, path: str = "") -> None:
    for i, ns in enumerate(namespaces):
        if ns.type == kind:
            namespaces[i] = rs.Namespace(kind, path)
            return
    namespaces.append(rs.Namespace(kind, path))


def _remove_namespace(namespaces: list[rs.Namespace], kind: str) -> None:
    namespaces[:] = [ns for ns in namespaces if ns.type != kind]


def _joined(inp: SpecInput, kind: str, mode: str) -> str:
    pid = inp.namespace_pids.get(kind)
    if not pid:
        raise NotFound(f"{kind} mode {mode}: the container to join is not running (no pid given)")
    return f"/proc/{pid}/ns/{'net' if kind == 'network' else kind}"


def _mountinfo() -> list[tuple[str, str]]:
    """(mount point, optional fields) of every mount in our namespace."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left = line.split(" - ", 1)[0].split()
                point = left[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
                out.append((point, " ".join(left[6:])))
    except OSError:
        pass
    return out


def _source_mount(source: str) -> tuple[str, str]:
    real = os.path.realpath(source)
    best = ("", "")
    for point, optional in _mountinfo():
        if (real == point or real.startswith(point.rstrip("/") + "/") or point == "/") and len(point) >= len(best[0]):
            best = (point, optional)
    return best


def _ensure_propagation(source: str, shared_only: bool) -> bool:
    _point, optional = _source_mount(source)
    opts = optional.split()
    if any(o.startswith("shared:") for o in opts):
        return True
    if not shared_only and any(o.startswith("master:") for o in opts):
        return True
    return False


def build_spec(inp: SpecInput) -> Spec:
    """The OCI runtime spec for one container start (Docker's `createSpec`)."""
    config, host = inp.config, inp.host_config
    security = cfgmod.parse_security_options(host.security_opt)
    hostname = config.hostname or inp.container_id[:12]

    # WithCommonOptions
    if inp.path is not None:
        path, args = inp.path, list(inp.args or [])
    else:
        path, args = container_command(config)
    argv = [path, *args]
    mounts = _default_mounts()
    init_mount: Mount | None = None
    pid_private = not (host.pid_mode == "host" or host.pid_mode.startswith("container:"))
    if pid_private and host.init:
        if not inp.init_path:
            raise InvalidArgument("--init: no init binary is configured")
        argv = [INIT_PATH_IN_CONTAINER, "--", *argv]
        init_mount = Mount(INIT_PATH_IN_CONTAINER, "bind", inp.init_path, ["bind", "ro"])
    process = rs.Process(
        args=argv,
        env=container_env(config, hostname),
        cwd=config.working_dir or "/",
        terminal=config.tty,
    )
    linux = rs.Linux(
        namespaces=[rs.Namespace(t) for t in ("mount", "network", "uts", "pid", "ipc")],
        masked_paths=list(cfgmod.DEFAULT_MASKED_PATHS),
        readonly_paths=list(cfgmod.DEFAULT_READONLY_PATHS),
    )
    if init_mount is not None:
        mounts.append(init_mount)
    spec = Spec(oci_version=OCI_VERSION, root=rs.Root(str(inp.rootfs), host.readonly_rootfs), process=process,
                hostname=hostname, mounts=mounts, linux=linux)
    sysctl: dict[str, str] = {}
    if config.domainname:
        sysctl["kernel.domainname"] = config.domainname
    spec.domainname = ""  # Docker 20.10 sets the NIS domain through the sysctl only
    if _network_is_private(host.network_mode or "default"):
        if not _running_in_userns() and _sysctl_exists("net.ipv4.ping_group_range"):
            sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
        if _sysctl_exists("net.ipv4.ip_unprivileged_port_start"):
            sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"

    # WithCgroups
    parent = host.cgroup_parent or inp.default_cgroup_parent
    linux.cgroups_path = os.path.normpath(os.path.join(parent, inp.container_id))

    # WithResources, WithSysctls
    linux.resources = _resources(host)
    sysctl.update(host.sysctls or {})
    linux.sysctl = sysctl

    # WithDevices
    resources = linux.resources
    if host.privileged and not _running_in_userns():
        linux.devices = [d.oci_device() for d in host_devices()]
        for mapping in host.devices or ():
            if mapping.path_on_host == mapping.path_in_container:
                continue
            linux.devices.extend(d for d, _ in devices_from_path(mapping.path_on_host, mapping.path_in_container, "rwm"))
        resources.devices = [rs.DeviceRule(allow=True, type="", major=None, minor=None, access="rwm")]
    else:
        for mapping in host.devices or ():
            for device, rule in devices_from_path(mapping.path_on_host, mapping.path_in_container,
                                                  mapping.cgroup_permissions):
                linux.devices.append(device)
                resources.devices.append(rule)
        for rule_text in host.device_cgroup_rules or ():
            resources.devices.append(parse_cgroup_rule(rule_text))

    # WithUser
    user = resolve_user(inp.rootfs, config.user, host.group_add or ())
    process.user = rs.User(uid=user.uid, gid=user.gid, additional_gids=list(user.additional_gids))

    # WithRlimits
    ulimits = [(u.name, u.soft, u.hard) for u in host.ulimits or ()]
    named = {u[0] for u in ulimits}
    ulimits += [(name, soft, hard) for name, (soft, hard) in inp.daemon_ulimits.items() if name not in named]
    process.rlimits = [rs.Rlimit(f"RLIMIT_{name.upper()}", hard % 2**64, soft % 2**64) for name, soft, hard in ulimits]

    # WithNamespaces
    namespaces = linux.namespaces
    network_mode = host.network_mode or "default"
    if not config.network_disabled:
        if network_mode.startswith("container:"):
            _set_namespace(namespaces, "network", _joined(inp, "network", network_mode))
        elif network_mode == "host":
            _remove_namespace(namespaces, "network")
    ipc_mode = host.ipc_mode
    if ipc_mode.startswith("container:"):
        _set_namespace(namespaces, "ipc", _joined(inp, "ipc", ipc_mode))
    elif ipc_mode == "host":
        _remove_namespace(namespaces, "ipc")
    elif ipc_mode in ("", "private", "shareable", "none"):
        _set_namespace(namespaces, "ipc")
    else:
        raise InvalidArgument(f"Invalid IPC mode: {ipc_mode}")
    if host.pid_mode.startswith("container:"):
        _set_namespace(namespaces, "pid", _joined(inp, "pid", host.pid_mode))
    elif host.pid_mode == "host":
        _remove_namespace(namespaces, "pid")
    else:
        _set_namespace(namespaces, "pid")
    if host.uts_mode == "host":
        _remove_namespace(namespaces, "uts")
        spec.hostname = ""
    if host.cgroupns_mode:
        if host.cgroupns_mode not in ("host", "private"):
            raise InvalidArgument(f"invalid cgroup namespace mode: {host.cgroupns_mode}")
        if host.cgroupns_mode == "private":
            _set_namespace(namespaces, "cgroup")

    # WithCapabilities
    caps = tweak_capabilities(host)
    if process.user.uid == 0:
        process.capabilities = rs.Capabilities(bounding=list(caps), effective=list(caps), permitted=list(caps))
    else:
        process.capabilities = rs.Capabilities(bounding=list(caps))

    # WithSeccomp
    if security.seccomp_profile != "unconfined" and not host.privileged:
        if not inp.seccomp_enabled:
            if security.seccomp_profile:
                raise InvalidArgument("seccomp is not enabled in your kernel, cannot run a custom seccomp profile")
        else:
            profile = parse_profile(security.seccomp_profile) if security.seccomp_profile else default_profile()
            linux.seccomp = oci_seccomp(profile, caps)

    # WithMounts
    _with_mounts(spec, inp)

    # WithApparmor
    if inp.apparmor_enabled:
        process.apparmor_profile = security.apparmor_profile or ("unconfined" if host.privileged else "docker-default")

    # WithOOMScore, no-new-privileges
    process.oom_score_adj = host.oom_score_adj
    process.no_new_privileges = security.no_new_privileges

    if host.masked_paths is not None:
        linux.masked_paths = list(host.masked_paths)
    if host.readonly_paths is not None:
        linux.readonly_paths = list(host.readonly_paths)
    return spec


def _propagation(m: Mount) -> str:
    return next((o for o in m.options if o in _PROPAGATIONS), "")


def _with_mounts(spec: Spec, inp: SpecInput) -> None:
    host = inp.host_config
    linux = spec.linux
    user_mounts = [replace(m, options=list(m.options)) for m in inp.mounts]
    destinations = {os.path.normpath(m.destination) for m in user_mounts}
    writable_files = not host.readonly_rootfs
    net: list[Mount] = []
    if inp.hostfiles is not None:
        for source, dest in ((inp.hostfiles.resolv_conf, "/etc/resolv.conf"), (inp.hostfiles.hostname, "/etc/hostname"),
                             (inp.hostfiles.hosts, "/etc/hosts")):
            if dest in destinations:
                continue  # the user's own mount of the file wins (Docker's TrySetNetworkMount)
            if not os.path.exists(source):
                continue
            net.append(Mount(dest, "bind", str(source), ["rbind", *([] if writable_files else ["ro"]), "rprivate"]))
    ipc_mounts: list[Mount] = []
    ipc_mode = host.ipc_mode
    if ipc_mode == "host":
        ipc_mounts.append(Mount("/dev/shm", "bind", "/dev/shm", ["rbind", "rprivate"]))
    elif ipc_mode.startswith("container:"):
        shm = inp.ipc_shm_path or f"/proc/{inp.namespace_pids.get('ipc', 0)}/root/dev/shm"
        ipc_mounts.append(Mount("/dev/shm", "bind", shm, ["rbind", "rprivate"]))
    tmpfs = [m for m in user_mounts if m.type == "tmpfs"]
    ordered = [m for m in user_mounts if m.type != "tmpfs"] + net + ipc_mounts + tmpfs
    ordered = sorted(ordered, key=lambda m: os.path.normpath(m.destination).count("/"))
    taken = {os.path.normpath(m.destination) for m in ordered}
    mount_dev = "/dev" in taken
    defaults = []
    for m in spec.mounts:
        if m.destination in taken:
            continue
        if mount_dev and m.destination.startswith("/dev/"):
            continue
        if m.destination == "/dev/shm":
            if ipc_mode == "none":
                continue
            m.options.append(f"size={host.shm_size}")
        defaults.append(m)
    spec.mounts = defaults
    for m in ordered:
        prop = _propagation(m)
        if m.type == "bind" and prop in ("shared", "rshared"):
            if not _ensure_propagation(m.source, True):
                point, _ = _source_mount(m.source)
                raise InvalidArgument(f"path {m.source} is mounted on {point} but it is not a shared mount")
            if linux.rootfs_propagation not in ("shared", "rshared"):
                linux.rootfs_propagation = "shared"
        elif m.type == "bind" and prop in ("slave", "rslave"):
            if _ensure_propagation(m.source, False):
                if linux.rootfs_propagation not in ("shared", "rshared", "slave", "rslave"):
                    linux.rootfs_propagation = "rslave"
            else:
                point, _ = _source_mount(m.source)
                raise InvalidArgument(f"path {m.source} is mounted on {point} but it is not a shared or slave mount")
        spec.mounts.append(m)
    if host.readonly_rootfs:
        for m in spec.mounts:
            if m.destination in ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"):
                continue
            if os.path.normpath(m.destination) not in taken and "ro" not in m.options:
                m.options.append("ro")
    if host.privileged:
        for m in spec.mounts:
            if m.destination == "/sys":
                m.options = [o for o in m.options if o != "ro"]
        linux.readonly_paths = []
        linux.masked_paths = []
        for m in spec.mounts:
            if m.type == "cgroup":
                m.options = [o for o in m.options if o != "ro"]


def write_config(bundle: Path, spec: Spec) -> Path:
    """Write `<bundle>/config.json` atomically (temp file, fsync, rename); returns its path."""
    target = bundle / "config.json"
    data = json.dumps(spec_to_json(spec), separators=(",", ":")).encode()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=bundle)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as err:
        raise SystemCallError.from_oserror(f"write {target}", err) from None
    return target
