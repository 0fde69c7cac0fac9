"""Typed OCI runtime configuration (config.json, runtime-spec 1.2, the Linux parts).

`Spec.from_json` is the only place a config.json is read; everything after it works on these
records. Unknown fields are ignored, as the spec asks; present fields of the wrong type are errors
that name the field.
"""

from __future__ import annotations

from dockyard.oci import decode as d
from dockyard.oci.decode import JSONObject
from dockyard.records import field, record

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.2.0"

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


@record
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] = field(default_factory=list)
    username: str = ""

    @classmethod
    def read(cls, j: JSONObject, at: str) -> User:
        return cls(
            uid=d.integer(j, "uid", at) or 0,
            gid=d.integer(j, "gid", at) or 0,
            umask=d.integer(j, "umask", at),
            additional_gids=d.integers(j, "additionalGids", at),
            username=d.string(j, "username", at),
        )


@record
class Capabilities:
    bounding: list[str] = field(default_factory=list)
    effective: list[str] = field(default_factory=list)
    inheritable: list[str] = field(default_factory=list)
    permitted: list[str] = field(default_factory=list)
    ambient: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Capabilities:
        return cls(*(d.strings(j, k, at) for k in ("bounding", "effective", "inheritable", "permitted", "ambient")))


@record
class Rlimit:
    type: str
    hard: int
    soft: int

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Rlimit:
        return cls(d.required_string(j, "type", at), d.required_integer(j, "hard", at), d.required_integer(j, "soft", at))


@record
class ConsoleSize:
    height: int = 0
    width: int = 0

    @classmethod
    def read(cls, j: JSONObject, at: str) -> ConsoleSize:
        return cls(d.integer(j, "height", at) or 0, d.integer(j, "width", at) or 0)


@record
class Scheduler:
    policy: str
    nice: int = 0
    priority: int = 0
    flags: list[str] = field(default_factory=list)
    runtime: int = 0
    deadline: int = 0
    period: int = 0

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Scheduler:
        return cls(
            d.required_string(j, "policy", at),
            d.integer(j, "nice", at) or 0,
            d.integer(j, "priority", at) or 0,
            d.strings(j, "flags", at),
            d.integer(j, "runtime", at) or 0,
            d.integer(j, "deadline", at) or 0,
            d.integer(j, "period", at) or 0,
        )


@record
class IOPriority:
    klass: str
    priority: int = 0

    @classmethod
    def read(cls, j: JSONObject, at: str) -> IOPriority:
        return cls(d.required_string(j, "class", at), d.integer(j, "priority", at) or 0)


@record
class Process:
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    user: User = field(default_factory=User)
    terminal: bool = False
    console_size: ConsoleSize | None = None
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] = field(default_factory=list)
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    selinux_label: str = ""
    oom_score_adj: int | None = None
    scheduler: Scheduler | None = None
    io_priority: IOPriority | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Process:
        return cls(
            args=d.strings(j, "args", at),
            env=d.strings(j, "env", at),
            cwd=d.string(j, "cwd", at, "/"),
            user=d.record(j, "user", at, User.read) or User(),
            terminal=d.boolean(j, "terminal", at),
            console_size=d.record(j, "consoleSize", at, ConsoleSize.read),
            capabilities=d.record(j, "capabilities", at, Capabilities.read),
            rlimits=d.records(j, "rlimits", at, Rlimit.read),
            no_new_privileges=d.boolean(j, "noNewPrivileges", at),
            apparmor_profile=d.string(j, "apparmorProfile", at),
            selinux_label=d.string(j, "selinuxLabel", at),
            oom_score_adj=d.integer(j, "oomScoreAdj", at),
            scheduler=d.record(j, "scheduler", at, Scheduler.read),
            io_priority=d.record(j, "ioPriority", at, IOPriority.read),
        )

    @classmethod
    def from_json(cls, j: Any) -> Process:
        """A process.json as `runc exec --process` takes it."""
        return cls.read(d.obj(j, "process"), "process")


