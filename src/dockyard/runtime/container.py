"""The runtime as a library: create, start, run, exec, kill, delete, state and the rest.

`Runtime(root)` owns the state directories under `root`. The CLI (cli.py) only parses argv and
prints; the engine can call the same methods from a warm process.

Failure leaves nothing behind: a create that fails at any step kills what it forked, removes the
cgroup it made and the state directory before the error reaches the caller.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.oci.runtime_spec import Process, Resources, Spec
from dockyard.records import record, replace
from dockyard.runtime import cgroups, cjson, log, signals
from dockyard.runtime.cgroups import warmup
from dockyard.runtime.linux import init as init_mod
from dockyard.runtime.linux import namespaces
from dockyard.runtime.linux import syscalls as sc
from dockyard.runtime.specconv import Config, convert, load_config
from dockyard.runtime.state import (
    State,
    StateDir,
    Status,
    check_transition,
    process_start_time,
    timestamp,
    write_atomic,
)
from dockyard.runtime.sync import Channel, ChildFailed

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from dockyard.oci.runtime_spec import Hook
    from dockyard.runtime.cgroups.base import CgroupManager
    from dockyard.runtime.state import StatusName

DEFAULT_ROOT = "/run/dockyard-runtime"


class ContainerFailed(DockyardError):
    """The container's process could not be started; the message is what the user should see."""


@record
class CreateOptions:
    console_socket: str = ""
    pid_file: str = ""
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    systemd_cgroup: bool = False


@record
class ExecOptions:
    console_socket: str = ""
    pid_file: str = ""
    detach: bool = False
    preserve_fds: int = 0


class _Undo:
    """What a failed create or exec must take back, in reverse order of making."""

    def __init__(self, statedir: StateDir | None) -> None:
        self.statedir = statedir
        self.manager: CgroupManager | None = None
        self.pid = 0

    def run(self) -> None:
        if self.pid:
            _kill_and_wait(self.pid)
        if self.manager is not None:
            try:
                self.manager.destroy()
            except DockyardError as err:
                log.warning(f"cleanup: {err}")
        if self.statedir is not None:
            self.statedir.remove()


