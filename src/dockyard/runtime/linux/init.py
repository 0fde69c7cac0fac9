"""The child side of `create` and `exec`: from a forked copy of the runtime to the user's process.

Two stages, as runc's nsexec + init: C1 enters or makes the namespaces (see namespaces.py for why
a second fork is needed), C2 is the container's process. For `create` C2 builds the root
filesystem, pivots into it, applies the process settings, tells the parent it is ready and waits
on exec.fifo for `start`; for `exec` C2 applies the process settings and calls execve at once.

Order of the process settings, as runc's standard_init_linux.go / setns_init_linux.go:
personality, LSM labels, oom_score_adj, rlimits, scheduler, I/O priority, no_new_privs,
seccomp (here when no_new_privs is off: loading a filter then needs CAP_SYS_ADMIN), bounding set,
keep-caps, user and groups, capabilities and ambient, cwd, then (for create) the exec.fifo,
seccomp (when no_new_privs is on, as late as possible), execve.

Children never return into the runtime's code: every path ends in execve or os._exit.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import DockyardError, SystemCallError
from dockyard.oci.runtime_spec import IDMapping, Process, TimeOffset
from dockyard.records import field, record
from dockyard.runtime import log, signals
from dockyard.runtime.cgroups.base import Hierarchy
from dockyard.runtime.linux import capabilities, namespaces, process_attrs, rlimits, rootfs
from dockyard.runtime.linux import syscalls as sc
from dockyard.runtime.linux.paths import mkdir_all
from dockyard.runtime.specconv import Config
from dockyard.runtime.sync import Channel

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    import socket
    from typing import Any, NoReturn

CLOSE_RANGE_CLOEXEC = 4
PR_SET_DUMPABLE = 4


@record
class PreparedProcess:
    """A process spec with everything that can fail parsed before fork.

    Preparing also imports every module the child will need: after pivot_root the runtime's own
    files are out of reach, so the child can only use what is already in sys.modules.
    """

    process: Process
    caps: capabilities.CapabilitySets | None
    limits: list[rlimits.Limit]
    labels: Any = None  # lsm.ExecLabels, or None when no label was asked for
    seccomp: Any = None  # a compiled seccomp filter, or None
    seccomp_listener: str = ""
    personality: int | None = None
    scheduler: process_attrs.SchedulerAttrs | None = None
    io_priority: int | None = None


def prepare_process(process: Process, seccomp_spec: Any = None, personality: Any = None,
                    seccomp_cache: str | None = None) -> PreparedProcess:
    prepared = PreparedProcess(
        process=process,
        caps=capabilities.CapabilitySets.from_spec(process.capabilities) if process.capabilities else None,
        limits=rlimits.parse(process.rlimits),
        personality=process_attrs.parse_personality(personality) if personality else None,
        scheduler=process_attrs.parse_scheduler(process.scheduler) if process.scheduler else None,
        io_priority=process_attrs.parse_io_priority(process.io_priority) if process.io_priority else None,
    )
    if process.oom_score_adj is not None:
        process_attrs.check_oom_score_adj(process.oom_score_adj)
    if process.terminal:
        from dockyard.runtime.linux import terminal  # noqa: F401  (the child needs it past pivot_root)
    if process.apparmor_profile or process.selinux_label:
        from dockyard.runtime.linux import lsm

        prepared.labels = lsm.prepare(process.apparmor_profile, process.selinux_label)
    if seccomp_spec is not None:
        from dockyard.runtime.linux import seccomp  # libseccomp is loaded only for containers that use it

        prepared.seccomp = seccomp.compile(seccomp_spec, cache_dir=seccomp_cache)
        prepared.seccomp_listener = seccomp_spec.listener_path
    return prepared


@record
class Launch:
    """What the parent hands its forked children (through fork's copy of memory)."""

    prepared: PreparedProcess
    ns_fds: dict[str, int]  # namespaces to join
    new_namespaces: list[str]  # namespaces to make (user is made separately, first)
    in_userns: bool
    config: Config | None = None  # create only
    hierarchies: list[Hierarchy] = field(default_factory=list)
    console: socket.socket | None = None
    fifo_fd: int = -1
    preserve_fds: int = 0
    uid_mappings: list[IDMapping] = field(default_factory=list)
    time_offsets: dict[str, TimeOffset] = field(default_factory=dict)
    host_pid_namespace: bool = False


def bootstrap(launch: Launch, chan: Channel) -> NoReturn:
    """C1: enter the namespaces, fork the container's process, report its pid, exit."""
    try:
        chan.expect("go")
        if "user" in launch.ns_fds:
            namespaces.join(launch.ns_fds, ["user"])
        elif "user" in launch.new_namespaces:
            namespaces.unshare(["user"])
            chan.send("usermap")
            chan.expect("usermap-done")
        if launch.in_userns and namespaces.maps_root(launch.uid_mappings):
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        namespaces.join(launch.ns_fds, [k for k in namespaces.JOIN_ORDER if k != "user"])
        namespaces.unshare([k for k in launch.new_namespaces if k != "user"])
        if launch.time_offsets:
            namespaces.write_time_offsets(launch.time_offsets)
        pid = os.fork()
        if pid == 0:
            _run_child(launch, chan)
        chan.send("pid", pid=pid)
    except BaseException as err:
        _report(chan, err)
        os._exit(1)
    os._exit(0)


def _run_child(launch: Launch, chan: Channel) -> NoReturn:
    try:
        if launch.config is not None:
            _standard_init(launch, chan)
        else:
            _exec_init(launch, chan)
    except BaseException as err:
        _report(chan, err)
        os._exit(1)


def _report(chan: Channel, err: BaseException) -> None:
    message = str(err) if isinstance(err, DockyardError | OSError) else f"{type(err).__name__}: {err}"
    try:
        chan.send("error", message=message)
    except OSError:
        log.error(message)


def _standard_init(launch: Launch, chan: Channel) -> NoReturn:
    config = launch.config
    assert config is not None
    init = chan.expect("init")
    os.setsid()
    if not config.no_new_keyring:
        _new_session_keyring(config.id)
    os.umask(0)
    if config.new_namespace("network"):
        from dockyard.runtime.linux.network import loopback_up

        loopback_up()
    rootfs.prepare_root(config)
    rootfs.mount_all(config, launch.hierarchies, in_userns=launch.in_userns)
    if config.setup_dev:
        rootfs.create_devices(config, config.devices, in_userns=launch.in_userns)
        rootfs.setup_dev_symlinks(config.rootfs)
    hooks = config.spec.hooks
    if hooks["createContainer"] or hooks["startContainer"]:
        # Imported now, while the runtime's files are reachable: startContainer runs after pivot_root.
        import subprocess  # noqa: F401  (used by run_hooks)

        from dockyard.runtime.hooks import run_hooks
    if hooks["prestart"] or hooks["createRuntime"] or hooks["createContainer"]:
        chan.send("hooks")
        chan.expect("hooks-done")
        if hooks["createContainer"]:
            run_hooks("createContainer", hooks["createContainer"], init["state"])
    rootfs.pivot(config.rootfs, config.no_pivot)
    if launch.prepared.process.terminal:
        _setup_console(launch, mount_console=True)
    if config.spec.hostname:
        sc.sethostname(config.spec.hostname)
    if config.spec.domainname:
        sc.setdomainname(config.spec.domainname)
    for key, value in config.spec.linux.sysctl.items():
        _write_sysctl(key, value)
    for path in config.spec.linux.readonly_paths:
        rootfs.readonly_path(path)
    for path in config.spec.linux.masked_paths:
        rootfs.mask_path(path)
    dev_mount = next((mnt for mnt in config.mounts if mnt.destination == "/dev"), None)
    if dev_mount is not None and dev_mount.options.flags & sc.MS_RDONLY:
        rootfs.remount_readonly("/dev")
    if config.spec.root.readonly:
        rootfs.remount_readonly("/")
    rootfs.apply_root_propagation(config)
    process = launch.prepared.process
    mkdir_all(process.cwd)
    env = _apply_process(launch, chan)
    path = _lookup(process.args[0], env)
    chan.send("ready")
    chan.close()
    # Wait for `start`: opening the fifo for writing blocks until `start` opens it for reading.
    try:
        fd = os.open(f"/proc/self/fd/{launch.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        raise SystemCallError.from_oserror("open exec fifo", err) from None
    os.write(fd, b"0")
    if hooks["startContainer"]:
        state = dict(init["state"], status="created")
        run_hooks("startContainer", hooks["startContainer"], state)
    _exec(launch, path, env)


def _exec_init(launch: Launch, chan: Channel) -> NoReturn:
    os.setsid()
    process = launch.prepared.process
    if process.terminal:
        _setup_console(launch, mount_console=False)
    env = _apply_process(launch, chan)
    path = _lookup(process.args[0], env)
    chan.send("ready")
    try:
        _exec(launch, path, env)
    except OSError as err:
        raise SystemCallError.from_oserror(f'exec: "{process.args[0]}"', err) from None


def _new_session_keyring(container_id: str) -> None:
    # A keyring of its own, so the container does not share the runtime's session keys (runc's
    # default; `--no-new-keyring` keeps the caller's). Kernels without keyrings are fine.
    try:
        sc.join_session_keyring(f"_ses.{container_id}")
    except SystemCallError as err:
        if err.errno not in (errno.ENOSYS, errno.EACCES):
            raise


def _setup_console(launch: Launch, *, mount_console: bool) -> None:
    from dockyard.runtime.linux import terminal  # imported before fork by prepare_process

    assert launch.console is not None
    master, slave, slave_path = terminal.open_pty()
    size = launch.prepared.process.console_size
    if size is not None:
        terminal.set_size(master, size.height, size.width)
    terminal.send_master(launch.console, master)
    launch.console.close()
    os.close(master)
    if mount_console:
        if not os.path.lexists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        sc.mount(slave_path, "/dev/console", "bind", sc.MS_BIND)
    terminal.become_controlling(slave)


def _write_sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as err:
        raise SystemCallError.from_oserror(f"write sysctl {key}={value}", err) from None


def _apply_process(launch: Launch, chan: Channel) -> dict[str, str]:
    """Everything about the process but execve; returns its environment."""
    prepared = launch.prepared
    process = prepared.process
    if prepared.personality is not None:
        process_attrs.set_personality(prepared.personality)
    if prepared.labels is not None:
        from dockyard.runtime.linux import lsm  # imported before fork by prepare_process

        lsm.apply(prepared.labels)
    if process.oom_score_adj is not None:
        process_attrs.set_oom_score_adj(process.oom_score_adj)
    rlimits.apply(prepared.limits)
    if prepared.scheduler is not None:
        process_attrs.set_scheduler(prepared.scheduler)
    if prepared.io_priority is not None:
        process_attrs.set_io_priority(prepared.io_priority)
    if process.no_new_privileges:
        process_attrs.set_no_new_privs()
    if prepared.seccomp is not None and (not process.no_new_privileges or prepared.seccomp_listener):
        # Without no_new_privs loading needs CAP_SYS_ADMIN, so before the caps go. With a notify
        # listener the fd must reach the parent, which is only listening before "ready".
        _load_seccomp(prepared, chan)
        prepared.seccomp = None
    if prepared.caps is not None:
        capabilities.drop_bounding(prepared.caps.bounding)
        capabilities.keep_across_setuid()
    _switch_user(process, launch.in_userns)
    if prepared.caps is not None:
        capabilities.apply(prepared.caps)
    try:
        os.chdir(process.cwd)
    except OSError as err:
        raise SystemCallError(f'chdir to cwd ("{process.cwd}") set in config.json failed', err.errno or 0) from None
    os.umask(process.user.umask if process.user.umask is not None else 0o022)
    env: dict[str, str] = {}
    for entry in process.env:
        key, _, value = entry.partition("=")
        env[key] = value
    if "HOME" not in env:
        env["HOME"] = _home_of(process.user.uid)
    return env


def _switch_user(process: Process, in_userns: bool) -> None:
    user = process.user
    try:
        if not in_userns or _setgroups_allowed():
            os.setgroups(user.additional_gids)
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as err:
        raise SystemCallError(f"unable to switch to user {user.uid}:{user.gid}", err.errno or 0) from None
    # Changing ids makes us non-dumpable, which hands /proc/self to host root: the exec.fifo is
    # reopened through /proc/self/fd, so take it back (execve sets dumpability anew anyway).
    sc.prctl(PR_SET_DUMPABLE, 1)


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "allow"
    except OSError:
        return True


def _home_of(uid: int) -> str:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _lookup(name: str, env: dict[str, str]) -> str:
    """Find the executable as Go's exec.LookPath does, with runc's error wording."""
    def check(path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError as err:
            return f"stat {path}: {os.strerror(err.errno or 0).lower()}"
        if stat.S_ISDIR(st.st_mode):
            return "is a directory"
        if not st.st_mode & 0o111:
            return "permission denied"
        return None

    if "/" in name:
        problem = check(name)
        if problem is not None:
            raise DockyardError(f'exec: "{name}": {problem}')
        return name
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        if check(candidate) is None:
            return candidate
    raise DockyardError(f'exec: "{name}": executable file not found in $PATH')


def _load_seccomp(prepared: PreparedProcess, chan: Channel) -> None:
    from dockyard.runtime.linux import seccomp

    listener = seccomp.load(prepared.seccomp)
    if listener is not None:
        # The agent is reached by the parent, which knows the state; we only hand over the fd.
        chan.send("seccomp", fd=listener)
        os.close(listener)
        chan.expect("seccomp-done")


def _exec(launch: Launch, path: str, env: dict[str, str]) -> NoReturn:
    prepared = launch.prepared
    if prepared.seccomp is not None:
        from dockyard.runtime.linux import seccomp

        seccomp.load(prepared.seccomp)
    signals.reset_for_exec()
    sc.raw_syscall("close_range", 3 + launch.preserve_fds, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
    os.execve(path, prepared.process.args, env)

