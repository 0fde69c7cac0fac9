"""Typed records of a container create request: Docker's `Config` and `HostConfig` (Engine API v1.43).

`parse_create_request(body)` is the only place the body of `POST /containers/create` is read. It
decodes as Go's encoding/json decodes into moby's `ContainerConfigWrapper` (keys matched
case-insensitively, unknown keys ignored, `null` leaves the zero value) and reports a wrong type in
Go's words, at the first wrong field in document order:

    json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64

`validate(config, host)` then applies Docker's create-time checks with Docker's messages
(`Minimum memory limit allowed is 6MB`, `invalid restart policy 'x'`, ...) and returns Docker's
warnings; `apply_defaults` fills what dockerd fills at create (ShmSize 64m, MemorySwap = 2 x Memory,
NetworkMode "default", IpcMode "private", CgroupnsMode, OomKillDisable false, the default masked and
read-only paths, Runtime), so inspect shows what Docker's shows.

`Config` is Docker's `container.Config`, the same record the image config carries
(`dockyard.oci.image_spec.ContainerConfig`): one type for both, so merging an image's config into a
container's is field by field (`engine.spec.merge_image_config`).

`HostConfig.to_json()` gives Docker's inspect shape (every field, Docker's order, `null` where
Docker writes null). `HostConfig.from_json` reads it back (what the engine stores).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dockyard.engine.sysinfo import SysInfo, host_sysinfo
from dockyard.errors import InvalidArgument
from dockyard.oci.image_spec import ContainerConfig as Config
from dockyard.oci.image_spec import HealthConfig
from dockyard.volumes.spec import BindOptions, MountSpec, TmpfsOptions, VolumeOptions

__all__ = [
    "ALL_CAPABILITIES",
    "DEFAULT_MASKED_PATHS",
    "DEFAULT_READONLY_PATHS",
    "DEFAULT_SHM_SIZE",
    "BindOptions",
    "Config",
    "CreateRequest",
    "DeviceMapping",
    "HealthConfig",
    "HostConfig",
    "LogConfig",
    "MountSpec",
    "RestartPolicy",
    "SecurityOptions",
    "ThrottleDevice",
    "TmpfsOptions",
    "Ulimit",
    "VolumeOptions",
    "WeightDevice",
    "apply_defaults",
    "config_from_json",
    "normalize_capabilities",
    "parse_config",
    "parse_create_request",
    "parse_host_config",
    "parse_security_options",
    "parse_signal",
    "validate",
    "validate_host_config",
]

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
MIN_MEMORY = 6 * 1024 * 1024
MINIMUM_DURATION_NS = 1_000_000  # 1ms: Docker's container.MinimumDuration for healthchecks

DEFAULT_MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
)
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# The capabilities Docker 20.10 knows (its vendored gocapability, capped at CAP_AUDIT_READ as moby's
# oci/caps does because runc of that time did not know the newer ones), in the library's order.
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
)

_SIGNALS = {
    "ABRT": 6, "ALRM": 14, "BUS": 7, "CHLD": 17, "CLD": 17, "CONT": 18, "FPE": 8, "HUP": 1, "ILL": 4, "INT": 2,
    "IO": 29, "IOT": 6, "KILL": 9, "PIPE": 13, "POLL": 29, "PROF": 27, "PWR": 30, "QUIT": 3, "SEGV": 11,
    "STKFLT": 16, "STOP": 19, "SYS": 31, "TERM": 15, "TRAP": 5, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
    "USR1": 10, "USR2": 12, "VTALRM": 26, "WINCH": 28, "XCPU": 24, "XFSZ": 25,
    **{"RTMIN": 34, "RTMAX": 64},
    **{f"RTMIN+{i}": 34 + i for i in range(1, 16)},
    **{f"RTMAX-{i}": 64 - i for i in range(1, 15)},
}


def parse_signal(text: str) -> int:
    """Docker's `signal.ParseSignal`: a number, or a name with or without SIG (any case)."""
    if re.fullmatch(r"[+-]?[0-9]+", text):
        number = int(text)
        if number == 0:
            raise InvalidArgument(f"Invalid signal: {text}")
        return number
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS:
        raise InvalidArgument(f"Invalid signal: {text}")
    return _SIGNALS[name]


# --- records ------------------------------------------------------------------------------------


@dataclass
class Ulimit:
    """One `--ulimit name=soft[:hard]`: Name as Docker spells it (`nofile`), without `RLIMIT_`."""

    name: str
    soft: int
    hard: int

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "Hard": self.hard, "Soft": self.soft}


@dataclass
class RestartPolicy:
    """`no` (or ""), `always`, `unless-stopped`, `on-failure` with an optional retry count."""

    name: str = ""
    maximum_retry_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}


@dataclass
class LogConfig:
    """The log driver and its options (`json-file`, {"max-size": "10m", "max-file": "3"})."""

    type: str = ""
    config: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"Type": self.type, "Config": dict(sorted(self.config.items()))}


@dataclass
class DeviceMapping:
    """`--device /dev/fuse:/dev/fuse:rwm`."""

    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"

    def to_json(self) -> dict[str, Any]:
        return {"PathOnHost": self.path_on_host, "PathInContainer": self.path_in_container,
                "CgroupPermissions": self.cgroup_permissions}


@dataclass
class WeightDevice:
    path: str
    weight: int

    def to_json(self) -> dict[str, Any]:
        return {"Path": self.path, "Weight": self.weight}


@dataclass
class ThrottleDevice:
    path: str
    rate: int

    def to_json(self) -> dict[str, Any]:
        return {"Path": self.path, "Rate": self.rate}