class Runtime:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root

    def _dir(self, container_id: str) -> StateDir:
        return StateDir(self.root, container_id)

    def _seccomp_cache(self, spec: Spec) -> str | None:
        """Where compiled filters are kept (Docker's profile takes libseccomp ~20 ms to compile)."""
        if spec.linux.seccomp is None:
            return None
        path = os.path.join(self.root, ".seccomp-cache")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    # -- create --------------------------------------------------------------------------------

    def create(self, container_id: str, bundle: str, opts: CreateOptions, *, console: Any = None) -> State:
        """Make the container and leave its process waiting for `start`.

        `console` is an already connected console socket (used by `run` to proxy a terminal itself).
        """
        bundle = os.path.abspath(bundle)
        spec, raw = load_config(bundle)
        return self._create(container_id, bundle, spec, raw, opts, console)

    def _create(self, container_id: str, bundle: str, spec: Spec, raw: dict[str, Any], opts: CreateOptions,
                console: Any) -> State:
        statedir = self._dir(container_id)
        if statedir.exists():
            raise Conflict(f"container with id exists: {container_id}")
        warmup.start()
        try:
            return self._create_warm(container_id, bundle, spec, raw, opts, console, statedir)
        finally:
            warmup.wait_all()  # never leave a thread behind, whatever happened

    def _create_warm(self, container_id: str, bundle: str, spec: Spec, raw: dict[str, Any], opts: CreateOptions,
                     console: Any, statedir: StateDir) -> State:
        config = convert(container_id, bundle, spec, no_pivot=opts.no_pivot,
                         no_new_keyring=opts.no_new_keyring, preserve_fds=opts.preserve_fds)
        if "mount" not in config.namespaces:
            raise InvalidArgument('the container needs a mount namespace: linux.namespaces has no "mount"')
        if config.process.terminal and not opts.console_socket and console is None:
            raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
        if not config.process.terminal and opts.console_socket:
            raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")
        prepared = init_mod.prepare_process(config.process, spec.linux.seccomp, spec.linux.personality,
                                            self._seccomp_cache(spec))
        statedir.make()
        undo = _Undo(statedir)
        try:
            manager = self._make_cgroup(spec, config.id, config.device_rules, opts.systemd_cgroup)
            undo.manager = manager
            os.mkfifo(statedir.fifo, 0o622)
            os.chmod(statedir.fifo, 0o622)  # past the umask: a container user other than root must write it
            fifo_fd = os.open(statedir.fifo, os.O_PATH | os.O_CLOEXEC)
            ns_fds = namespaces.open_namespaces({k: p for k, p in config.namespaces.items() if p})
            try:
                _prepare_idmapped_mounts(config)
                if config.process.terminal and console is None:
                    from dockyard.runtime.linux.terminal import connect_console_socket

                    console = connect_console_socket(opts.console_socket)
                launch = init_mod.Launch(
                    prepared=prepared, ns_fds=ns_fds,
                    new_namespaces=[k for k, p in config.namespaces.items() if not p],
                    in_userns="user" in config.namespaces, config=config, hierarchies=manager.hierarchies(),
                    console=console, fifo_fd=fifo_fd, preserve_fds=config.preserve_fds,
                    uid_mappings=spec.linux.uid_mappings, time_offsets=spec.linux.time_offsets,
                )
                state = self._launch_init(launch, spec, raw, manager, undo)
            finally:
                os.close(fifo_fd)
                for fd in [*ns_fds.values(), *(mnt.detached_fd for mnt in config.mounts if mnt.detached_fd >= 0)]:
                    os.close(fd)
            statedir.save(state)
            if opts.pid_file:
                write_atomic(os.path.abspath(opts.pid_file), str(state.pid).encode())
        except BaseException:
            undo.run()
            raise
        return state

    def _make_cgroup(self, spec: Spec, container_id: str, device_rules: Any, systemd: bool) -> CgroupManager:
        path = spec.linux.cgroups_path
        if systemd:
            path = _systemd_to_path(path, container_id)
        manager = cgroups.new_manager(path, container_id)
        # create() checks every value first and takes back the directories it made if a write fails.
        manager.create(replace(spec.linux.resources or Resources(), devices=device_rules))
        return manager

    def _launch_init(self, launch: init_mod.Launch, spec: Spec, raw: dict[str, Any], manager: CgroupManager,
                     undo: _Undo) -> State:
        assert launch.config is not None
        config = launch.config
        warmup.wait_all()
        parent, c1 = self._fork(launch)
        try:
            pid = self._receive_pid(parent, c1, manager, spec)
            undo.pid = pid
            state = State(
                id=config.id, bundle=config.bundle, rootfs=config.rootfs, pid=pid,
                pid_start=process_start_time(pid) or 0, created=timestamp(), config=raw,
                cgroup_paths=manager.paths(), namespace_paths=namespaces.proc_paths(pid, config.namespaces),
                own_pid_namespace=config.new_namespace("pid"), owner=_owner(),
            )
            creating = state.oci_state(Status.CREATING)
            parent.send("init", state=creating)

            def hooks() -> None:
                from dockyard.runtime.hooks import run_hooks

                run_hooks("prestart", spec.hooks["prestart"], creating)
                run_hooks("createRuntime", spec.hooks["createRuntime"], creating)

            _serve_until_ready(parent, spec, creating, hooks)
            return state
        except ChildFailed as err:
            raise ContainerFailed(f"unable to start container process: {err}") from None
        finally:
            parent.close()

    @staticmethod
    def _fork(launch: init_mod.Launch) -> tuple[Channel, int]:
        parent, child = Channel.pair()
        c1 = os.fork()
        if c1 == 0:
            parent.close()
            init_mod.bootstrap(launch, child)
        child.close()
        return parent, c1

    @staticmethod
    def _receive_pid(parent: Channel, c1: int, manager: CgroupManager, spec: Spec | None) -> int:
        """Place C1 in the cgroup, map its user namespace if it made one, and get the init's pid."""
        try:
            manager.add(c1)
            parent.send("go")
            msg = parent.expect_one_of("usermap", "pid")
            if msg["type"] == "usermap":
                assert spec is not None
                namespaces.write_id_maps(c1, spec.linux.uid_mappings, spec.linux.gid_mappings)
                parent.send("usermap-done")
                msg = parent.expect_one_of("pid")
            return int(msg["pid"])
        finally:
            _reap(c1)

    # -- start / run ---------------------------------------------------------------------------

    def start(self, container_id: str) -> None:
        statedir = self._dir(container_id)
        state = statedir.load()
        check_transition("start", self.status(state), container_id)
        fd = os.open(statedir.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            _await_fifo(fd, state)
        finally:
            os.close(fd)
        os.unlink(statedir.fifo)
        hooks = _spec_hooks(state, "poststart")
        if hooks:
            from dockyard.runtime.hooks import run_hooks_warning

            run_hooks_warning("poststart", hooks, state.oci_state(Status.RUNNING))

    def run(self, container_id: str, bundle: str, opts: CreateOptions, *, detach: bool = False,
            keep: bool = False) -> int:
        """create + start; in the foreground, wait for the container and return its exit code."""
        if detach:
            self.create(container_id, bundle, opts)
            try:
                self.start(container_id)
            except BaseException:
                self.delete(container_id, force=True)
                raise
            return 0
        # Become the init's parent once C1 exits, so we can wait for it.
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        bundle = os.path.abspath(bundle)
        spec, raw = load_config(bundle)
        local_tty = console = None
        if not opts.console_socket and spec.process is not None and spec.process.terminal:
            local_tty, console = _socketpair()
        try:
            state = self._create(container_id, bundle, spec, raw, opts, console)
        finally:
            if console is not None:
                console.close()
        try:
            self.start(container_id)
            status = _wait_in_foreground(state.pid, local_tty)
        except BaseException:
            _kill_and_wait(state.pid)
            raise
        finally:
            if not keep:
                self.delete(container_id, force=True)
        return status

    # -- exec ----------------------------------------------------------------------------------

    def exec(self, container_id: str, process: Process, opts: ExecOptions, *, console: Any = None) -> int:
        """Start `process` inside the running container; without detach, wait and return its status."""
        statedir = self._dir(container_id)
        state = statedir.load()
        check_transition("exec", self.status(state), container_id)
        warmup.start()
        try:
            return self._exec_warm(state, process, opts, console)
        finally:
            warmup.wait_all()

    def _exec_warm(self, state: State, process: Process, opts: ExecOptions, console: Any) -> int:
        local_tty = None
        if process.terminal and not opts.console_socket and console is None:
            if opts.detach:
                raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
            local_tty, console = _socketpair()
        if not process.args:
            raise InvalidArgument("args must not be empty")
        spec = Spec.from_json(state.config)
        prepared = init_mod.prepare_process(process, spec.linux.seccomp, spec.linux.personality,
                                            self._seccomp_cache(spec))
        kinds = [ns.type for ns in spec.linux.namespaces]
        ns_fds = namespaces.open_namespaces(namespaces.proc_paths(state.pid, kinds))
        manager = cgroups.load_manager(state.cgroup_paths)
        if not opts.detach:
            sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        undo = _Undo(None)
        try:
            if process.terminal and console is None:
                from dockyard.runtime.linux.terminal import connect_console_socket

                console = connect_console_socket(opts.console_socket)
            launch = init_mod.Launch(prepared=prepared, ns_fds=ns_fds, new_namespaces=[], in_userns="user" in kinds,
                                     console=console, preserve_fds=opts.preserve_fds)
            warmup.wait_all()
            parent, c1 = self._fork(launch)
            try:
                pid = self._receive_pid(parent, c1, manager, None)
                undo.pid = pid
                _serve_until_ready(parent, spec, state.oci_state(Status.RUNNING), None)
                # The socket is close-on-exec in the child: EOF now means execve worked.
                msg = parent.recv()
                if msg is not None:
                    raise ChildFailed(str(msg.get("message", msg)))
            except ChildFailed as err:
                raise ContainerFailed(f"unable to start container process: {err}") from None
            finally:
                parent.close()
            if opts.pid_file:
                write_atomic(os.path.abspath(opts.pid_file), str(pid).encode())
        except BaseException:
            undo.run()
            raise
        finally:
            for fd in ns_fds.values():
                os.close(fd)
            if local_tty is not None and console is not None:
                console.close()
        if opts.detach:
            return 0
        return _wait_in_foreground(pid, local_tty)

    # -- state, kill, delete ------------------------------------------------------------------

    def load(self, container_id: str) -> State:
        return self._dir(container_id).load()

    def status(self, state: State) -> StatusName:
        start = process_start_time(state.pid)
        if start is None or (state.pid_start and start != state.pid_start):
            return Status.STOPPED
        if os.path.exists(os.path.join(self.root, state.id, "exec.fifo")):
            return Status.CREATED
        if state.cgroup_paths and cgroups.load_manager(state.cgroup_paths).frozen():
            return Status.PAUSED
        return Status.RUNNING

    def state(self, container_id: str) -> dict[str, Any]:
        state = self.load(container_id)
        return state.oci_state(self.status(state))

    def kill(self, container_id: str, sig: int, *, all_processes: bool = False) -> None:
        state = self.load(container_id)
        status = self.status(state)
        if all_processes:
            if status == Status.STOPPED and not state.cgroup_paths:
                raise Conflict("container not running")
            cgroups.load_manager(state.cgroup_paths).kill_all(sig)
            return
        check_transition("kill", status, container_id)
        _signal(state.pid, sig)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        statedir = self._dir(container_id)
        if not statedir.exists():
            if force:
                return
            raise NotFound("container does not exist")
        try:
            state = statedir.load()
        except NotFound:
            # A create that died before writing its state: nothing runs, only the directory is left.
            if force:
                statedir.remove()
                return
            raise
        status = self.status(state)
        if status in (Status.RUNNING, Status.PAUSED) and not force:
            check_transition("delete", status, container_id)
        manager = cgroups.load_manager(state.cgroup_paths) if state.cgroup_paths else None
        if status != Status.STOPPED or (manager is not None and manager.pids()):
            self._kill_all(state, manager, status)
        if manager is not None:
            manager.destroy()
        hooks = _spec_hooks(state, "poststop")
        if hooks:
            from dockyard.runtime.hooks import run_hooks_warning

            run_hooks_warning("poststop", hooks, state.oci_state(Status.STOPPED))
        statedir.remove()

    def _kill_all(self, state: State, manager: CgroupManager | None, status: StatusName) -> None:
        if state.own_pid_namespace and status != Status.STOPPED:
            _signal(state.pid, signals.SIGKILL)  # PID 1 of the namespace takes everything with it
        if manager is not None:
            for pid in manager.pids():
                _signal(pid, signals.SIGKILL)
            if status == Status.PAUSED:
                manager.thaw()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = process_start_time(state.pid) == state.pid_start and state.pid_start != 0
            if not alive and (manager is None or not manager.pids()):
                return
            _reap_any()
            time.sleep(0.005)
        raise Conflict(f"container {state.id}: processes did not exit after SIGKILL")

    # -- the rest ------------------------------------------------------------------------------

    def containers(self) -> list[dict[str, Any]]:
        try:
            names = sorted(n for n in os.listdir(self.root) if not n.startswith("."))
        except FileNotFoundError:
            return []
        result = []
        for name in names:
            try:
                state = self.load(name)
            except (NotFound, InvalidArgument):
                continue
            result.append(state.oci_state(self.status(state)))
        return result

    def pids(self, container_id: str) -> list[int]:
        state = self.load(container_id)
        if self.status(state) == Status.STOPPED and not state.cgroup_paths:
            return []
        return sorted(cgroups.load_manager(state.cgroup_paths).pids())

    def pause(self, container_id: str) -> None:
        state = self.load(container_id)
        check_transition("pause", self.status(state), container_id)
        cgroups.load_manager(state.cgroup_paths).freeze()

    def resume(self, container_id: str) -> None:
        state = self.load(container_id)
        check_transition("resume", self.status(state), container_id)
        cgroups.load_manager(state.cgroup_paths).thaw()

    def update(self, container_id: str, resources: Resources) -> None:
        statedir = self._dir(container_id)
        state = statedir.load()
        check_transition("update", self.status(state), container_id)
        cgroups.load_manager(state.cgroup_paths).set(resources)
        # Keep the saved config in step, so a later `state`/`events` reflects the new limits.
        merged = _merge_resources(state.config.get("linux", {}).get("resources") or {}, resources)
        state.config.setdefault("linux", {})["resources"] = merged
        statedir.save(state)

    def stats(self, container_id: str) -> dict[str, Any]:
        state = self.load(container_id)
        if self.status(state) == Status.STOPPED:
            raise Conflict("container not running")
        manager = cgroups.load_manager(state.cgroup_paths)
        return {"type": "stats", "id": container_id, "data": manager.stats()}


def _serve_until_ready(parent: Channel, spec: Spec, state: dict[str, Any], hooks: Callable[[], None] | None) -> None:
    """Answer the child's requests (hooks to run, a seccomp listener to pass on) until "ready"."""
    while True:
        msg = parent.expect_one_of("hooks", "seccomp", "ready")
        if msg["type"] == "ready":
            return
        if msg["type"] == "hooks" and hooks is not None:
            hooks()
            parent.send("hooks-done")
        elif msg["type"] == "seccomp":
            from dockyard.runtime.linux import seccomp

            fd = int(msg["fd"])
            try:
                profile = spec.linux.seccomp
                if profile is not None and profile.listener_path:
                    seccomp.send_listener(profile.listener_path, fd, cjson.dumps(state), profile.listener_metadata)
            finally:
                os.close(fd)
            parent.send("seccomp-done")
        else:
            raise ChildFailed(f"unexpected message {msg['type']!r}")


def _spec_hooks(state: State, kind: str) -> list[Hook]:
    """The container's `kind` hooks; the whole spec is parsed again only when there are some."""
    if not (state.config.get("hooks") or {}).get(kind):
        return []
    return Spec.from_json(state.config).hooks[kind]


def _merge_resources(saved: dict[str, Any], update: Resources) -> dict[str, Any]:
    merged = dict(saved)
    if update.memory is not None:
        merged["memory"] = {**merged.get("memory", {}), **_drop_none({
            "limit": update.memory.limit, "reservation": update.memory.reservation, "swap": update.memory.swap,
            "kernel": update.memory.kernel, "kernelTCP": update.memory.kernel_tcp,
            "swappiness": update.memory.swappiness})}
    if update.cpu is not None:
        merged["cpu"] = {**merged.get("cpu", {}), **_drop_none({
            "shares": update.cpu.shares, "quota": update.cpu.quota, "period": update.cpu.period,
            "cpus": update.cpu.cpus or None, "mems": update.cpu.mems or None,
            "realtimeRuntime": update.cpu.realtime_runtime, "realtimePeriod": update.cpu.realtime_period})}
    if update.pids_limit is not None:
        merged["pids"] = {"limit": update.pids_limit}
    if update.block_io is not None and update.block_io.weight is not None:
        merged["blockIO"] = {**merged.get("blockIO", {}), "weight": update.block_io.weight}
    return merged


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _prepare_idmapped_mounts(config: Config) -> None:
    for mount in config.mounts:
        if mount.idmapped:
            from dockyard.runtime.linux import idmap

            source = mount.source if os.path.isabs(mount.source) else os.path.join(config.bundle, mount.source)
            recursive = "ridmap" in mount.options.extensions or bool(mount.options.flags & sc.MS_REC)
            mount.detached_fd = idmap.detached_tree(source, mount.uid_mappings, mount.gid_mappings, recursive)


def _systemd_to_path(cgroups_path: str, container_id: str) -> str:
    # "slice:prefix:name" as --systemd-cgroup managers write it, mapped onto cgroupfs directories.
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        return cgroups_path
    slice_, prefix, name = parts
    return f"/{slice_ or 'system.slice'}/{prefix}-{name or container_id}.scope"


def _owner() -> str:
    uid = os.geteuid()
    return "root" if uid == 0 else str(uid)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _reap_any() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _kill_and_wait(pid: int) -> None:
    """SIGKILL `pid` and wait until it is gone or a zombie (reaped here if it is our child)."""
    _signal(pid, signals.SIGKILL)
    deadline = time.monotonic() + 5
    while process_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.002)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _await_fifo(fd: int, state: State) -> None:
    """Read the init's byte from exec.fifo, giving up if the init has died."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if poller.poll(100):
            try:
                if os.read(fd, 1):
                    return
            except BlockingIOError:
                continue
        if process_start_time(state.pid) is None:
            raise Conflict("cannot start a container that has stopped")


def _socketpair() -> tuple[Any, Any]:
    import socket

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def _wait_in_foreground(pid: int, local_tty: Any) -> int:
    """Forward signals to `pid`, proxy its terminal if we hold the other end, return its status."""
    forward = _SignalForwarder(pid)
    try:
        if local_tty is not None:
            from dockyard.runtime.linux.terminal import proxy, recv_master

            with local_tty:
                master = recv_master(local_tty)
            try:
                proxy(master, lambda: process_start_time(pid) is not None)
            finally:
                os.close(master)
        return forward.wait()
    finally:
        forward.restore()


class _SignalForwarder:
    """While we wait for the container's process, pass the signals we get on to it."""

    FORWARDED = (signals.SIGTERM, signals.SIGINT, signals.SIGHUP, signals.SIGQUIT, signals.SIGUSR1,
                 signals.SIGUSR2, signals.SIGWINCH, signals.SIGCONT, signals.SIGALRM)

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.saved = {sig: signals.set_handler(sig, self._forward) for sig in self.FORWARDED}

    def _forward(self, sig: int, _frame: object) -> None:
        _signal(self.pid, sig)

    def wait(self) -> int:
        """Reap children until the container's process exits; its status as a shell reports it."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255  # it was never ours to wait for
            if pid == self.pid:
                if os.WIFSIGNALED(status):
                    return 128 + os.WTERMSIG(status)
                return os.WEXITSTATUS(status)

    def restore(self) -> None:
        for sig, handler in self.saved.items():
            signals.set_handler(sig, handler)
