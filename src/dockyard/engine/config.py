"""Typed records of a container create request: Docker's `Config` and `HostConfig` (Engine API v1.43).

`parse_create_request(body)` is the only place the JSON body of `POST /containers/create` is read.
It checks types the way Go's decoder does and reports a wrong one in Go's words
(`json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64`),
then `validate_host_config` applies Docker's semantic checks with Docker's messages
(`Minimum memory limit allowed is 6MB`, `invalid restart policy ...`). `apply_defaults` then fills
what dockerd fills at create time (ShmSize 64m, MemorySwap = 2 x Memory, ...), so inspect shows the
same values as Docker's.

`Config` is Docker's `container.Config`, the same record the image config carries
(`dockyard.oci.image_spec.ContainerConfig`): one type for both, so merging an image's config into a
container's is a field-by-field affair (see `engine.spec.merge_image_config`).

`to_json()` on these records gives Docker's inspect shape (HostConfig with every field, in
Docker's field order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.oci.image_spec import ContainerConfig as Config
from dockyard.oci.image_spec import HealthConfig
from dockyard.volumes.spec import BindOptions, MountSpec, TmpfsOptions, VolumeOptions

__all__ = [
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
    "ThrottleDevice",
    "TmpfsOptions",
    "Ulimit",
    "VolumeOptions",
    "WeightDevice",
    "apply_defaults",
    "parse_config",
    "parse_create_request",
    "parse_host_config",
    "validate_host_config",
]

DEFAULT_SHM_SIZE = 64 * 1024 * 1024


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

    Pointer fields of Go (`*bool`, `*int64`) are `None` when not given. Lists that Docker shows as
    `null` when unset are `None` here too; `to_json` writes them back the same way.
    """

    binds: list[str] | None = None
    container_id_file: str = ""
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: str = ""
    port_bindings: dict[str, list[dict[str, str]] | None] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    cgroupns_mode: str = ""
    dns: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
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
    blkio_weight_device: list[WeightDevice] = field(default_factory=list)
    blkio_device_read_bps: list[ThrottleDevice] = field(default_factory=list)
    blkio_device_write_bps: list[ThrottleDevice] = field(default_factory=list)
    blkio_device_read_iops: list[ThrottleDevice] = field(default_factory=list)
    blkio_device_write_iops: list[ThrottleDevice] = field(default_factory=list)
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[DeviceMapping] = field(default_factory=list)
    device_cgroup_rules: list[str] = field(default_factory=list)
    kernel_memory: int = 0
    kernel_memory_tcp: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[Ulimit] | None = None
    # after Resources
    mounts: list[MountSpec] = field(default_factory=list)
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    init: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Docker's inspect form of HostConfig (field order of moby's struct)."""
        raise NotImplementedError


@dataclass
class CreateRequest:
    """A parsed `POST /containers/create` body."""

    config: Config
    host_config: HostConfig
    networking_config: dict[str, Any] = field(default_factory=dict)


def parse_config(body: Any) -> Config:
    """The `Config` part of a create body (top-level keys), checked as Go decodes it."""
    raise NotImplementedError


def parse_host_config(value: Any) -> HostConfig:
    """A `HostConfig` object, checked as Go decodes it. `None` gives the zero HostConfig."""
    raise NotImplementedError


def parse_create_request(body: Any) -> CreateRequest:
    """The whole JSON body (already decoded) of `POST /containers/create`.

    Raises InvalidArgument with Go's decoding message for wrong types, and with Docker's
    validation messages for values Docker rejects at create (see `validate_host_config`).
    """
    raise NotImplementedError


def validate_host_config(host: HostConfig, config: Config | None = None) -> list[str]:
    """Docker's create-time checks (`verifyPlatformContainerSettings`, `verifyContainerSettings`).

    Raises InvalidArgument with Docker's message for a value Docker refuses; returns the warnings
    Docker would return in the create response (`Warnings`).
    """
    raise NotImplementedError


def apply_defaults(host: HostConfig) -> HostConfig:
    """A copy of `host` with what dockerd fills at create (`adaptContainerSettings`): ShmSize 64m when
    0, MemorySwap = 2 x Memory when only Memory is set, NetworkMode "default" when empty, IpcMode
    "private"; CpuShares stays 0 (Docker shows 0 and the cgroup keeps its default 1024)."""
    raise NotImplementedError