@dataclass
class HostConfig:
    """Docker's `container.HostConfig` (with its embedded `Resources`).

    Pointer fields of Go (`*bool`, `*int64`) are `None` when not given; lists and maps Docker shows as
    `null` when unset are `None` here, so `to_json` writes them back the same way.
    """

    binds: list[str] | None = None
    container_id_file: str = ""
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: str = ""
    port_bindings: dict[str, list[dict[str, str]] | None] | None = None
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    cgroupns_mode: str = ""
    dns: list[str] | None = None
    dns_options: list[str] | None = None
    dns_search: list[str] | None = None
    extra_hosts: list[str] | None = None
    group_add: list[str] | None = None
    ipc_mode: str = ""
    cgroup: str = ""
    links: list[str] | None = None
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] | None = None
    storage_opt: dict[str, str] | None = None
    tmpfs: dict[str, str] | None = None
    uts_mode: str = ""
    userns_mode: str = ""
    shm_size: int = 0
    sysctls: dict[str, str] | None = None
    runtime: str = ""
    console_size: tuple[int, int] = (0, 0)
    isolation: str = ""
    # Resources
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cgroup_parent: str = ""
    blkio_weight: int = 0
    blkio_weight_device: list[WeightDevice] | None = None
    blkio_device_read_bps: list[ThrottleDevice] | None = None
    blkio_device_write_bps: list[ThrottleDevice] | None = None
    blkio_device_read_iops: list[ThrottleDevice] | None = None
    blkio_device_write_iops: list[ThrottleDevice] | None = None
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[DeviceMapping] | None = None
    device_cgroup_rules: list[str] | None = None
    device_requests: list[Any] | None = None
    kernel_memory: int = 0
    kernel_memory_tcp: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[Ulimit] | None = None
    cpu_count: int = 0
    cpu_percent: int = 0
    io_maximum_iops: int = 0
    io_maximum_bandwidth: int = 0
    # after Resources
    mounts: list[MountSpec] = field(default_factory=list)
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    init: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Docker's inspect form of HostConfig (field order of moby's struct, omitempty as it has)."""
        out: dict[str, Any] = {}
        for key, attr, kind in _HOST_FIELDS:
            value = getattr(self, attr)
            if key in _HOST_OMITEMPTY and not value:
                continue
            out[key] = _to_json(value, kind)
        return out

    @classmethod
    def from_json(cls, value: Any) -> HostConfig:
        """Read Docker's JSON form (inspect's, or the engine's stored copy)."""
        return parse_host_config(value)

    def copy(self) -> HostConfig:
        return copy.deepcopy(self)


@dataclass
class CreateRequest:
    """A parsed `POST /containers/create` body."""

    config: Config
    host_config: HostConfig
    networking_config: dict[str, Any] = field(default_factory=dict)
    host_config_given: bool = True  # False when the body had no (or a null) HostConfig


@dataclass(frozen=True)
class SecurityOptions:
    """HostConfig.SecurityOpt, read as dockerd's `parseSecurityOpt` reads it."""

    no_new_privileges: bool = False
    seccomp_profile: str = ""  # "" default, "unconfined", or a profile's JSON text
    apparmor_profile: str = ""
    label_options: tuple[str, ...] = ()


def parse_security_options(options: Sequence[str] | None) -> SecurityOptions:
    """Docker's `parseSecurityOpt`, with its messages (`invalid --security-opt 1: "x"`)."""
    nnp = False
    seccomp = apparmor = ""
    labels: list[str] = []
    for opt in options or ():
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        if "=" in opt:
            key, value = opt.split("=", 1)
        elif ":" in opt:
            key, value = opt.split(":", 1)
        else:
            raise InvalidArgument(f"invalid --security-opt 1: {_go_quote(opt)}")
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            parsed = _go_parse_bool(value)
            if parsed is None:
                raise InvalidArgument(f"invalid --security-opt 2: {_go_quote(opt)}")
            nnp = parsed
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {_go_quote(opt)}")
    return SecurityOptions(nnp, seccomp, apparmor, tuple(labels))


def _go_parse_bool(text: str) -> bool | None:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def normalize_capabilities(caps: Sequence[str] | None, what: str = "CapAdd") -> list[str]:
    """Docker's NormalizeLegacyCapabilities: upper-case, `CAP_` prefixed, "ALL" kept; an unknown name
    is `invalid CapAdd: unknown capability: "CAP_FOO"`."""
    out = []
    for c in caps or ():
        c = c.upper()
        if c == "ALL":
            out.append(c)
            continue
        if not c.startswith("CAP_"):
            c = "CAP_" + c
        if c not in ALL_CAPABILITIES:
            raise InvalidArgument(f"invalid {what}: unknown capability: {_go_quote(c)}")
        out.append(c)
    return out


# --- Go's JSON decoding ---------------------------------------------------------------------------

# A field kind is one of:
#   ("string", gotype) ("bool",) ("int", gotype, lo, hi) ("ptr", kind) ("list", elem_kind, gotype)
#   ("strslice",) ("map", elem_kind, gotype) ("set", gotype) ("struct", name, gotype, fields, build)
#   ("array2",) ("raw",)
Kind = tuple[Any, ...]

_I64 = (-(2**63), 2**63 - 1)
_INT = ("int", "int", *_I64)
_INT64 = ("int", "int64", *_I64)
_UINT16 = ("int", "uint16", 0, 2**16 - 1)
_UINT32 = ("int", "uint32", 0, 2**32 - 1)
_UINT64 = ("int", "uint64", 0, 2**64 - 1)
_DURATION = ("int", "time.Duration", *_I64)
_STR = ("string", "string")
_BOOL = ("bool",)
_STRS = ("list", _STR, "[]string")
_STRMAP = ("map", _STR, "map[string]string")


class _GoNumber(float):
    """A JSON number kept with its text, so messages can quote it as Go does (`number 1.5`)."""

    text: str

    def __new__(cls, text: str) -> _GoNumber:
        n = super().__new__(cls, float(text))
        n.text = text
        return n


class _GoInt(int):
    text: str

    def __new__(cls, text: str) -> _GoInt:
        n = super().__new__(cls, int(text))
        n.text = text
        return n


