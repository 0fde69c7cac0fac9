"""config.json (typed `Spec`) -> the runtime's own `Config`, checked once, before anything is made.

Everything that can be refused is refused here, in the parent, so a bad config leaves no state
directory, cgroup, mount or process behind. Nothing after this module reads raw JSON.
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.runtime_spec import Device, DeviceRule, IDMapping, Process, Spec
from dockyard.records import field, record
from dockyard.runtime import cjson
from dockyard.runtime.linux import mounts as m
from dockyard.runtime.linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class MountEntry:
    source: str
    destination: str
    type: str
    options: m.MountOptions
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)
    detached_fd: int = -1  # an idmapped tree the runtime prepared before fork (linux/idmap.py)

    @property
    def idmapped(self) -> bool:
        return bool(self.options.extensions & {"idmap", "ridmap"})


# The devices every container gets in /dev (runc's defaults), each also allowed in the device cgroup.
DEFAULT_DEVICES = [
    Device("c", "/dev/null", 1, 3, 0o666, 0, 0),
    Device("c", "/dev/zero", 1, 5, 0o666, 0, 0),
    Device("c", "/dev/full", 1, 7, 0o666, 0, 0),
    Device("c", "/dev/random", 1, 8, 0o666, 0, 0),
    Device("c", "/dev/urandom", 1, 9, 0o666, 0, 0),
    Device("c", "/dev/tty", 5, 0, 0o666, 0, 0),
]

# Device cgroup rules appended after the spec's own, as runc does: mknod of anything, the
# terminal devices, and the default devices above.
ALLOWED_DEVICE_RULES = [
    DeviceRule(True, "c", None, None, "m"),
    DeviceRule(True, "b", None, None, "m"),
    DeviceRule(True, "c", 5, 1, "rwm"),    # /dev/console
    DeviceRule(True, "c", 136, None, "rwm"),  # /dev/pts/*
    DeviceRule(True, "c", 5, 2, "rwm"),    # /dev/ptmx
]

# sysctls that are namespaced, and the namespace that must be private to set them.
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


@record
class Config:
    id: str
    bundle: str
    spec: Spec
    rootfs: str
    process: Process
    namespaces: dict[str, str]  # type -> path to join, or "" for a new one
    mounts: list[MountEntry]
    devices: list[Device]
    device_rules: list[DeviceRule]
    root_propagation: int
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0

    def new_namespace(self, kind: str) -> bool:
        return self.namespaces.get(kind) == ""

    @property
    def setup_dev(self) -> bool:
        """Fill /dev ourselves unless the user bind-mounts a /dev of their own."""
        return not any(mnt.destination == "/dev" and mnt.options.is_bind for mnt in self.mounts)


def load_config(bundle: str) -> tuple[Spec, dict[str, Any]]:
    """The bundle's config.json: typed, and as read (the state keeps the latter for later commands)."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound("JSON specification file config.json not found") from None
    except OSError as err:
        raise InvalidArgument(f"open {path}: {os.strerror(err.errno or 0).lower()}") from None
    try:
        doc = cjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"config.json: invalid JSON: {err}") from None
    return Spec.from_json(doc), doc


