"""`Engine`: the daemon's core, a library. The API layer is a thin adapter over these methods.

    engine = Engine(data_root, exec_root)      # opens the stores, re-adopts running containers
    cid, warnings = engine.create(body, name="web")
    engine.start(cid)                          # forks the monitor, which forks the container
    engine.wait(cid, "next-exit").result()     # {"StatusCode": 0, "Error": None}
    engine.remove(cid)

Threads: methods are synchronous and thread-safe (the API calls them from a thread pool). A
container's lifecycle operations (start, stop, remove, ...) take its operation lock; the engine's
dictionaries are under one short lock. Exits arrive on the watcher's thread (watcher.py) and are
handled under the short lock only, so an operation waiting for an exit never blocks its delivery.

On disk:
    <data-root>/metadata.db                  containers table (container.py), images (images/)
    <data-root>/containers/<id>/             hostname, hosts, resolv.conf, <id>-json.log, rootfs/ (mount point)
    <exec-root>/containers/<id>/             config.json (the bundle), monitor.sock, exit.json, monitor.log
    <exec-root>/containers/<id>/exec/<eid>/  an exec's monitor
    <exec-root>/runtime/                     the OCI runtime's state (Runtime root)

Restart policies follow moby's restartmanager: `no`, `always`, `unless-stopped`, `on-failure[:N]`;
delays start at 100 ms and double up to 1 minute, reset once a run lasted 10 s; `docker stop`
cancels the policy for that exit; at daemon start `always` containers are started again, and
`unless-stopped`/`on-failure` ones unless they were stopped by hand (or, for on-failure, exited 0).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import secrets
import shutil
import signal as signal_mod
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.engine import monitor as mon
from dockyard.engine import names as names_mod
from dockyard.engine.container import (
    Container,
    ContainerStore,
    State,
    not_found,
    parse_rfc3339,
    rfc3339_now,
)
from dockyard.engine.watcher import Watcher
from dockyard.engine.zygote import Zygote
from dockyard.errors import (
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
)

DEFAULT_STOP_TIMEOUT = 10
BACKOFF_START = 0.1
BACKOFF_MAX = 60.0


class NotModified(DockyardError):
    """The operation had nothing to do (start of a running container): HTTP 304."""


class StartFailed(DockyardError):
    """The container's process could not be started; `exit_code` is what Docker records (127, 126, 128)."""

    def __init__(self, message: str, exit_code: int, invalid_config: bool) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.invalid_config = invalid_config


@dataclass
class _Live:
    """What the daemon holds for a running container (never persisted)."""

    exited: threading.Event = field(default_factory=threading.Event)
    stopping: bool = False
    timer: threading.Timer | None = None
    health: Any = None


@dataclass
class _Waiter:
    condition: str
    future: concurrent.futures.Future[dict[str, Any]]


@dataclass
class AttachRequest:
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"stdin": self.stdin, "stdout": self.stdout, "stderr": self.stderr}