def go_json_kind(value: Any) -> str:
    """The JSON kind Go's encoding/json names in its "cannot unmarshal <kind>" errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class _Decoder:
    """One decode: keeps Go's first type error (Go keeps decoding after one and reports the first)."""

    def __init__(self) -> None:
        self.error: InvalidArgument | None = None

    def fail(self, value: Any, struct: str, path: str, gotype: str, number_text: bool = False) -> None:
        if self.error is not None:
            return
        what = go_json_kind(value)
        if number_text:
            what = f"number {getattr(value, 'text', _number_text(value))}"
        where = f"Go struct field {struct}.{path}" if struct else "Go value"
        self.error = InvalidArgument(f"json: cannot unmarshal {what} into {where} of type {gotype}")

    def value(self, v: Any, kind: Kind, struct: str, path: str) -> Any:
        tag = kind[0]
        if v is None:
            return _zero(kind)
        if tag == "string":
            if not isinstance(v, str):
                self.fail(v, struct, path, kind[1])
                return ""
            return v
        if tag == "bool":
            if not isinstance(v, bool):
                self.fail(v, struct, path, "bool")
                return False
            return v
        if tag == "int":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.fail(v, struct, path, kind[1])
                return 0
            if isinstance(v, float):
                text = getattr(v, "text", "")
                if not re.fullmatch(r"-?[0-9]+", text or ("x" if not v.is_integer() else str(int(v)))):
                    self.fail(v, struct, path, kind[1], number_text=True)
                    return 0
                v = int(v)
            if not kind[2] <= v <= kind[3]:
                self.fail(v, struct, path, kind[1], number_text=True)
                return 0
            return int(v)
        if tag == "ptr":
            return self.value(v, kind[1], struct, path)
        if tag == "list":
            if not isinstance(v, list):
                self.fail(v, struct, path, kind[2])
                return None
            return [self.value(item, kind[1], struct, path) for item in v]
        if tag == "strslice":
            if isinstance(v, list):
                return [self.value(item, _STR, struct, path) for item in v]
            if isinstance(v, str):
                return [v]
            self.fail(v, struct, path, "string")
            return None
        if tag == "map":
            if not isinstance(v, dict):
                self.fail(v, struct, path, kind[2])
                return None
            return {k: self.value(item, kind[1], struct, path) for k, item in v.items()}
        if tag == "set":
            if not isinstance(v, dict):
                self.fail(v, struct, path, kind[1])
                return None
            for item in v.values():
                if item is not None and not isinstance(item, dict):
                    self.fail(item, struct, path, "struct {}")
            return sorted(v)
        if tag == "struct":
            if not isinstance(v, dict):
                self.fail(v, struct, path, kind[2])
                return kind[4]({})
            return kind[4](self.fields(v, kind[1], kind[3], path))
        if tag == "array2":
            if not isinstance(v, list):
                self.fail(v, struct, path, "[2]uint")
                return (0, 0)
            items = [self.value(item, ("int", "uint", 0, 2**64 - 1), struct, path) for item in v[:2]]
            return ((*tuple(items), 0, 0))[:2]
        if tag == "raw":
            return v
        raise AssertionError(kind)

    def fields(self, obj: dict[str, Any], struct: str, fields: Sequence[tuple[str, str, Kind]], prefix: str) -> dict[str, Any]:
        by_lower = {key.lower(): (key, attr, kind) for key, attr, kind in fields}
        exact = {key for key, _, _ in fields}
        out: dict[str, Any] = {}
        for key, value in obj.items():
            spec = by_lower.get(key.lower())
            if spec is None:
                continue
            name, attr, kind = spec
            if key != name and name in obj and name in exact:
                continue  # Go prefers the exact match
            path = f"{prefix}.{name}" if prefix else name
            out[attr] = self.value(value, kind, struct, path)
        return out


def _number_text(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def _zero(kind: Kind) -> Any:
    tag = kind[0]
    if tag == "string":
        return ""
    if tag == "bool":
        return False
    if tag == "int":
        return 0
    if tag == "struct":
        return kind[4]({})
    if tag == "array2":
        return (0, 0)
    return None


def _build(cls: Callable[..., Any], defaults: Mapping[str, Any] | None = None,
           not_none: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], Any]:
    def build(values: dict[str, Any]) -> Any:
        merged = {**(defaults or {}), **{k: v for k, v in values.items() if not (k in not_none and v is None)}}
        return cls(**merged)

    return build


def _health_build(values: dict[str, Any]) -> HealthConfig:
    return HealthConfig(test=values.get("test"), interval=values.get("interval") or 0, timeout=values.get("timeout") or 0,
                        start_period=values.get("start_period") or 0, retries=values.get("retries") or 0)


_HEALTH = ("struct", "HealthConfig", "container.HealthConfig", (
    ("Test", "test", _STRS), ("Interval", "interval", _DURATION), ("Timeout", "timeout", _DURATION),
    ("StartPeriod", "start_period", _DURATION), ("Retries", "retries", _INT),
), _health_build)


def _config_build(values: dict[str, Any]) -> Config:
    return Config(**{k: v for k, v in values.items()})


_CONFIG_FIELDS: tuple[tuple[str, str, Kind], ...] = (
    ("Hostname", "hostname", _STR), ("Domainname", "domainname", _STR), ("User", "user", _STR),
    ("AttachStdin", "attach_stdin", _BOOL), ("AttachStdout", "attach_stdout", _BOOL),
    ("AttachStderr", "attach_stderr", _BOOL), ("ExposedPorts", "exposed_ports", ("set", "struct {}")),
    ("Tty", "tty", _BOOL), ("OpenStdin", "open_stdin", _BOOL), ("StdinOnce", "stdin_once", _BOOL),
    ("Env", "env", _STRS), ("Cmd", "cmd", ("strslice",)), ("Healthcheck", "healthcheck", ("ptr", _HEALTH)),
    ("ArgsEscaped", "args_escaped", _BOOL), ("Image", "image", _STR),
    ("Volumes", "volumes", ("set", "struct {}")), ("WorkingDir", "working_dir", _STR),
    ("Entrypoint", "entrypoint", ("strslice",)), ("NetworkDisabled", "network_disabled", _BOOL),
    ("MacAddress", "mac_address", _STR), ("OnBuild", "on_build", _STRS), ("Labels", "labels", _STRMAP),
    ("StopSignal", "stop_signal", _STR), ("StopTimeout", "stop_timeout", ("ptr", _INT)),
    ("Shell", "shell", ("strslice",)),
)


def _opt(name: str, gotype: str, fields: tuple[tuple[str, str, Kind], ...], build: Callable[[dict[str, Any]], Any]) -> Kind:
    return ("ptr", ("struct", name, gotype, fields, build))