@record
class Root:
    path: str
    readonly: bool = False

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Root:
        return cls(d.required_string(j, "path", at), d.boolean(j, "readonly", at))


@record
class IDMapping:
    container_id: int
    host_id: int
    size: int

    @classmethod
    def read(cls, j: JSONObject, at: str) -> IDMapping:
        return cls(
            d.required_integer(j, "containerID", at), d.required_integer(j, "hostID", at), d.required_integer(j, "size", at)
        )


@record
class Mount:
    destination: str
    type: str = ""
    source: str = ""
    options: list[str] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Mount:
        return cls(
            destination=d.required_string(j, "destination", at),
            type=d.string(j, "type", at),
            source=d.string(j, "source", at),
            options=d.strings(j, "options", at),
            uid_mappings=d.records(j, "uidMappings", at, IDMapping.read),
            gid_mappings=d.records(j, "gidMappings", at, IDMapping.read),
        )


@record
class Hook:
    path: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: int | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Hook:
        hook = cls(d.required_string(j, "path", at), d.strings(j, "args", at), d.strings(j, "env", at), d.integer(j, "timeout", at))
        if hook.timeout is not None and hook.timeout <= 0:
            raise d.fail(f"{at}.timeout", "must be greater than zero")
        return hook


HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


@record
class Hooks:
    by_kind: dict[str, list[Hook]] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> list[Hook]:
        return self.by_kind.get(kind, [])

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Hooks:
        return cls({kind: d.records(j, kind, at, Hook.read) for kind in HOOK_KINDS if j.get(kind)})


@record
class Namespace:
    type: str
    path: str = ""

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Namespace:
        ns = cls(d.required_string(j, "type", at), d.string(j, "path", at))
        if ns.type not in NAMESPACE_TYPES:
            raise d.fail(f"{at}.type", f"unknown namespace type {ns.type!r}")
        return ns


@record
class Device:
    type: str
    path: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Device:
        dev = cls(
            d.required_string(j, "type", at),
            d.required_string(j, "path", at),
            d.integer(j, "major", at) or 0,
            d.integer(j, "minor", at) or 0,
            d.integer(j, "fileMode", at),
            d.integer(j, "uid", at),
            d.integer(j, "gid", at),
        )
        if dev.type not in ("c", "b", "u", "p"):
            raise d.fail(f"{at}.type", f"unknown device type {dev.type!r}")
        return dev


@record
class DeviceRule:
    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"

    @classmethod
    def read(cls, j: JSONObject, at: str) -> DeviceRule:
        if j.get("allow") is None:
            raise d.fail(f"{at}.allow", "is required")
        return cls(
            d.boolean(j, "allow", at),
            d.string(j, "type", at) or "a",
            d.integer(j, "major", at),
            d.integer(j, "minor", at),
            d.string(j, "access", at) or "rwm",
        )


@record
class Memory:
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Memory:
        def flag(key: str) -> bool | None:
            return None if j.get(key) is None else d.boolean(j, key, at)

        return cls(
            d.integer(j, "limit", at),
            d.integer(j, "reservation", at),
            d.integer(j, "swap", at),
            d.integer(j, "kernel", at),
            d.integer(j, "kernelTCP", at),
            d.integer(j, "swappiness", at),
            flag("disableOOMKiller"),
            flag("useHierarchy"),
            flag("checkBeforeUpdate"),
        )


@record
class CPU:
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str = ""
    mems: str = ""
    idle: int | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> CPU:
        return cls(
            d.integer(j, "shares", at),
            d.integer(j, "quota", at),
            d.integer(j, "burst", at),
            d.integer(j, "period", at),
            d.integer(j, "realtimeRuntime", at),
            d.integer(j, "realtimePeriod", at),
            d.string(j, "cpus", at),
            d.string(j, "mems", at),
            d.integer(j, "idle", at),
        )