def _rootfs(bundle: str, spec: Spec) -> str:
    path = spec.root.path if os.path.isabs(spec.root.path) else os.path.join(bundle, spec.root.path)
    path = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError as err:
        raise NotFound(f"invalid rootfs: stat {path}: {os.strerror(err.errno or 0).lower()}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"invalid rootfs: {path} is not a directory")
    return path


def _mounts(spec: Spec) -> list[MountEntry]:
    entries = []
    for i, mount in enumerate(spec.mounts):
        dest = mount.destination
        if not dest.startswith("/"):
            dest = "/" + dest  # runc accepts relative destinations as relative to "/"
        dest = os.path.normpath(dest)
        options = m.parse_options(mount.options)
        if mount.type == "bind":
            options.flags |= sc.MS_BIND
        if options.is_bind and not mount.source:
            raise InvalidArgument(f"config.json: mounts[{i}]: a bind mount needs a source")
        if options.extensions & {"idmap", "ridmap"}:
            if not options.is_bind:
                raise InvalidArgument(f"config.json: mounts[{i}]: idmap is only supported on bind mounts")
            if not (mount.uid_mappings and mount.gid_mappings):
                raise InvalidArgument(f"config.json: mounts[{i}]: idmap needs uidMappings and gidMappings")
        entries.append(MountEntry(mount.source, dest, mount.type, options, mount.uid_mappings, mount.gid_mappings))
    return entries


def _check_sysctls(spec: Spec, namespaces: dict[str, str]) -> None:
    for key in spec.linux.sysctl:
        if key.startswith("net."):
            if "network" not in namespaces:
                raise InvalidArgument(f"sysctl {key!r} not allowed in host network namespace")
        elif key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in namespaces:
                raise InvalidArgument(f"sysctl {key!r} is not allowed in the hosts ipc namespace")
        elif key in ("kernel.hostname", "kernel.domainname"):
            if "uts" not in namespaces:
                raise InvalidArgument(f"sysctl {key!r} is not allowed in the hosts uts namespace")
        else:
            raise InvalidArgument(f"sysctl {key!r} is not in a separate kernel namespace")


def convert(container_id: str, bundle: str, spec: Spec, *, no_pivot: bool = False,
            no_new_keyring: bool = False, preserve_fds: int = 0) -> Config:
    if spec.process is None:
        raise InvalidArgument("config.json: process is required to create a container")
    if not spec.process.args:
        raise InvalidArgument("args must not be empty")
    rootfs = _rootfs(bundle, spec)
    linux = spec.linux
    namespaces = {ns.type: ns.path for ns in linux.namespaces}
    for kind, path in namespaces.items():
        if path and not os.path.exists(path):
            raise NotFound(f"namespace {kind} path {path}: no such file or directory")
    if namespaces.get("user") == "" and not (linux.uid_mappings and linux.gid_mappings):
        raise InvalidArgument("user namespaces enabled, but no uid or gid mappings found")
    if (linux.uid_mappings or linux.gid_mappings) and "user" not in namespaces:
        raise InvalidArgument("user namespaces are not enabled in the config, but uid or gid mappings are set")
    if spec.hostname and namespaces.get("uts") is None:
        raise InvalidArgument("unable to set hostname without a private UTS namespace")
    if spec.domainname and namespaces.get("uts") is None:
        raise InvalidArgument("unable to set domainname without a private UTS namespace")
    if linux.intel_rdt:
        raise NotImplementedError("linux.intelRdt: Intel RDT (resctrl) is not supported by dockyard-runtime")
    if linux.time_offsets and namespaces.get("time") != "":
        raise InvalidArgument("time offsets need a new time namespace")
    for clock in linux.time_offsets:
        if clock not in ("monotonic", "boottime"):
            raise InvalidArgument(f"time offsets: unknown clock {clock!r}")
    _check_sysctls(spec, namespaces)
    propagation = sc.MS_SLAVE | sc.MS_REC
    if linux.rootfs_propagation:
        if linux.rootfs_propagation not in m.PROPAGATION:
            raise InvalidArgument(f"rootfsPropagation: unknown propagation {linux.rootfs_propagation!r}")
        propagation = m.PROPAGATION[linux.rootfs_propagation]
    for device in linux.devices:
        if not device.path.startswith("/dev/"):
            raise InvalidArgument(f"device path {device.path!r} is not under /dev")
    by_path = {dev.path: dev for dev in DEFAULT_DEVICES}
    by_path.update({dev.path: dev for dev in linux.devices})
    spec_rules = linux.resources.devices if linux.resources else []
    rules = [*spec_rules, *ALLOWED_DEVICE_RULES,
             *(DeviceRule(True, dev.type if dev.type != "u" else "c", dev.major, dev.minor, "rwm")
               for dev in by_path.values() if dev.type != "p")]
    return Config(
        id=container_id, bundle=bundle, spec=spec, rootfs=rootfs, process=spec.process,
        namespaces=namespaces, mounts=_mounts(spec), devices=list(by_path.values()), device_rules=rules,
        root_propagation=propagation, no_pivot=no_pivot, no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
    )