def _volume_options_build(values: dict[str, Any]) -> VolumeOptions:
    driver = values.pop("driver_config", None)
    out = VolumeOptions(no_copy=values.get("no_copy", False), labels=values.get("labels"))
    if driver is not None:
        out.has_driver_config = True
        out.driver_name = driver.get("name", "")
        out.driver_options = driver.get("options")
    return out


_MOUNT = ("struct", "Mount", "mount.Mount", (
    ("Type", "type", ("string", "mount.Type")), ("Source", "source", _STR), ("Target", "target", _STR),
    ("ReadOnly", "read_only", _BOOL), ("Consistency", "consistency", ("string", "mount.Consistency")),
    ("BindOptions", "bind_options", _opt("BindOptions", "mount.BindOptions", (
        ("Propagation", "propagation", ("string", "mount.Propagation")), ("NonRecursive", "non_recursive", _BOOL),
    ), _build(BindOptions))),
    ("VolumeOptions", "volume_options", _opt("VolumeOptions", "mount.VolumeOptions", (
        ("NoCopy", "no_copy", _BOOL), ("Labels", "labels", _STRMAP),
        ("DriverConfig", "driver_config", _opt("Driver", "mount.Driver", (
            ("Name", "name", _STR), ("Options", "options", _STRMAP)), dict)),
    ), _volume_options_build)),
    ("TmpfsOptions", "tmpfs_options", _opt("TmpfsOptions", "mount.TmpfsOptions", (
        ("SizeBytes", "size_bytes", _INT64), ("Mode", "mode", ("int", "fs.FileMode", 0, 2**32 - 1)),
    ), _build(TmpfsOptions))),
), _build(MountSpec))

_WEIGHT_DEVICE = ("ptr", ("struct", "WeightDevice", "blkiodev.WeightDevice", (
    ("Path", "path", _STR), ("Weight", "weight", _UINT16)), _build(WeightDevice, {"path": "", "weight": 0})))
_THROTTLE_DEVICE = ("ptr", ("struct", "ThrottleDevice", "blkiodev.ThrottleDevice", (
    ("Path", "path", _STR), ("Rate", "rate", _UINT64)), _build(ThrottleDevice, {"path": "", "rate": 0})))

_HOST_FIELDS: tuple[tuple[str, str, Kind], ...] = (
    ("Binds", "binds", _STRS),
    ("ContainerIDFile", "container_id_file", _STR),
    ("LogConfig", "log_config", ("struct", "LogConfig", "container.LogConfig", (
        ("Type", "type", _STR), ("Config", "config", _STRMAP)), _build(LogConfig, not_none=("config",)))),
    ("NetworkMode", "network_mode", ("string", "container.NetworkMode")),
    ("PortBindings", "port_bindings", ("map", ("list", ("struct", "PortBinding", "nat.PortBinding", (
        ("HostIp", "HostIp", _STR), ("HostPort", "HostPort", _STR)), dict), "[]nat.PortBinding"), "nat.PortMap")),
    ("RestartPolicy", "restart_policy", ("struct", "RestartPolicy", "container.RestartPolicy", (
        ("Name", "name", _STR), ("MaximumRetryCount", "maximum_retry_count", _INT)), _build(RestartPolicy))),
    ("AutoRemove", "auto_remove", _BOOL),
    ("VolumeDriver", "volume_driver", _STR),
    ("VolumesFrom", "volumes_from", _STRS),
    ("CapAdd", "cap_add", ("strslice",)),
    ("CapDrop", "cap_drop", ("strslice",)),
    ("CgroupnsMode", "cgroupns_mode", ("string", "container.CgroupnsMode")),
    ("Dns", "dns", _STRS),
    ("DnsOptions", "dns_options", _STRS),
    ("DnsSearch", "dns_search", _STRS),
    ("ExtraHosts", "extra_hosts", _STRS),
    ("GroupAdd", "group_add", _STRS),
    ("IpcMode", "ipc_mode", ("string", "container.IpcMode")),
    ("Cgroup", "cgroup", ("string", "container.CgroupSpec")),
    ("Links", "links", _STRS),
    ("OomScoreAdj", "oom_score_adj", _INT),
    ("PidMode", "pid_mode", ("string", "container.PidMode")),
    ("Privileged", "privileged", _BOOL),
    ("PublishAllPorts", "publish_all_ports", _BOOL),
    ("ReadonlyRootfs", "readonly_rootfs", _BOOL),
    ("SecurityOpt", "security_opt", _STRS),
    ("StorageOpt", "storage_opt", _STRMAP),
    ("Tmpfs", "tmpfs", _STRMAP),
    ("UTSMode", "uts_mode", ("string", "container.UTSMode")),
    ("UsernsMode", "userns_mode", ("string", "container.UsernsMode")),
    ("ShmSize", "shm_size", _INT64),
    ("Sysctls", "sysctls", _STRMAP),
    ("Runtime", "runtime", _STR),
    ("ConsoleSize", "console_size", ("array2",)),
    ("Isolation", "isolation", ("string", "container.Isolation")),
    ("CpuShares", "cpu_shares", _INT64),
    ("Memory", "memory", _INT64),
    ("NanoCpus", "nano_cpus", _INT64),
    ("CgroupParent", "cgroup_parent", _STR),
    ("BlkioWeight", "blkio_weight", _UINT16),
    ("BlkioWeightDevice", "blkio_weight_device", ("list", _WEIGHT_DEVICE, "[]*blkiodev.WeightDevice")),
    ("BlkioDeviceReadBps", "blkio_device_read_bps", ("list", _THROTTLE_DEVICE, "[]*blkiodev.ThrottleDevice")),
    ("BlkioDeviceWriteBps", "blkio_device_write_bps", ("list", _THROTTLE_DEVICE, "[]*blkiodev.ThrottleDevice")),
    ("BlkioDeviceReadIOps", "blkio_device_read_iops", ("list", _THROTTLE_DEVICE, "[]*blkiodev.ThrottleDevice")),
    ("BlkioDeviceWriteIOps", "blkio_device_write_iops", ("list", _THROTTLE_DEVICE, "[]*blkiodev.ThrottleDevice")),
    ("CpuPeriod", "cpu_period", _INT64),
    ("CpuQuota", "cpu_quota", _INT64),
    ("CpuRealtimePeriod", "cpu_realtime_period", _INT64),
    ("CpuRealtimeRuntime", "cpu_realtime_runtime", _INT64),
    ("CpusetCpus", "cpuset_cpus", _STR),
    ("CpusetMems", "cpuset_mems", _STR),
    ("Devices", "devices", ("list", ("struct", "DeviceMapping", "container.DeviceMapping", (
        ("PathOnHost", "path_on_host", _STR), ("PathInContainer", "path_in_container", _STR),
        ("CgroupPermissions", "cgroup_permissions", _STR)),
        _build(DeviceMapping, {"path_on_host": "", "path_in_container": "", "cgroup_permissions": ""})),
        "[]container.DeviceMapping")),
    ("DeviceCgroupRules", "device_cgroup_rules", _STRS),
    ("DeviceRequests", "device_requests", ("list", ("raw",), "[]container.DeviceRequest")),
    ("KernelMemory", "kernel_memory", _INT64),
    ("KernelMemoryTCP", "kernel_memory_tcp", _INT64),
    ("MemoryReservation", "memory_reservation", _INT64),
    ("MemorySwap", "memory_swap", _INT64),
    ("MemorySwappiness", "memory_swappiness", ("ptr", _INT64)),
    ("OomKillDisable", "oom_kill_disable", ("ptr", _BOOL)),
    ("PidsLimit", "pids_limit", ("ptr", _INT64)),
    ("Ulimits", "ulimits", ("list", ("ptr", ("struct", "Ulimit", "units.Ulimit", (
        ("Name", "name", _STR), ("Hard", "hard", _INT64), ("Soft", "soft", _INT64)),
        _build(Ulimit, {"name": "", "soft": 0, "hard": 0}))), "[]*units.Ulimit")),
    ("CpuCount", "cpu_count", _INT64),
    ("CpuPercent", "cpu_percent", _INT64),
    ("IOMaximumIOps", "io_maximum_iops", _UINT64),
    ("IOMaximumBandwidth", "io_maximum_bandwidth", _UINT64),
    ("Mounts", "mounts", ("list", _MOUNT, "[]mount.Mount")),
    ("MaskedPaths", "masked_paths", _STRS),
    ("ReadonlyPaths", "readonly_paths", _STRS),
    ("Init", "init", ("ptr", _BOOL)),
)
_HOST_OMITEMPTY = {"StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init"}
_HOST_KIND = ("struct", "HostConfig", "container.HostConfig", _HOST_FIELDS, _build(HostConfig, not_none=("mounts",)))