class Engine:
    def __init__(self, data_root: Path | str, exec_root: Path | str, *, cgroup_parent: str = "/dockyard",
                 live_restore: bool = True, restore: bool = True,
                 publish: Callable[..., Any] | None = None, zygote: Zygote | None = None,
                 default_bind_ip: str = "0.0.0.0",
                 default_log_config: tuple[str, dict[str, str]] = ("json-file", {})) -> None:
        from dockyard.images import ImageService
        from dockyard.runtime.container import Runtime

        self.data_root = Path(data_root)
        self.exec_root = Path(exec_root)
        self.cgroup_parent = cgroup_parent
        self.live_restore = live_restore
        self.zygote = zygote  # forks the monitors when there is one (zygote.py)
        self.default_bind_ip = default_bind_ip  # published ports' HostIp "" (dockerd's --ip)
        self.default_log_config = default_log_config  # LogConfig "" (dockerd's --log-driver, --log-opt)
        for path in (self.data_root / "containers", self.exec_root / "containers"):
            path.mkdir(parents=True, exist_ok=True)
        self.images = ImageService(self.data_root, in_use=self._image_users)
        self.store = ContainerStore(self.data_root / "metadata.db")
        self.runtime_root = str(self.exec_root / "runtime")
        # The runtime keeps compiled seccomp programs here (Docker's profile: ~20 ms to compile);
        # it trusts the directory only if it is ours and private.
        os.makedirs(os.path.join(self.runtime_root, ".seccomp-cache"), mode=0o700, exist_ok=True)
        self.runtime = Runtime(self.runtime_root)
        self.volumes = _open_volumes(self.data_root, self._volume_users)
        self._publish_hook = publish
        self._lock = threading.RLock()
        self._op_locks: dict[str, threading.RLock] = {}
        self.containers: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._live: dict[str, _Live] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._pending_attach: dict[str, list[tuple[AttachRequest, concurrent.futures.Future[socket.socket | None]]]] = {}
        self._restart_timeouts: dict[str, float] = {}
        self._monitor_pids: dict[str, int] = {}  # monitors forked by this daemon (ours to reap)
        self._stop_requested: set[str] = set()  # stopped by hand since their last start: no policy restart
        self._port_reservations: dict[str, set[tuple[str, str, int]]] = {}  # host ports of starts in flight
        self._closed = False
        # Work that need not delay a reply (cgroups made ahead, --rm removals): threads kept warm,
        # since starting one costs ~2 ms while the GIL is busy.
        self._background = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="engine-bg")
        self._watcher = Watcher(self._on_monitor_event)
        from dockyard.engine.execs import ExecManager

        self.execs = ExecManager(self)
        if restore:
            self.restore()

    # -- paths -----------------------------------------------------------------------------------

    def container_dir(self, cid: str) -> Path:
        return self.data_root / "containers" / cid

    def state_dir(self, cid: str) -> Path:
        return self.exec_root / "containers" / cid

    def rootfs_dir(self, cid: str) -> Path:
        return self.container_dir(cid) / "rootfs"

    def log_path(self, cid: str) -> Path:
        return self.container_dir(cid) / f"{cid}-json.log"

    # -- events ----------------------------------------------------------------------------------

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> None:
        if self._publish_hook is not None:
            try:
                self._publish_hook(type_, action, actor_id, attributes or {})
            except Exception:
                pass

    def container_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        attrs = {"image": c.image_name, "name": c.name.lstrip("/")}
        attrs.update(c.config.get("Labels") or {})
        attrs.update(extra or {})
        self.publish("container", action, c.id, attrs)

    # -- lookup ----------------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """A container by full id, name (with or without "/"), or unique id prefix."""
        with self._lock:
            c = self.containers.get(ref)
            if c is not None:
                return c
            cid = self._names.get(ref if ref.startswith("/") else "/" + ref)
            if cid is not None:
                return self.containers[cid]
            if ref and all(ch in "0123456789abcdef" for ch in ref):
                found = [c for cid, c in self.containers.items() if cid.startswith(ref)]
                if len(found) == 1:
                    return found[0]
                if len(found) > 1:
                    raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise not_found(ref)

    def _op_lock(self, cid: str) -> threading.RLock:
        with self._lock:
            lock = self._op_locks.get(cid)
            if lock is None:
                lock = self._op_locks[cid] = threading.RLock()
            return lock

    def _save(self, c: Container) -> None:
        self.store.update(c)

    def _image_users(self, image_id: str) -> list[Any]:
        from dockyard.images import ImageUse

        with self._lock:
            return [ImageUse(c.id, c.state.running) for c in self.containers.values() if c.image_id == image_id]

    def _volume_users(self, name: str) -> list[str]:
        with self._lock:
            return [c.id for c in self.containers.values() if any(m.get("Name") == name for m in c.mounts)]

    # -- create ----------------------------------------------------------------------------------

    def create(self, body: Any, name: str = "", platform: str = "") -> tuple[str, list[str]]:
        """POST /containers/create: (id, warnings). Nothing is left behind when it fails."""
        from dockyard.engine import prepare

        request = prepare.parse_request(body)
        warnings = prepare.validate(request)
        image_ref = request.config.image
        if not image_ref:
            raise InvalidArgument("invalid reference format")
        image = self.images.resolve(image_ref)
        image_config = self.images.config(image.id)
        merged = prepare.merge(request, image_config.config, self.default_log_config)
        path, args = prepare.command(merged.config)
        cid = secrets.token_hex(32)
        points = prepare.plan_mounts(merged, cid, self.data_root)
        with self._lock:
            if name:
                full = names_mod.validate(name)
                other = self._names.get(full)
                if other is not None:
                    raise Conflict(f'Conflict. The container name "{full}" is already in use by container '
                                   f'"{other}". You have to remove (or rename) that container to be able to reuse '
                                   "that name.")
            else:
                full = "/" + names_mod.random_name(set(self._names))
            self._names[full] = cid  # reserved while the rest is made
        snapshot_key = f"container-{cid}"
        made_snapshot = False
        try:
            parent = self.images.store.top_layer(image.id)
            self.images.snapshotter.prepare(snapshot_key, parent)
            made_snapshot = True
            self.container_dir(cid).mkdir(parents=True, exist_ok=False)
            c = Container(
                id=cid, name=full, created=rfc3339_now(), image_id=image.id, image_name=image_ref,
                config=prepare.config_json(merged.config), host_config=prepare.host_config_json(merged.host_config),
                path=path, args=args, snapshot_key=snapshot_key, mounts=prepare.mounts_json(points),
                mount_plan=[p.to_dict() for p in points],
                network=dict(request.networking_config or {}),
            )
            self.store.insert(c)
        except BaseException:
            with self._lock:
                self._names.pop(full, None)
            if made_snapshot:
                with contextlib.suppress(DockyardError):
                    self.images.snapshotter.remove(snapshot_key)
            shutil.rmtree(self.container_dir(cid), ignore_errors=True)
            raise
        with self._lock:
            self.containers[cid] = c
        self.container_event(c, "create")
        # Making a container's cgroups costs ~1 ms per v1 hierarchy; done now, in the background,
        # it overlaps with the client's next requests (attach, wait) instead of delaying the start.
        self._background.submit(self._precreate_cgroups, c)
        return cid, warnings

    def _cgroups_path(self, c: Container) -> str:
        parent = c.host_config.get("CgroupParent") or self.cgroup_parent
        return os.path.normpath(os.path.join(parent, c.id))

    def _precreate_cgroups(self, c: Container) -> None:
        from dockyard.runtime import cgroups

        with contextlib.suppress(DockyardError, OSError):
            cgroups.new_manager(self._cgroups_path(c), c.id).create()
        begin_cgroup_lock_wait()

    def _remove_cgroups(self, c: Container) -> None:
        from dockyard.runtime import cgroups

        with contextlib.suppress(DockyardError, OSError):
            manager = cgroups.new_manager(self._cgroups_path(c), c.id)
            if manager.exists() and not manager.pids():
                manager.destroy()

    # -- start -----------------------------------------------------------------------------------

    def start(self, ref: str, *, from_policy: bool = False) -> None:
        c = self.get(ref)
        with self._op_lock(c.id):
            if c.id not in self.containers:
                raise not_found(ref)
            status = c.state.status
            if status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if status == "running":
                raise NotModified("container already started")
            if status == "removing" or status == "dead":
                raise Conflict("container is marked for removal and cannot be started")
            if status == "restarting" and not from_policy:
                self._cancel_restart(c)
            if not from_policy:
                c.manually_stopped = False
                self._restart_timeouts.pop(c.id, None)
            begin_cgroup_lock_wait()
            try:
                self._start_locked(c)
            except BaseException:
                if c.host_config.get("AutoRemove"):
                    # As dockerd: a --rm container whose start failed is removed (`docker run --rm`
                    # waits for that before it reports the error).
                    self._background.submit(self._auto_remove, c.id)
                raise

    def _start_locked(self, c: Container) -> None:
        from dockyard.engine import prepare

        bundle = self.state_dir(c.id)
        with self._lock:
            pending = self._pending_attach.pop(c.id, [])
            self._stop_requested.discard(c.id)
        try:
            port_requests = self._reserve_ports(c)
        except BaseException:
            for _, fut in pending:
                _resolve(fut, None)
            raise
        try:
            cfg = prepare.bundle(self, c, bundle)
            cfg.ports = port_requests
            spawned = mon.spawn(cfg, [req.to_json() for req, _ in pending], self.zygote)
        except BaseException as err:
            self._release_ports(c.id)
            self._unmount(c)
            for _, fut in pending:
                _resolve(fut, None)
            c.state.status = "exited" if c.has_been_started else "created"
            c.state.error = str(err)
            c.state.exit_code = c.state.exit_code or 128  # as dockerd's containerStart
            self._save(c)
            raise
        for (_, fut), conn in zip(pending, spawned.attaches, strict=True):
            _resolve(fut, conn)
        buf = bytearray()
        spawned.control.settimeout(60)
        reply = mon.read_message(spawned.control, buf)
        spawned.control.settimeout(None)
        if reply is None or reply.get("event") != "started":
            spawned.control.close()
            _reap(spawned.pid, block=True)
            self._release_ports(c.id)
            self._unmount(c)
            message = "monitor exited before starting the container" if reply is None else str(reply.get("message"))
            if reply is not None and reply.get("kind") == "ports":
                raise self._ports_failed(c, f"Error starting userland proxy: {message}")
            raise self._start_failed(c, message)
        with self._lock:
            live = self._live[c.id] = _Live()
            c.state = State(status="running", pid=int(reply["pid"]), started_at=str(reply["started_at"]),
                            health=c.state.health)
            if port_requests or c.config.get("ExposedPorts"):
                c.ports = self._network_ports(c, reply.get("ports") or [])
            self._port_reservations.pop(c.id, None)
            c.monitor_pid = spawned.pid
            self._monitor_pids[c.id] = spawned.pid
            c.has_been_started = True
        self._save(c)
        self._watcher.add(spawned.control, "c:" + c.id, bytes(buf))
        self.container_event(c, "start")
        self._start_health(c, live)

    # -- published ports (network/ports.py; the relay is the monitor's, see monitor._start_proxy) --

    def _reserve_ports(self, c: Container) -> list[dict[str, Any]]:
        """The port bindings to make at this start (as the monitor takes them), after dockerd's port
        allocator check against the ports other containers hold; the explicit ones are reserved
        until the start is over. Nothing to do, and nothing imported, for a container with no
        exposed port (`docker run --rm busybox true`)."""
        exposed = c.config.get("ExposedPorts")
        if not exposed:
            return []
        from dockyard.network import ports

        if not ports.publishes(c.host_config):
            return []
        requests = ports.plan(exposed, c.host_config.get("PortBindings"), bool(c.host_config.get("PublishAllPorts")),
                              self.default_bind_ip)
        if not requests:
            return []
        with self._lock:
            taken: set[tuple[str, str, int]] = set()
            for other in self.containers.values():
                if other.id != c.id and other.state.status in ("running", "paused"):
                    taken |= ports.allocated(other.ports)
            for cid, reserved in self._port_reservations.items():
                if cid != c.id:
                    taken |= reserved
            try:
                ports.check_allocated(requests, taken)
            except ports.BindFailed as err:
                conflict = str(err)
            else:
                conflict = ""
                self._port_reservations[c.id] = {(r.proto, ip, r.host_port) for r in requests
                                                 if r.host_port and r.host_port == r.host_port_end for ip in r.host_ips}
        if conflict:
            raise self._ports_failed(c, conflict)
        return [r.to_json() for r in requests]

    def _release_ports(self, cid: str) -> None:
        with self._lock:
            self._port_reservations.pop(cid, None)

    def _network_ports(self, c: Container, bound: list[dict[str, Any]]) -> dict[str, Any]:
        """NetworkSettings.Ports of a running container: exposed ports (null) and the bound ones, for
        the network modes that publish (with `none` and `host` dockerd shows {})."""
        from dockyard.network import ports

        if not ports.publishes(c.host_config):
            return {}
        return ports.network_ports(c.config.get("ExposedPorts"), bound)

    def _ports_failed(self, c: Container, detail: str) -> StartFailed:
        """dockerd's words for a port it could not publish (libnetwork's sbJoin wraps the driver's
        error with the endpoint's name and id; here a fresh id, there being no endpoint). The
        container is left as a failed start leaves it: Error set, ExitCode 128 unless it had one,
        no process, no event."""
        text = (f"driver failed programming external connectivity on endpoint {c.name.lstrip('/')} "
                f"({secrets.token_hex(32)}): {detail}")
        c.state = State(status="exited" if c.has_been_started else "created", exit_code=c.state.exit_code or 128,
                        error=text, started_at=c.state.started_at, finished_at=c.state.finished_at, health=None)
        c.ports = {}
        self._save(c)
        return StartFailed(text, 128, False)

    def _start_failed(self, c: Container, message: str) -> StartFailed:
        text = f"failed to create task for container: OCI runtime create failed: {message}: unknown"
        lower = message.lower()
        code, invalid = 128, False
        if ("executable file not found" in lower or "no such file or directory" in lower):
            code, invalid = 127, True
        if "permission denied" in lower:
            code, invalid = 126, True
        if "not a directory" in lower:
            code, invalid = 127, True
            text += (": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified "
                     "host path exists and is the expected type")
        c.state = State(status="exited" if c.has_been_started else "created", exit_code=code, error=text,
                        started_at=c.state.started_at, finished_at=c.state.finished_at, health=None)
        self._save(c)
        self.container_event(c, "die", {"exitCode": str(code)})
        return StartFailed(text, code, invalid)

    def _unmount(self, c: Container) -> None:
        from dockyard.fsutil.mount import is_mountpoint, unmount_all

        root = str(self.rootfs_dir(c.id))
        try:
            if os.path.isdir(root) and is_mountpoint(root):
                unmount_all(root)
        except DockyardError:
            pass
        c.rootfs_mounted = False

    def mount_rootfs(self, c: Container) -> str:
        """Mount the container's snapshot at its rootfs directory (if it is not) and return the path."""
        from dockyard.fsutil.mount import is_mountpoint, mount_all

        root = self.rootfs_dir(c.id)
        root.mkdir(parents=True, exist_ok=True)
        if not is_mountpoint(str(root)):
            mount_all(self.images.snapshotter.mounts(c.snapshot_key), str(root))
        c.rootfs_mounted = True
        return str(root)

    @contextlib.contextmanager
    def mounted(self, c: Container) -> Iterator[str]:
        """The container's root filesystem for cp/export: the live mount, or a temporary one."""
        with self._op_lock(c.id):
            if c.state.running or c.rootfs_mounted:
                yield self.mount_rootfs(c)
                return
            root = self.mount_rootfs(c)
            try:
                yield root
            finally:
                if not c.state.running:
                    self._unmount(c)

    # -- exits -----------------------------------------------------------------------------------

    def _on_monitor_event(self, key: str, message: dict[str, Any] | None) -> None:
        kind, _, ident = key.partition(":")
        if kind == "e":
            self.execs.on_event(ident, message)
            return
        if message is None:
            # The monitor went away: its exit record says how the container ended, if it wrote one.
            with self._lock:
                live = self._live.get(ident)
                c = self.containers.get(ident)
                pid = self._monitor_pids.pop(ident, 0)
            if pid:
                _reap(pid, block=True)
            if live is None or live.exited.is_set() or c is None or c.state.status not in ("running", "paused"):
                return
            record = mon.read_exit_file(str(self.state_dir(ident)))
            if record is None:
                record = mon.ExitRecord(exit_code=255, oom_killed=False, started_at="", finished_at=rfc3339_now(),
                                        pid=0, error="container monitor exited unexpectedly")
            self._handle_exit(ident, record)
            return
        if message.get("event") == "exit":
            self._handle_exit(ident, mon.ExitRecord.from_json(message))

    def _handle_exit(self, cid: str, record: mon.ExitRecord) -> None:
        with self._lock:
            c = self.containers.get(cid)
            live = self._live.pop(cid, None)
            if c is None:
                return
        if live is not None and live.health is not None:
            with contextlib.suppress(Exception):
                live.health.stop()
        self._unmount(c)
        started = parse_rfc3339(c.state.started_at)
        finished_at = record.finished_at or rfc3339_now()
        ran_for = max(0.0, parse_rfc3339(finished_at) - started) if started else 0.0
        restart, delay = self._should_restart(c, record.exit_code, ran_for, stopping=bool(live and live.stopping))
        with self._lock:
            c.state = State(status="restarting" if restart else "exited", pid=0, exit_code=record.exit_code,
                            error=record.error, oom_killed=record.oom_killed, started_at=c.state.started_at,
                            finished_at=finished_at, health=_health_on_exit(c.state.health))
            c.monitor_pid = 0
            c.ports = {}  # released by the monitor before it reported the exit (dockerd: releaseNetwork)
        self._save(c)
        if record.oom_killed:
            self.container_event(c, "oom")
        self.container_event(c, "die", {"exitCode": str(record.exit_code)})
        self._notify(c, "next-exit")
        if live is not None:
            live.exited.set()
        if restart:
            self._schedule_restart(c, delay)
            return
        self._notify(c, "not-running")
        if c.host_config.get("AutoRemove"):
            self._background.submit(self._auto_remove, c.id)

    def _auto_remove(self, cid: str) -> None:
        with contextlib.suppress(DockyardError):
            self.remove(cid, force=True, volumes=True)

    def _should_restart(self, c: Container, exit_code: int, ran_for: float, *, stopping: bool) -> tuple[bool, float]:
        policy = c.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if stopping or self._closed or name == "no" or c.host_config.get("AutoRemove") or \
                c.id in self._stop_requested:
            return False, 0.0
        if name == "unless-stopped" and c.manually_stopped:
            return False, 0.0
        if name == "on-failure":
            maximum = int(policy.get("MaximumRetryCount") or 0)
            if exit_code == 0 or (maximum and c.restart_count >= maximum):
                return False, 0.0
        elif name not in ("always", "unless-stopped"):
            return False, 0.0
        timeout = self._restart_timeouts.get(c.id, 0.0)
        if ran_for >= 10:
            timeout = 0.0
        timeout = BACKOFF_START if timeout == 0 else min(timeout * 2, BACKOFF_MAX)
        self._restart_timeouts[c.id] = timeout
        return True, timeout

    def _schedule_restart(self, c: Container, delay: float) -> None:
        live = _Live()
        timer = threading.Timer(delay, self._restart_from_policy, args=(c.id,))
        timer.daemon = True
        live.timer = timer
        with self._lock:
            self._live[c.id] = live
        timer.start()

    def _cancel_restart(self, c: Container) -> None:
        with self._lock:
            live = self._live.get(c.id)
            if live is not None and live.timer is not None:
                live.timer.cancel()
                del self._live[c.id]
            if c.state.status == "restarting":
                c.state.status = "exited"
        self._save(c)

    def _restart_from_policy(self, cid: str) -> None:
        with self._lock:
            c = self.containers.get(cid)
            live = self._live.get(cid)
            if c is None or live is None or live.timer is None or c.state.status != "restarting":
                return
            del self._live[cid]
        with self._op_lock(cid):
            if c.state.status != "restarting" or self._closed:
                return
            c.restart_count += 1
            try:
                self._start_locked(c)
                self.container_event(c, "restart")
            except DockyardError as err:
                c.state.status = "exited"
                c.state.error = str(err)
                self._save(c)
                self._notify(c, "not-running")

    # -- waiting ---------------------------------------------------------------------------------

    def wait(self, ref: str, condition: str = "not-running") -> concurrent.futures.Future[dict[str, Any]]:
        """POST /containers/{id}/wait: a future of {"StatusCode": n, "Error": None}."""
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        c = self.get(ref)
        fut: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            condition = condition or "not-running"
            if condition == "not-running" and c.state.status not in ("running", "paused", "restarting"):
                fut.set_result(_wait_result(c))
                return fut
            self._waiters.setdefault(c.id, []).append(_Waiter(condition, fut))
        return fut

    def _notify(self, c: Container, condition: str) -> None:
        with self._lock:
            waiters = self._waiters.get(c.id, [])
            ready = [w for w in waiters if w.condition == condition]
            self._waiters[c.id] = [w for w in waiters if w.condition != condition]
        result = _wait_result(c)
        for w in ready:
            if not w.future.done():
                w.future.set_result(result)

    # -- stop, kill, restart, pause -------------------------------------------------------------

    def kill(self, ref: str, sig: str | int = "") -> None:
        c = self.get(ref)
        signum = parse_signal(sig) if sig not in ("", 0) else signal_mod.SIGKILL
        with self._lock:
            if c.state.status not in ("running", "paused"):
                raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        self.container_event(c, "kill", {"signal": str(int(signum))})
        try:
            self._signal(c, signum)
        except DockyardError as err:
            raise Conflict(f"Cannot kill container: {ref}: {err}") from None

    def _signal(self, c: Container, signum: int) -> None:
        try:
            self.runtime.kill(c.id, signum)
        except (NotFound, Conflict):
            pass
        if signum == signal_mod.SIGKILL and c.state.status == "paused":
            with contextlib.suppress(DockyardError):
                self.runtime.resume(c.id)

    def stop(self, ref: str, timeout: int | None = None, sig: str = "") -> None:
        """Send the stop signal, then SIGKILL after `timeout` seconds (the container's StopTimeout, or 10)."""
        c = self.get(ref)
        with self._lock:
            self._stop_requested.add(c.id)  # an exit in flight must not restart it either
            live = self._live.get(c.id)
            if c.state.status == "restarting":
                c.manually_stopped = True
                self._cancel_restart(c)
                self._notify(c, "not-running")
                return
            if c.state.status in ("running", "paused") and live is None:
                live = _Live()  # exiting right now: nothing to signal, the exit will be recorded
                live.exited.set()
            if c.state.status not in ("running", "paused") or live is None:
                raise NotModified("container already stopped")
            c.manually_stopped = True
            live.stopping = True
        self._save(c)
        if timeout is None:
            stop_timeout = c.config.get("StopTimeout")
            timeout = int(stop_timeout) if stop_timeout is not None else DEFAULT_STOP_TIMEOUT
        signum = parse_signal(sig or c.config.get("StopSignal") or "SIGTERM")
        if c.state.status == "paused" and signum != signal_mod.SIGKILL:
            # A frozen process cannot act on SIGTERM: thaw it, as Docker does.
            self._signal(c, signum)
            with contextlib.suppress(DockyardError):
                self.runtime.resume(c.id)
        elif timeout != 0:
            self._signal(c, signum)
        if timeout < 0:
            live.exited.wait()
        elif timeout == 0 or not live.exited.wait(timeout):
            self._signal(c, signal_mod.SIGKILL)
            if not live.exited.wait(30):
                raise Conflict(f"cannot stop container: {ref}: tried to kill container, but did not receive an exit event")
        self.container_event(c, "stop")

    def restart(self, ref: str, timeout: int | None = None, sig: str = "") -> None:
        c = self.get(ref)
        with contextlib.suppress(NotModified):
            self.stop(c.id, timeout, sig)
        with self._op_lock(c.id):
            c.manually_stopped = False
            if c.state.status != "running":
                self._start_locked(c)
        self.container_event(c, "restart")

    def pause(self, ref: str) -> None:
        c = self.get(ref)
        with self._op_lock(c.id):
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            if c.state.status != "running":
                raise Conflict(f"Container {c.id} is not running")
            self.runtime.pause(c.id)
            c.state.status = "paused"
            self._save(c)
        self.container_event(c, "pause")

    def unpause(self, ref: str) -> None:
        c = self.get(ref)
        with self._op_lock(c.id):
            if c.state.status != "paused":
                raise Conflict(f"Container {c.id} is not paused")
            self.runtime.resume(c.id)
            c.state.status = "running"
            self._save(c)
        self.container_event(c, "unpause")

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        full = names_mod.validate(new_name)
        with self._lock:
            if full == c.name:
                raise InvalidArgument("Renaming a container with the same name as its current name")
            other = self._names.get(full)
            if other is not None:
                raise Conflict(f'Conflict. The container name "{full}" is already in use by container "{other}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
            old = c.name
            self._names[full] = c.id
            del self._names[old]
            c.name = full
        try:
            self._save(c)
        except BaseException:
            with self._lock:
                c.name = old
                self._names[old] = c.id
                del self._names[full]
            raise
        self.container_event(c, "rename", {"oldName": old})

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if c.state.status not in ("running", "paused"):
            raise Conflict(f"Container {c.id} is not running")
        self._watcher.send("c:" + c.id, {"op": "resize", "height": height, "width": width})

    # -- update ----------------------------------------------------------------------------------

    _UPDATABLE = ("CpuShares", "Memory", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
                  "MemoryReservation", "MemorySwap", "PidsLimit", "BlkioWeight")

    def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """`docker update`: resource limits (applied to a running container's cgroups now, kept for
        its next starts) and the restart policy. Docker's warnings."""
        c = self.get(ref)
        if not isinstance(body, dict):
            raise InvalidArgument("json: cannot unmarshal into Go value of type container.UpdateConfig")
        changes = {k: body[k] for k in self._UPDATABLE if body.get(k) not in (None, 0, "")}
        policy = body.get("RestartPolicy") or {}
        with self._op_lock(c.id):
            if policy.get("Name"):
                name = policy["Name"]
                if name not in ("no", "always", "unless-stopped", "on-failure"):
                    raise InvalidArgument(f"invalid restart policy '{name}'")
                if c.host_config.get("AutoRemove") and name != "no":
                    raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the "
                                          "container")
            if changes and c.state.status in ("running", "paused"):
                from dockyard.oci.runtime_spec import Resources

                try:
                    self.runtime.update(c.id, Resources.from_json(_oci_resources(changes)))
                except DockyardError as err:
                    raise InvalidArgument(f"Cannot update container {c.id}: {err}") from None
            c.host_config.update(changes)
            if policy.get("Name"):
                c.host_config["RestartPolicy"] = {"Name": policy["Name"],
                                                  "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
            self._save(c)
        self.container_event(c, "update")
        return []

    # -- remove ----------------------------------------------------------------------------------

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        with self._op_lock(c.id):
            if c.id not in self.containers:
                raise not_found(ref)
            if c.state.status in ("running", "paused", "restarting"):
                if not force:
                    if c.state.status == "paused":
                        raise Conflict(f"You cannot remove a paused container {c.id}. Unpause and then stop the "
                                       "container before attempting removal or force remove")
                    raise Conflict(f"You cannot remove a running container {c.id}. Stop the container before "
                                   "attempting removal or force remove")
                self._kill_for_removal(c)
            if c.state.status == "removing":
                raise Conflict(f"removal of container {c.id} is already in progress")
            c.state.status = "removing"
            self._cleanup(c, volumes)
        self.container_event(c, "destroy")

    def _kill_for_removal(self, c: Container) -> None:
        with self._lock:
            live = self._live.get(c.id)
            if live is not None and live.timer is not None:
                live.timer.cancel()
                del self._live[c.id]
                c.state.status = "exited"
                return
            if live is not None:
                live.stopping = True
        self._signal(c, signal_mod.SIGKILL)
        if live is not None and not live.exited.wait(30):
            raise Conflict(f"Could not kill running container {c.id}, cannot remove")

    def _cleanup(self, c: Container, volumes: bool) -> None:
        """Forget the container first (the record, its name, the waiters: `docker run --rm` waits
        for "removed"), then take its files away. A crash in between leaves files no record
        names: `restore` sweeps such directories and image GC collects the snapshot."""
        self._unmount(c)
        with contextlib.suppress(DockyardError):
            self.runtime.delete(c.id, force=True)
        self.store.delete(c.id)
        with self._lock:
            self.containers.pop(c.id, None)
            if self._names.get(c.name) == c.id:
                del self._names[c.name]
            self._op_locks.pop(c.id, None)
            self._restart_timeouts.pop(c.id, None)
            pending = self._pending_attach.pop(c.id, [])
        for _, fut in pending:
            _resolve(fut, None)
        self.execs.forget_container(c.id)
        for m in c.mounts:
            if m.get("Type") == "volume" and m.get("Name"):
                with contextlib.suppress(DockyardError):
                    self.volumes.release(m["Name"], c.id)
                    if volumes and m.get("Anonymous"):
                        self.volumes.remove(m["Name"])
        self._notify(c, "next-exit")
        self._notify(c, "not-running")
        c.state.error = ""  # moby's SetRemoved clears it: `docker run --rm` reports a failed start once
        self._notify(c, "removed")
        self._remove_files(c.id, c.snapshot_key, c)

    def _remove_files(self, cid: str, snapshot_key: str, c: Container | None) -> None:
        if c is not None:
            self._remove_cgroups(c)  # made at create for a container that never ran
        with contextlib.suppress(DockyardError):
            self.images.snapshotter.remove(snapshot_key)
        shutil.rmtree(self.container_dir(cid), ignore_errors=True)
        shutil.rmtree(self.state_dir(cid), ignore_errors=True)

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        from dockyard.engine import views

        until, labels = views.prune_filters(filters or {})
        deleted: list[str] = []
        reclaimed = 0
        for c in list(self.containers.values()):
            if c.state.status not in ("exited", "created", "dead"):
                continue
            if until is not None and parse_rfc3339(c.created) >= until:
                continue
            if not views.labels_match(labels, c.config.get("Labels") or {}):
                continue
            try:
                size = self._rw_size(c)
                self.remove(c.id)
            except DockyardError:
                continue
            deleted.append(c.id)
            reclaimed += size
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _rw_size(self, c: Container) -> int:
        try:
            return self.images.snapshotter.usage(c.snapshot_key).size
        except DockyardError:
            return 0

    # -- attach ----------------------------------------------------------------------------------

    def attach(self, ref: str, request: AttachRequest) -> concurrent.futures.Future[socket.socket | None]:
        """A connection to the container's monitor streaming its output (Docker's format) and taking
        stdin; for a container that is not running, made when it next starts. None: it never did."""
        c = self.get(ref)
        fut: concurrent.futures.Future[socket.socket | None] = concurrent.futures.Future()
        with self._lock:
            if c.state.status == "paused":
                raise Conflict(f"container {c.id} is paused, unpause the container before attach")
            if c.state.status == "restarting":
                raise Conflict(f"container {c.id} is restarting, wait until the container is running")
            if c.state.status == "running":
                try:
                    fut.set_result(mon.connect(str(self.state_dir(c.id)), {"op": "attach", **request.to_json()}))
                except OSError:
                    fut.set_result(None)
                return fut
            self._pending_attach.setdefault(c.id, []).append((request, fut))
        return fut

    def close_stdin(self, cid: str) -> None:
        self._watcher.send("c:" + cid, {"op": "close-stdin"})

    # -- restore ---------------------------------------------------------------------------------

    def restore(self) -> None:
        """Rebuild the view from disk and re-adopt the containers whose monitors still run."""
        with contextlib.suppress(DockyardError, NotImplementedError):
            self.images.snapshotter.cleanup()
        to_restart: list[Container] = []
        known = {c.id for c in self.store.load_all()}
        for leftover in set(os.listdir(self.data_root / "containers")) - known:
            # Removed while its files were being deleted when the daemon died.
            from dockyard.fsutil.mount import is_mountpoint, unmount_all

            root = str(self.rootfs_dir(leftover))
            with contextlib.suppress(DockyardError, OSError):
                if is_mountpoint(root):
                    unmount_all(root)
            self._remove_files(leftover, f"container-{leftover}", None)
        for c in self.store.load_all():
            with self._lock:
                self.containers[c.id] = c
                self._names[c.name] = c.id
            if c.state.status in ("running", "paused", "restarting"):
                if not self._readopt(c):
                    to_restart.append(c)
            elif c.state.status == "removing":
                with self._op_lock(c.id):
                    self._cleanup(c, False)
            elif c.state.status == "exited" and self._policy_restarts_at_boot(c):
                to_restart.append(c)
        for c in to_restart:
            if c.id in self.containers and c.state.status in ("exited", "restarting") and \
                    self._policy_restarts_at_boot(c):
                c.state.status = "exited"
                with contextlib.suppress(DockyardError):
                    self.start(c.id, from_policy=True)

    def _policy_restarts_at_boot(self, c: Container) -> bool:
        policy = c.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if c.host_config.get("AutoRemove") or not c.has_been_started:
            return False
        if name == "always":
            return True
        if name == "unless-stopped":
            return not c.manually_stopped
        if name == "on-failure":
            maximum = int(policy.get("MaximumRetryCount") or 0)
            return c.state.exit_code != 0 and not c.manually_stopped and (not maximum or c.restart_count < maximum)
        return False

    def _readopt(self, c: Container) -> bool:
        """Reconnect to the container's monitor; True if it still runs. An exit that happened while
        the daemon was away is recorded from the monitor's exit file."""
        state_dir = str(self.state_dir(c.id))
        if c.state.status == "restarting":
            c.state.status = "exited"
            self._save(c)
            return False
        try:
            sock = mon.connect(state_dir, {"op": "watch"})
        except OSError:
            sock = None
        if sock is not None:
            buf = bytearray()
            sock.settimeout(10)
            reply = mon.read_message(sock, buf)
            sock.settimeout(None)
            if reply is not None and reply.get("event") == "running":
                with self._lock:
                    self._live[c.id] = live = _Live()
                    c.monitor_pid = 0  # no longer our child
                    c.state.pid = int(reply.get("pid") or c.state.pid)
                self._watcher.add(sock, "c:" + c.id, bytes(buf))
                self._start_health(c, live)
                return True
            sock.close()
            if reply is not None and reply.get("event") == "exit":
                self._live[c.id] = _Live()
                self._handle_exit(c.id, mon.ExitRecord.from_json(reply))
                return c.state.status == "restarting"
        record = mon.read_exit_file(state_dir)
        if record is None:
            # Neither a monitor nor its record (a reboot, or a monitor killed before it could write).
            with contextlib.suppress(DockyardError):
                self.runtime.delete(c.id, force=True)
            record = mon.ExitRecord(exit_code=255, oom_killed=False, started_at=c.state.started_at,
                                    finished_at=rfc3339_now(), pid=0, error="")
        self._live[c.id] = _Live()
        self._handle_exit(c.id, record)
        return False

    # -- health ----------------------------------------------------------------------------------

    def _start_health(self, c: Container, live: _Live) -> None:
        hook = getattr(self, "health_starter", None)
        if hook is not None:
            with contextlib.suppress(Exception):
                live.health = hook(c)

    def set_health(self, cid: str, health: dict[str, Any]) -> None:
        with self._lock:
            c = self.containers.get(cid)
            if c is None:
                return
            old = (c.state.health or {}).get("Status")
            c.state.health = health
        self._save(c)
        if health.get("Status") != old:
            self.container_event(c, f"health_status: {health.get('Status')}")

    # -- shutdown --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening to the monitors. With live-restore off, stop the containers first."""
        if not self.live_restore:
            for c in list(self.containers.values()):
                if c.state.status in ("running", "paused"):
                    with contextlib.suppress(DockyardError):
                        self.stop(c.id)
        self._closed = True
        with self._lock:
            for live in self._live.values():
                if live.timer is not None:
                    live.timer.cancel()
                if live.health is not None:
                    with contextlib.suppress(Exception):
                        live.health.stop()
        self._watcher.close()
        self._background.shutdown(wait=False, cancel_futures=True)
        self.execs.close()
        if self.zygote is not None:
            self.zygote.close()
        self.store.close()
        with contextlib.suppress(DockyardError):
            self.images.close()


def _oci_resources(changes: dict[str, Any]) -> dict[str, Any]:
    """Docker's update fields as OCI `linux.resources` (runc's update semantics)."""
    out: dict[str, Any] = {}
    memory = {k: changes[d] for k, d in (("limit", "Memory"), ("reservation", "MemoryReservation"),
                                         ("swap", "MemorySwap")) if d in changes}
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if "CpuShares" in changes:
        cpu["shares"] = changes["CpuShares"]
    if "NanoCpus" in changes:
        cpu["period"] = 100000
        cpu["quota"] = changes["NanoCpus"] * 100000 // 1_000_000_000
    for key, docker in (("quota", "CpuQuota"), ("period", "CpuPeriod"), ("cpus", "CpusetCpus"), ("mems", "CpusetMems")):
        if docker in changes:
            cpu[key] = changes[docker]
    if cpu:
        out["cpu"] = cpu
    if "PidsLimit" in changes:
        out["pids"] = {"limit": changes["PidsLimit"]}
    if "BlkioWeight" in changes:
        out["blockIO"] = {"weight": changes["BlkioWeight"]}
    return out


def _open_volumes(data_root: Path, users: Callable[[str], list[str]]) -> Any:
    from dockyard.volumes import VolumeStore

    return VolumeStore(data_root, in_use=users)


def _resolve(fut: concurrent.futures.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)
    elif value is not None and hasattr(value, "close"):
        value.close()


def _reap(pid: int, block: bool = False) -> None:
    if pid <= 0:
        return
    try:
        os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_result(c: Container) -> dict[str, Any]:
    return {"StatusCode": c.state.exit_code, "Error": {"Message": c.state.error} if c.state.error else None}


def _health_on_exit(health: dict[str, Any] | None) -> dict[str, Any] | None:
    if health is None:
        return None
    return {**health, "Status": "unhealthy" if health.get("Status") == "unhealthy" else "starting",
            "FailingStreak": health.get("FailingStreak", 0)}


_SIGNALS = {name[3:]: int(value) for name, value in vars(signal_mod).items()
            if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(value, signal_mod.Signals)}


def parse_signal(value: str | int) -> int:
    """Docker's signal parsing: a number, or a name with or without SIG."""
    if isinstance(value, int):
        if value <= 0 or value > 64:
            raise InvalidArgument(f"Invalid signal: {value}")
        return value
    text = value.strip()
    if text.isdigit():
        number = int(text)
        if number <= 0 or number > 64:
            raise InvalidArgument(f"Invalid signal: {value}")
        return number
    name = text.upper().removeprefix("SIG")
    if name in _SIGNALS:
        return _SIGNALS[name]
    if name.startswith("RTMIN+") and name[6:].isdigit():
        return int(signal_mod.SIGRTMIN) + int(name[6:])
    raise InvalidArgument(f"Invalid signal: {value}")


def begin_cgroup_lock_wait() -> None:
    """Start the kernel's cgroup-attach grace period now, from a thread (runtime/cgroups/warmup.py):
    the container's attach, ~10 ms later in the monitor's helper (or an exec's), then finds the
    lock warm instead of waiting for one itself. Nobody joins the thread: it holds no lock a fork
    of the daemon could inherit (only a write(2) in progress), and forks forget it."""
    from dockyard.runtime.cgroups import warmup

    warmup.start()


__all__ = ["AttachRequest", "Engine", "NotModified", "StartFailed", "begin_cgroup_lock_wait", "parse_signal"]