@record
class WeightDevice:
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> WeightDevice:
        return cls(
            d.required_integer(j, "major", at),
            d.required_integer(j, "minor", at),
            d.integer(j, "weight", at),
            d.integer(j, "leafWeight", at),
        )


@record
class ThrottleDevice:
    major: int
    minor: int
    rate: int

    @classmethod
    def read(cls, j: JSONObject, at: str) -> ThrottleDevice:
        return cls(d.required_integer(j, "major", at), d.required_integer(j, "minor", at), d.required_integer(j, "rate", at))


@record
class BlockIO:
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: list[WeightDevice] = field(default_factory=list)
    throttle_read_bps: list[ThrottleDevice] = field(default_factory=list)
    throttle_write_bps: list[ThrottleDevice] = field(default_factory=list)
    throttle_read_iops: list[ThrottleDevice] = field(default_factory=list)
    throttle_write_iops: list[ThrottleDevice] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> BlockIO:
        return cls(
            d.integer(j, "weight", at),
            d.integer(j, "leafWeight", at),
            d.records(j, "weightDevice", at, WeightDevice.read),
            d.records(j, "throttleReadBpsDevice", at, ThrottleDevice.read),
            d.records(j, "throttleWriteBpsDevice", at, ThrottleDevice.read),
            d.records(j, "throttleReadIOPSDevice", at, ThrottleDevice.read),
            d.records(j, "throttleWriteIOPSDevice", at, ThrottleDevice.read),
        )


@record
class HugepageLimit:
    page_size: str
    limit: int

    @classmethod
    def read(cls, j: JSONObject, at: str) -> HugepageLimit:
        return cls(d.required_string(j, "pageSize", at), d.required_integer(j, "limit", at))


@record
class NetworkPriority:
    name: str
    priority: int

    @classmethod
    def read(cls, j: JSONObject, at: str) -> NetworkPriority:
        return cls(d.required_string(j, "name", at), d.required_integer(j, "priority", at))


@record
class Network:
    class_id: int | None = None
    priorities: list[NetworkPriority] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Network:
        return cls(d.integer(j, "classID", at), d.records(j, "priorities", at, NetworkPriority.read))


@record
class Resources:
    devices: list[DeviceRule] = field(default_factory=list)
    memory: Memory | None = None
    cpu: CPU | None = None
    pids_limit: int | None = None
    block_io: BlockIO | None = None
    hugepage_limits: list[HugepageLimit] = field(default_factory=list)
    network: Network | None = None
    unified: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Resources:
        pids = d.opt_obj(j, "pids", at)
        return cls(
            devices=d.records(j, "devices", at, DeviceRule.read),
            memory=d.record(j, "memory", at, Memory.read),
            cpu=d.record(j, "cpu", at, CPU.read),
            pids_limit=None if pids is None else d.integer(pids, "limit", f"{at}.pids"),
            block_io=d.record(j, "blockIO", at, BlockIO.read),
            hugepage_limits=d.records(j, "hugepageLimits", at, HugepageLimit.read),
            network=d.record(j, "network", at, Network.read),
            unified=d.string_map(j, "unified", at),
        )

    @classmethod
    def from_json(cls, j: Any) -> Resources:
        """The resources document that `update --resources` reads."""
        return cls.read(d.obj(j, "resources"), "resources")


@record
class SeccompArg:
    index: int
    value: int
    op: str
    value_two: int = 0

    @classmethod
    def read(cls, j: JSONObject, at: str) -> SeccompArg:
        return cls(
            d.required_integer(j, "index", at),
            d.integer(j, "value", at) or 0,
            d.required_string(j, "op", at),
            d.integer(j, "valueTwo", at) or 0,
        )


@record
class SeccompSyscall:
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[SeccompArg] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> SeccompSyscall:
        return cls(
            d.strings(j, "names", at),
            d.required_string(j, "action", at),
            d.integer(j, "errnoRet", at),
            d.records(j, "args", at, SeccompArg.read),
        )