def _to_json(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    tag = kind[0]
    if tag == "ptr":
        return _to_json(value, kind[1])
    if tag in ("list",) and kind[1][0] in ("struct", "ptr"):
        return [v.to_json() if hasattr(v, "to_json") else v for v in value]
    if tag == "struct":
        return value.to_json() if hasattr(value, "to_json") else value
    if tag == "map" and kind[1][0] == "list":
        return {k: v for k, v in sorted(value.items())}
    if tag in ("map",):
        return dict(sorted(value.items()))
    if tag == "array2":
        return list(value)
    if tag in ("list", "strslice"):
        return list(value)
    return value


def _load_body(body: bytes | str | Any) -> Any:
    if not isinstance(body, (bytes, bytearray, str)):
        return body
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    if not text.strip():
        raise InvalidArgument("EOF")
    try:
        return json.JSONDecoder(parse_float=_GoNumber, parse_int=_GoInt).raw_decode(text.lstrip())[0]
    except json.JSONDecodeError as e:
        raise InvalidArgument(_go_syntax_error(e)) from None


def _go_syntax_error(e: json.JSONDecodeError) -> str:
    if e.pos >= len(e.doc.rstrip()):
        return "unexpected EOF"
    c = e.doc[e.pos]
    if e.msg.startswith("Expecting value"):
        return f"invalid character {_go_char(c)} looking for beginning of value"
    if e.msg.startswith("Expecting property name"):
        return f"invalid character {_go_char(c)} looking for beginning of object key string"
    if e.msg.startswith("Expecting ',' delimiter") or e.msg.startswith("Expecting ':' delimiter"):
        where = "after object key" if "':'" in e.msg else ("after object key:value pair" if "{" in e.doc[:e.pos] else
                                                             "after array element")
        return f"invalid character {_go_char(c)} {where}"
    return f"invalid character {_go_char(c)} in string literal" if "control character" in e.msg else e.msg


def _go_char(c: str) -> str:
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return f"'{c}'"


def parse_config(body: Any) -> Config:
    """The `Config` part of a create body (its top-level keys), decoded as Go decodes it."""
    value = _load_body(body)
    decoder = _Decoder()
    if not isinstance(value, dict):
        decoder.fail(value, "", "", "runconfig.ContainerConfigWrapper")
        assert decoder.error is not None
        raise decoder.error
    config = _config_build(decoder.fields(value, "ContainerConfigWrapper", _CONFIG_FIELDS, ""))
    if decoder.error is not None:
        raise decoder.error
    return config


def config_from_json(value: Any) -> Config:
    """A stored or inspected Config (Docker's JSON form) as the record."""
    return parse_config(value)


def parse_host_config(value: Any) -> HostConfig:
    """A `HostConfig` object, decoded as Go decodes it. `None` gives the zero HostConfig."""
    value = _load_body(value)
    if value is None:
        return HostConfig()
    decoder = _Decoder()
    host = decoder.value(value, _HOST_KIND, "", "HostConfig")
    if decoder.error is not None:
        raise decoder.error
    assert isinstance(host, HostConfig)
    return host


def parse_create_request(body: bytes | str | Any) -> CreateRequest:
    """The body of `POST /containers/create`: raw bytes (best: number literals are quoted in errors as
    Go quotes them) or the decoded JSON value.

    Raises InvalidArgument with Go's decoding message for wrong types and with Docker's messages for
    what `decodeContainerConfig` refuses (network mode conflicts). The semantic checks of create are
    `validate`'s.
    """
    value = _load_body(body)
    decoder = _Decoder()
    if not isinstance(value, dict):
        decoder.fail(value, "", "", "runconfig.ContainerConfigWrapper")
        assert decoder.error is not None
        raise decoder.error
    wrapper_fields = (*_CONFIG_FIELDS, ("HostConfig", "host_config", ("ptr", _HOST_KIND)),
                      ("NetworkingConfig", "networking_config", ("ptr", ("raw",))))
    values = decoder.fields(value, "ContainerConfigWrapper", wrapper_fields, "")
    if decoder.error is not None:
        raise decoder.error
    host = values.pop("host_config", None)
    networking = values.pop("networking_config", None)
    if networking is not None and not isinstance(networking, dict):
        raise InvalidArgument(f"json: cannot unmarshal {go_json_kind(networking)} into Go struct field "
                              "ContainerConfigWrapper.NetworkingConfig of type network.NetworkingConfig")
    config = _config_build(values)
    request = CreateRequest(config, host if host is not None else HostConfig(), networking or {}, host is not None)
    if host is not None and config.volumes is None:
        config.volumes = []  # decodeContainerConfig makes the map when a HostConfig came along
    _validate_net_mode(config, request.host_config)
    if request.host_config.io_maximum_bandwidth:
        raise InvalidArgument("Invalid QoS settings: linux does not support configuration of maximum bandwidth")
    if request.host_config.io_maximum_iops:
        raise InvalidArgument("Invalid QoS settings: linux does not support configuration of maximum IOPs")
    if request.host_config.isolation not in ("", "default"):
        raise InvalidArgument(f"Invalid isolation: {_go_quote(request.host_config.isolation)} - linux only supports 'default'")
    return request


def _is_container_mode(mode: str) -> bool:
    return mode.split(":", 1)[0] == "container"


def _validate_net_mode(c: Config, hc: HostConfig) -> None:
    parts = hc.network_mode.split(":")
    if parts[0] == "container" and (len(parts) < 2 or parts[1] == ""):
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
    container = _is_container_mode(hc.network_mode)
    if container and c.hostname:
        raise InvalidArgument("conflicting options: hostname and the network mode")
    if container and hc.links:
        raise InvalidArgument("conflicting options: container type network can't be used with links. "
                              "This would result in undefined behavior")
    if container and hc.dns:
        raise InvalidArgument("conflicting options: dns and the network mode")
    if container and hc.extra_hosts:
        raise InvalidArgument("conflicting options: custom host-to-IP mapping and the network mode")
    if (container or hc.network_mode == "host") and c.mac_address:
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if container and (hc.port_bindings or hc.publish_all_ports):
        raise InvalidArgument("conflicting options: port publishing and the container type network mode")
    if container and c.exposed_ports:
        raise InvalidArgument("conflicting options: port exposing and the container type network mode")
    if hc.uts_mode == "host" and c.hostname:
        raise InvalidArgument("conflicting options: hostname and the UTS mode")
    if hc.network_mode == "host" and hc.links:
        raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                              "This would result in undefined behavior")


