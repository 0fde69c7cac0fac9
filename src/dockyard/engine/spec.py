"""A container's OCI runtime spec, generated as Docker 20.10 generates it.

The engine calls, in order:

    config = merge_image_config(request.config, image_config.config)      # create
    host = apply_defaults(request.host_config)                              # create
    ...
    spec = build_spec(SpecInput(container_id=..., config=config, host_config=host,
                                rootfs=..., mounts=volumes.to_oci(...), hostfiles=...,
                                init_path=..., namespace_pids=...))          # start
    write_config(bundle, spec)

`build_spec` is pure apart from reading the container rootfs's /etc/passwd and /etc/group (user
resolution), /proc/sys (which default sysctls exist), the host's device nodes (`--device`,
privileged) and the seccomp profile data. Its result matches, field by field, the config.json
dockerd hands runc for the same request (tests/engine/test_spec_vs_docker.py compares them); where
the two necessarily differ (paths, ids, the libnetwork prestart hook, which dockyard has no use
for) the docstring of `build_spec` says so.

`spec_to_json` writes the record in the runtime-spec Go types' field order with their
`omitempty` rules, so the JSON reads like Docker's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.engine.config import Config, HostConfig
from dockyard.engine.hostfiles import HostFiles
from dockyard.oci.runtime_spec import Mount, Spec

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH_ENV",
    "SpecInput",
    "build_spec",
    "container_command",
    "container_env",
    "merge_image_config",
    "spec_to_json",
    "write_config",
]

DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

INIT_PATH_IN_CONTAINER = "/sbin/docker-init"


@dataclass
class SpecInput:
    """Everything `build_spec` needs. The engine resolves names to paths and pids; this module does not
    know other containers.

    - `config` is the container's Config after `merge_image_config` (Entrypoint/Cmd/Env/User/... final).
    - `host_config` after `config.apply_defaults`.
    - `rootfs`: the container's mounted root filesystem (user resolution reads its /etc files).
    - `mounts`: the user's mounts (binds, volumes, tmpfs) as OCI mounts, from `volumes.to_oci`.
    - `hostfiles`: the per-container hosts/hostname/resolv.conf (`hostfiles.write_hostfiles`), or None
      to leave them out (then the image's own files are used).
    - `init_path`: the host path of the init binary, bind-mounted at /sbin/docker-init when
      `host_config.init` is true (Docker's --init).
    - `namespace_pids`: the pid of the container a `container:<x>` mode names, by namespace kind:
      {"network": 1234, "ipc": 1234, "pid": 1234}.
    - `default_cgroup_parent`: used when HostConfig.CgroupParent is empty ("/dockyard").
    - `seccomp_enabled`: False when this host/runtime cannot do seccomp (then no profile is written,
      as Docker does when the kernel lacks it).
    - `apparmor_enabled`: whether AppArmor is on (Docker sets `docker-default` then).
    - `daemon_ulimits`: the daemon's default ulimits (merged under the container's, by name).
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


def merge_image_config(config: Config, image: Config | None) -> Config:
    """The container's Config with the image's filled in as Docker's `merge` (daemon/commit.go) does:
    User, WorkingDir, StopSignal, Healthcheck fields, Volumes, ExposedPorts (union), Env (image vars
    whose names the user did not set are appended), Labels (union, the user's win), and Entrypoint/Cmd:
    if the user gave no Entrypoint, Cmd falls back to the image's when empty and Entrypoint to the
    image's when not given at all (`--entrypoint ""` clears it). Returns a new record."""
    raise NotImplementedError


def container_command(config: Config) -> tuple[str, list[str]]:
    """Docker's (Path, Args): Entrypoint + Cmd, first word the path. InvalidArgument
    `No command specified` when both are empty."""
    raise NotImplementedError


def container_env(config: Config, hostname: str) -> list[str]:
    """The process environment Docker builds: PATH (default), HOSTNAME, TERM=xterm with a tty, then the
    Config's Env replacing or appending by name."""
    raise NotImplementedError


def build_spec(inp: SpecInput) -> Spec:
    """The OCI runtime spec for one container start (Docker's `createSpec`)."""
    raise NotImplementedError


def spec_to_json(spec: Spec) -> dict[str, Any]:
    """`spec` as config.json: runtime-spec Go field order and omitempty rules."""
    raise NotImplementedError


def write_config(bundle: Path, spec: Spec) -> Path:
    """Write `<bundle>/config.json` atomically (temp file, fsync, rename); returns its path."""
    raise NotImplementedError