@record
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] | None = None  # None: not given, so the runtime's default flags apply
    listener_path: str = ""
    listener_metadata: str = ""
    syscalls: list[SeccompSyscall] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Seccomp:
        return cls(
            d.required_string(j, "defaultAction", at),
            d.integer(j, "defaultErrnoRet", at),
            d.strings(j, "architectures", at),
            None if j.get("flags") is None else d.strings(j, "flags", at),
            d.string(j, "listenerPath", at),
            d.string(j, "listenerMetadata", at),
            d.records(j, "syscalls", at, SeccompSyscall.read),
        )


@record
class TimeOffset:
    secs: int = 0
    nanosecs: int = 0

    @classmethod
    def read(cls, j: JSONObject, at: str) -> TimeOffset:
        return cls(d.integer(j, "secs", at) or 0, d.integer(j, "nanosecs", at) or 0)


@record
class Personality:
    domain: str
    flags: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Personality:
        return cls(d.required_string(j, "domain", at), d.strings(j, "flags", at))


@record
class Linux:
    namespaces: list[Namespace] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)
    time_offsets: dict[str, TimeOffset] = field(default_factory=dict)
    devices: list[Device] = field(default_factory=list)
    cgroups_path: str = ""
    resources: Resources | None = None
    rootfs_propagation: str = ""
    seccomp: Seccomp | None = None
    sysctl: dict[str, str] = field(default_factory=dict)
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    mount_label: str = ""
    personality: Personality | None = None
    intel_rdt: JSONObject | None = None

    def namespace(self, kind: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == kind), None)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Linux:
        offsets = d.opt_obj(j, "timeOffsets", at) or {}
        linux = cls(
            namespaces=d.records(j, "namespaces", at, Namespace.read),
            uid_mappings=d.records(j, "uidMappings", at, IDMapping.read),
            gid_mappings=d.records(j, "gidMappings", at, IDMapping.read),
            time_offsets={k: TimeOffset.read(d.obj(v, f"{at}.timeOffsets.{k}"), f"{at}.timeOffsets.{k}") for k, v in offsets.items()},
            devices=d.records(j, "devices", at, Device.read),
            cgroups_path=d.string(j, "cgroupsPath", at),
            resources=d.record(j, "resources", at, Resources.read),
            rootfs_propagation=d.string(j, "rootfsPropagation", at),
            seccomp=d.record(j, "seccomp", at, Seccomp.read),
            sysctl=d.string_map(j, "sysctl", at),
            masked_paths=d.strings(j, "maskedPaths", at),
            readonly_paths=d.strings(j, "readonlyPaths", at),
            mount_label=d.string(j, "mountLabel", at),
            personality=d.record(j, "personality", at, Personality.read),
            intel_rdt=d.opt_obj(j, "intelRdt", at),
        )
        seen: set[str] = set()
        for ns in linux.namespaces:
            if ns.type in seen:
                raise d.fail(f"{at}.namespaces", f"duplicate namespace type {ns.type!r}")
            seen.add(ns.type)
        return linux


@record
class Spec:
    oci_version: str
    root: Root
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: list[Mount] = field(default_factory=list)
    hooks: Hooks = field(default_factory=Hooks)
    annotations: dict[str, str] = field(default_factory=dict)
    linux: Linux = field(default_factory=Linux)

    @classmethod
    def from_json(cls, j: Any) -> Spec:
        top = d.obj(j, "config.json")
        at = "config.json"
        root = d.record(top, "root", at, Root.read)
        if root is None:
            raise d.fail(f"{at}.root", "is required")
        return cls(
            oci_version=d.required_string(top, "ociVersion", at),
            root=root,
            process=d.record(top, "process", at, Process.read),
            hostname=d.string(top, "hostname", at),
            domainname=d.string(top, "domainname", at),
            mounts=d.records(top, "mounts", at, Mount.read),
            hooks=d.record(top, "hooks", at, Hooks.read) or Hooks(),
            annotations=d.string_map(top, "annotations", at),
            linux=d.record(top, "linux", at, Linux.read) or Linux(),
        )