# --- create-time checks and defaults ------------------------------------------------------------

_IP = re.compile(r"^(\d{1,3}\.){3}\d{1,3}$")


def _valid_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _online_cpus() -> set[int]:
    try:
        text = Path("/sys/devices/system/cpu/online").read_text().strip()
    except OSError:
        return set(range(os.cpu_count() or 1))
    return _parse_list(text) or set()


def _online_mems() -> set[int]:
    try:
        text = Path("/sys/devices/system/node/online").read_text().strip()
    except OSError:
        return {0}
    return _parse_list(text) or {0}


def _parse_list(text: str) -> set[int] | None:
    """A cpuset list ("0-2,4"); None when malformed (Docker: `invalid format: x`)."""
    out: set[int] = set()
    if text == "":
        return out
    for part in text.split(","):
        if re.fullmatch(r"[0-9]+", part):
            out.add(int(part))
        elif m := re.fullmatch(r"([0-9]+)-([0-9]+)", part):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                return None
            out.update(range(lo, hi + 1))
        else:
            return None
    return out


def _check_cpuset(value: str, available: set[int], what: str, shown: str) -> None:
    if not value:
        return
    wanted = _parse_list(value)
    if wanted is None:
        raise InvalidArgument(f"Invalid value {value} for cpuset {what}: invalid format: {value}")
    if not wanted <= available:
        raise InvalidArgument(f"Requested {'CPUs' if what == 'cpus' else 'memory nodes'} are not available - "
                              f"requested {value}, available: {shown}")


def validate(config: Config | None, host: HostConfig | None, *, runtimes: Sequence[str] = ("runc",),
             update: bool = False, sysinfo: SysInfo | None = None) -> list[str]:
    """Docker's create-time checks (`verifyContainerSettings`: `validateContainerConfig`,
    `validateHostConfig`, `verifyPlatformContainerSettings`).

    Raises InvalidArgument with Docker's message for a value Docker refuses; returns the warnings
    Docker would put in the create response. Like Docker, it clears from `host` the limits this
    host's cgroups cannot apply (`sysinfo`, probed when not given), each with a warning. `runtimes` are the runtime names the daemon knows
    (HostConfig.Runtime must be one of them when set). Bind-mount specs are checked by
    `volumes.plan_mounts` (as Docker does them in `registerMountPoints`).
    """
    if config is not None:
        if config.working_dir and not config.working_dir.startswith("/"):
            raise InvalidArgument(f"the working directory '{config.working_dir}' is invalid, it needs to be an absolute path")
        if config.stop_signal:
            parse_signal(config.stop_signal)
        for env in config.env or ():
            if env.split("=", 1)[0] == "":
                raise InvalidArgument(f"invalid environment variable: {env}")
        hc = config.healthcheck
        if hc is not None:
            for name, value in (("Interval", hc.interval), ("Timeout", hc.timeout)):
                if value != 0 and value < MINIMUM_DURATION_NS:
                    raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")
            if hc.retries < 0:
                raise InvalidArgument("Retries in Healthcheck cannot be negative")
            if hc.start_period != 0 and hc.start_period < MINIMUM_DURATION_NS:
                raise InvalidArgument("StartPeriod in Healthcheck cannot be less than 1ms")
    if host is None:
        return []
    restart = host.restart_policy
    if host.auto_remove and restart.name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    from dockyard.volumes.mounts import validate_mount_spec

    for m in host.mounts or ():
        validate_mount_spec(m)
    for extra in host.extra_hosts or ():
        name, sep, ip = extra.partition(":")
        if not sep or not name:
            raise InvalidArgument(f"bad format for add-host: {_go_quote(extra)}")
        if ip != "host-gateway" and not _valid_ip(ip):
            raise InvalidArgument(f"invalid IP address in add-host: {_go_quote(ip)}")
    for port, bindings in (host.port_bindings or {}).items():
        number = port.split("/", 1)[0]
        if not _valid_port_range(number):
            raise InvalidArgument(f"invalid port specification: {_go_quote(number)}")
        for b in bindings or ():
            host_port = b.get("HostPort", "").split("/", 1)[0]
            if host_port and not _valid_port_range(host_port):
                raise InvalidArgument(f"invalid port specification: {_go_quote(b.get('HostPort', ''))}")
    if restart.name in ("always", "unless-stopped", "no"):
        if restart.maximum_retry_count != 0:
            raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{restart.name}'")
    elif restart.name == "on-failure":
        if restart.maximum_retry_count < 0:
            raise InvalidArgument("maximum retry count cannot be negative")
    elif restart.name != "":
        raise InvalidArgument(f"invalid restart policy '{restart.name}'")
    normalize_capabilities(host.cap_add, "CapAdd")
    normalize_capabilities(host.cap_drop, "CapDrop")
    if host.isolation not in ("", "default"):
        raise InvalidArgument(f"invalid isolation '{host.isolation}' on linux")
    warnings = _verify_resources(host, update, sysinfo or host_sysinfo())
    if host.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    if not -1000 <= host.oom_score_adj <= 1000:
        raise InvalidArgument(f"Invalid value {host.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    if host.network_mode == "host" and host.port_bindings:
        warnings.append("Published ports are discarded when using host network mode")
    if host.runtime and host.runtime not in runtimes:
        raise InvalidArgument(f"Unknown runtime specified {host.runtime}")
    for dest in host.tmpfs or {}:
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid mount path: '{dest}' mount path must be absolute")
        if os.path.normpath(dest) == "/":
            raise InvalidArgument("invalid specification: destination can't be '/'")
    if host.cgroupns_mode not in ("", "host", "private"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {host.cgroupns_mode}")
    parse_security_options(host.security_opt)
    for u in host.ulimits or ():
        if u.soft > u.hard:
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {u.soft} > {u.hard}")
    return warnings


def validate_host_config(host: HostConfig, config: Config | None = None) -> list[str]:
    """`validate(config, host)` (the name of the first published API)."""
    return validate(config, host)


def _valid_port_range(text: str) -> bool:
    if not text:
        return False
    lo, sep, hi = text.partition("-")
    for part in (lo, hi) if sep else (lo,):
        if not re.fullmatch(r"[0-9]+", part) or not 0 <= int(part) <= 65535:
            return False
    return not sep or int(lo) <= int(hi)


def _verify_resources(r: HostConfig, update: bool, si: SysInfo) -> list[str]:
    """moby's verifyPlatformContainerResources: errors, warnings, and limits this host cannot apply
    discarded from `r` (as Docker discards them, so inspect shows them unset)."""
    warnings: list[str] = []
    if r.memory_swappiness == -1:
        r.memory_swappiness = None
    if r.memory != 0 and r.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if r.memory > 0 and not si.memory_limit:
        warnings.append("Your kernel does not support memory limit capabilities or the cgroup is not mounted. "
                        "Limitation discarded.")
        r.memory, r.memory_swap = 0, -1
    if r.memory > 0 and r.memory_swap != -1 and not si.swap_limit:
        warnings.append("Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
                        "Memory limited without swap.")
        r.memory_swap = -1
    if r.memory > 0 and r.memory_swap > 0 and r.memory_swap < r.memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if r.memory == 0 and r.memory_swap > 0 and not update:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if r.memory_swappiness is not None and not si.memory_swappiness:
        warnings.append("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
                        "Memory swappiness discarded.")
        r.memory_swappiness = None
    if r.memory_swappiness is not None and not 0 <= r.memory_swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {r.memory_swappiness}, valid memory swappiness range is 0-100")
    if r.memory_reservation > 0 and not si.memory_reservation:
        warnings.append("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. "
                        "Limitation discarded.")
        r.memory_reservation = 0
    if r.memory_reservation > 0 and r.memory_reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if r.memory > 0 and r.memory_reservation > 0 and r.memory < r.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if r.kernel_memory > 0:
        warnings.append("Specifying a kernel memory limit is deprecated and will be removed in a future release.")
    if r.kernel_memory > 0 and not si.kernel_memory:
        warnings.append("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. "
                        "Limitation discarded.")
        r.kernel_memory = 0
    if r.kernel_memory > 0 and r.kernel_memory < MIN_MEMORY:
        raise InvalidArgument("Minimum kernel memory limit allowed is 6MB")
    if r.oom_kill_disable is not None and not si.oom_kill_disable:
        if r.oom_kill_disable:
            warnings.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        r.oom_kill_disable = None
    if r.oom_kill_disable and r.memory == 0:
        warnings.append("OOM killer is disabled for the container, but no memory limit is set, this can result in "
                        "the system running out of resources.")
    if r.pids_limit is not None and not si.pids_limit:
        if r.pids_limit > 0:
            warnings.append("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. "
                            "PIDs limit discarded.")
        r.pids_limit = None
    if r.nano_cpus > 0 and r.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if r.nano_cpus > 0 and r.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if r.nano_cpus > 0 and not si.cpu_cfs:
        raise InvalidArgument("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the "
                              "cgroup is not mounted")
    ncpu = os.cpu_count() or 1
    if r.nano_cpus < 0 or r.nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if r.cpu_shares > 0 and not si.cpu_shares:
        warnings.append("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
        r.cpu_shares = 0
    if (r.cpu_period or r.cpu_quota) and not si.cpu_cfs:
        warnings.append("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
        r.cpu_period = r.cpu_quota = 0
    if r.cpu_period != 0 and not 1000 <= r.cpu_period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < r.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if r.cpu_percent > 0:
        warnings.append("linux does not support CPU percent. Percent discarded.")
        r.cpu_percent = 0
    if (r.cpuset_cpus or r.cpuset_mems) and not si.cpuset:
        warnings.append("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
        r.cpuset_cpus = r.cpuset_mems = ""
    _check_cpuset(r.cpuset_cpus, _online_cpus(), "cpus", _read_or(["/sys/devices/system/cpu/online"]))
    _check_cpuset(r.cpuset_mems, _online_mems(), "mems", _read_or(["/sys/devices/system/node/online"], "0"))
    if r.blkio_weight > 0 and not si.blkio_weight:
        warnings.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
        r.blkio_weight = 0
    if r.blkio_weight > 0 and not 10 <= r.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if r.io_maximum_bandwidth or r.io_maximum_iops:
        raise InvalidArgument("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
    for attr, supported, text in (
            ("blkio_weight_device", si.blkio_weight_device, "Block I/O weight_device or the cgroup is not mounted. "
                                                             "Weight-device discarded."),
            ("blkio_device_read_bps", si.blkio_read_bps_device, "BPS Block I/O read limit or the cgroup is not mounted. "
                                                                "Block I/O BPS read limit discarded."),
            ("blkio_device_write_bps", si.blkio_write_bps_device, "BPS Block I/O write limit or the cgroup is not "
                                                                  "mounted. Block I/O BPS write limit discarded."),
            ("blkio_device_read_iops", si.blkio_read_iops_device, "IOPS Block read limit or the cgroup is not mounted. "
                                                                  "Block I/O IOPS read limit discarded."),
            ("blkio_device_write_iops", si.blkio_write_iops_device, "IOPS Block write limit or the cgroup is not "
                                                                    "mounted. Block I/O IOPS write limit discarded.")):
        if getattr(r, attr) and not supported:
            warnings.append(f"Your kernel does not support {text}")
            setattr(r, attr, [])
    if (r.cpu_realtime_period or r.cpu_realtime_runtime) and not si.cpu_realtime:
        raise InvalidArgument("Your kernel does not support CPU real-time scheduler")
    if r.cpu_realtime_period and r.cpu_realtime_runtime and r.cpu_realtime_runtime > r.cpu_realtime_period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")
    return warnings


def _read_or(paths: list[str], default: str = "") -> str:
    for p in paths:
        try:
            return Path(p).read_text().strip()
        except OSError:
            continue
    return default


def apply_defaults(host: HostConfig, *, default_runtime: str = "runc", cgroup_v2: bool | None = None,
                   default_shm_size: int = DEFAULT_SHM_SIZE, default_ipc_mode: str = "private",
                   default_log_type: str = "json-file", default_log_config: Mapping[str, str] | None = None,
                   container_id: Callable[[str], str | None] | None = None) -> HostConfig:
    """A copy of `host` with what dockerd fills at create (`adaptContainerSettings` and friends):
    MemorySwap = 2 x Memory when only Memory is set, ShmSize 64m when 0, IpcMode, CgroupnsMode ("host"
    on cgroup v1, "private" on v2), OomKillDisable false when unset, NetworkMode "default" when empty,
    the log driver, MaskedPaths/ReadonlyPaths defaults when not privileged, Runtime, `label=disable`
    for privileged containers and those in the host's IPC or PID namespace. PidsLimit <= 0
    means unlimited and is dropped (as the API router does). CpuShares stays 0 (Docker shows 0; the
    cgroup keeps its default 1024). `container_id(name_or_id)` -> full id (or None when unknown) lets
    `container:<name>` modes be rewritten to `container:<id>`, as Docker's adaptSharedNamespaceContainer
    does (an unknown one is left for the start to report)."""
    h = host.copy()
    if container_id is not None:
        for attr in ("pid_mode", "ipc_mode", "network_mode"):
            mode = getattr(h, attr)
            if mode.startswith("container:"):
                found = container_id(mode.split(":", 1)[1])
                if found:
                    setattr(h, attr, f"container:{found}")
    if h.memory > 0 and h.memory_swap == 0:
        h.memory_swap = h.memory * 2
    if h.shm_size == 0:
        h.shm_size = default_shm_size
    if not h.ipc_mode:
        h.ipc_mode = default_ipc_mode
    if not h.cgroupns_mode:
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers") if cgroup_v2 is None else cgroup_v2
        h.cgroupns_mode = "private" if v2 and not (h.privileged and not v2) else "host"
    if h.memory_swappiness == -1:
        h.memory_swappiness = None  # fixMemorySwappiness
    if h.oom_kill_disable is None:
        h.oom_kill_disable = False
    if h.pids_limit is not None and h.pids_limit <= 0:
        h.pids_limit = None
    if not h.network_mode:
        h.network_mode = "default"
    if not h.log_config.type:
        h.log_config = replace(h.log_config, type=default_log_type,
                               config=h.log_config.config or dict(default_log_config or {}))
    if h.masked_paths is None and not h.privileged:
        h.masked_paths = list(DEFAULT_MASKED_PATHS)
    if h.readonly_paths is None and not h.privileged:
        h.readonly_paths = list(DEFAULT_READONLY_PATHS)
    if not h.runtime:
        h.runtime = default_runtime
    if not any(opt.split("=", 1)[0] == "label" for opt in h.security_opt or ()):
        # generateSecurityOpt: SELinux labelling is off for containers that share the host's namespaces
        if h.ipc_mode == "host" or h.pid_mode == "host" or h.privileged:
            h.security_opt = [*(h.security_opt or []), "label=disable"]
    return h


def nano_cpus_from_float(cpus: float) -> int:
    """`--cpus 1.5` -> NanoCpus, as the CLI's `opts.NanoCPUs` computes it (rounded to whole nanos)."""
    if math.isnan(cpus) or cpus < 0:
        raise InvalidArgument(f"invalid argument {cpus!r} for \"--cpus\" flag: value must be positive")
    return round(cpus * 1e9)
