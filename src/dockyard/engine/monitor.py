"""The per-container monitor: a forked copy of the daemon that runs one container or one exec.

Why a monitor: the container must outlive the daemon (`kill -9 dockyardd` leaves it running and
logging), someone must hold its stdio and wait for its exit, and the container should be forked
from a warm process. So the daemon forks (no new interpreter) and the child becomes the monitor:

    daemon                                monitor (forked)                  container
    bind+listen monitor.sock
    connect pending attaches (backlog)
    fork ------------------------------>  setsid, subreaper
                                          bind the published ports (a port in use: error, stop)
                                          pipes/pty -> fds 0,1,2
                                          Runtime.create ---------------->  init waits on exec.fifo
                                          accept the waiting attaches
                                          Runtime.start ----------------->  execve
                                          fork the port proxy (network/proxy.py): it joins the
                                          container's network namespace and relays the ports
    <- {"event": "started", "pid": N} --  (control socketpair; "ports": what was bound)
                                          loop: output -> json-file log + attach clients,
                                                attach input -> stdin, resize, watch requests
                                          pidfd readable: waitpid, kill+reap the proxy (ports
                                          free), drain output, oom count, Runtime.delete,
                                          exit.json (atomic)
    <- {"event": "exit", ...} ----------  close everything, exit

Every file a monitor owns lives in its state directory (`<exec-root>/containers/<id>/` for a
container, `.../exec/<exec-id>/` for an exec): `monitor.sock`, `exit.json` (the exit record,
written by rename, which the daemon reads when it was not there to hear the exit), `monitor.log`
(the monitor's own errors) and, for execs, `pid`.

Protocol on monitor.sock: the client sends one JSON line.
    {"op": "attach", "stdin": b, "stdout": b, "stderr": b}   then raw bytes both ways: the
        container's output in Docker's stream format (8-byte frame headers without a tty, raw
        with one), and the client's bytes to the container's stdin. Closed by the monitor when the
        container has exited and its output is drained.
    {"op": "watch"}    the connection becomes a control connection: the monitor answers
        {"event": "running", "pid": N, "started_at": T} and later {"event": "exit", ...record}.
A control connection (the socketpair made at fork, or a watch) takes JSON lines from the daemon:
    {"op": "resize", "height": H, "width": W}     {"op": "close-stdin"}
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import struct
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from dockyard.eventloop import set_interest
from dockyard.fds import close_fds_except

if TYPE_CHECKING:
    from dockyard.engine.zygote import Zygote

MONITOR_SOCKET = "monitor.sock"
EXIT_FILE = "exit.json"
MONITOR_LOG = "monitor.log"
PID_FILE = "pid"

STDIN, STDOUT, STDERR = 0, 1, 2
_STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}
_READ_SIZE = 65536
_CLIENT_BUFFER_LIMIT = 8 << 20  # an attach client this far behind is dropped
_DRAIN_TIMEOUT = 2.0  # after the exit, how long to wait for the output pipes to close


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


@dataclass
class MonitorConfig:
    """What the forked monitor needs; built by the daemon, read by the child through fork."""

    container_id: str
    runtime_root: str
    state_dir: str
    bundle: str = ""  # a container: the bundle to create and start
    process: dict[str, Any] | None = None  # an exec: the OCI process (config.json form) to start
    exec_id: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    console_size: tuple[int, int] = (0, 0)  # (height, width)
    log_path: str = ""  # json-file log; "" for none (execs)
    log_options: dict[str, str] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)  # network.ports.Request.to_json(): to publish

    @property
    def socket_path(self) -> str:
        return os.path.join(self.state_dir, MONITOR_SOCKET)

    def to_json(self) -> dict[str, Any]:
        return {"container_id": self.container_id, "runtime_root": self.runtime_root, "state_dir": self.state_dir,
                "bundle": self.bundle, "process": self.process, "exec_id": self.exec_id, "tty": self.tty,
                "open_stdin": self.open_stdin, "stdin_once": self.stdin_once,
                "console_size": list(self.console_size), "log_path": self.log_path,
                "log_options": self.log_options, "ports": self.ports}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MonitorConfig:
        size = doc.get("console_size") or [0, 0]
        return cls(container_id=str(doc["container_id"]), runtime_root=str(doc["runtime_root"]),
                   state_dir=str(doc["state_dir"]), bundle=str(doc.get("bundle", "")), process=doc.get("process"),
                   exec_id=str(doc.get("exec_id", "")), tty=bool(doc.get("tty")),
                   open_stdin=bool(doc.get("open_stdin")), stdin_once=bool(doc.get("stdin_once")),
                   console_size=(int(size[0]), int(size[1])), log_path=str(doc.get("log_path", "")),
                   log_options=dict(doc.get("log_options") or {}), ports=list(doc.get("ports") or []))


@dataclass
class ExitRecord:
    exit_code: int
    oom_killed: bool
    started_at: str
    finished_at: str
    pid: int
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"event": "exit", "exit_code": self.exit_code, "oom_killed": self.oom_killed,
                "started_at": self.started_at, "finished_at": self.finished_at, "pid": self.pid,
                "error": self.error}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ExitRecord:
        return cls(exit_code=int(doc.get("exit_code", 255)), oom_killed=bool(doc.get("oom_killed")),
                   started_at=str(doc.get("started_at", "")), finished_at=str(doc.get("finished_at", "")),
                   pid=int(doc.get("pid", 0)), error=str(doc.get("error", "")))


def read_exit_file(state_dir: str) -> ExitRecord | None:
    try:
        with open(os.path.join(state_dir, EXIT_FILE), "rb") as f:
            return ExitRecord.from_json(json.loads(f.read()))
    except (OSError, ValueError):
        return None


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame: [stream, 0, 0, 0, size (big endian uint32)] + data."""
    return struct.pack(">BxxxI", stream, len(data)) + data


# --- the daemon side: spawning -----------------------------------------------------------------


@dataclass
class Spawned:
    pid: int
    control: socket.socket  # the daemon's end of the control socketpair (blocking)
    attaches: list[socket.socket]  # connections made before the fork, in the order asked


def spawn(cfg: MonitorConfig, attaches: Sequence[dict[str, Any]] = (), zygote: Zygote | None = None) -> Spawned:
    """Fork a monitor for `cfg` (through `zygote` when there is a live one, see zygote.py).
    `attaches` are attach requests to connect before the container starts (so no output is
    missed). Returns at once; the first control message says whether the container started."""
    os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
    for name in (MONITOR_SOCKET, EXIT_FILE):
        try:
            os.unlink(os.path.join(cfg.state_dir, name))
        except FileNotFoundError:
            pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conns: list[socket.socket] = []
    try:
        with _short_path(cfg.state_dir) as short:
            listener.bind(os.path.join(short, MONITOR_SOCKET))
            listener.listen(128)
            for request in attaches:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conns.append(conn)
                conn.connect(os.path.join(short, MONITOR_SOCKET))
                conn.sendall(json.dumps({"op": "attach", **request}).encode() + b"\n")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except BaseException:
        listener.close()
        for conn in conns:
            conn.close()
        raise
    pid = 0
    if zygote is not None and not zygote.broken:
        try:
            pid = zygote.spawn(cfg.to_json(), listener, theirs)
        except OSError:
            pid = 0
    if pid == 0:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            ours.close()
            _child(cfg, listener, theirs)
    listener.close()
    theirs.close()
    return Spawned(pid, ours, conns)


def read_message(sock: socket.socket, buf: bytearray) -> dict[str, Any] | None:
    """One JSON line from a blocking control socket (None at EOF); `buf` keeps what follows."""
    while b"\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    doc: dict[str, Any] = json.loads(line)
    return doc


def connect(state_dir: str, request: dict[str, Any]) -> socket.socket:
    """A new connection to a running monitor (OSError when it is gone)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _short_path(state_dir) as short:
            sock.connect(os.path.join(short, MONITOR_SOCKET))
        sock.sendall(json.dumps(request).encode() + b"\n")
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def _short_path(directory: str) -> Iterator[str]:
    """`directory` as /proc/self/fd/N: a unix socket path has at most 107 bytes, and a monitor's
    directory under a long exec root (64-digit ids, twice for an exec) can be longer than that."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


# --- the child side ------------------------------------------------------------------------------


def _child(cfg: MonitorConfig, listener: socket.socket, control: socket.socket) -> NoReturn:  # pragma: no cover
    code = 0
    try:
        os.setsid()
        try:
            signal.set_wakeup_fd(-1)  # the daemon's event loop's, closed below
        except ValueError:
            pass
        keep = {listener.fileno(), control.fileno()}
        close_fds_except(keep)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            if fd != devnull:
                os.dup2(devnull, fd)
        if devnull > 2:
            os.close(devnull)
        # Default dispositions: the container inherits ignored signals through execve.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        profile_dir = os.environ.get("DOCKYARD_MONITOR_PROFILE")
        if profile_dir:  # development aid: where does a start spend its time
            import cProfile

            cProfile.runctx("Monitor(cfg, listener, control).run()", globals(), locals(),
                            os.path.join(profile_dir, f"monitor-{os.getpid()}.prof"))
        else:
            Monitor(cfg, listener, control).run()
    except BaseException:
        code = 1
        try:
            with open(os.path.join(cfg.state_dir, MONITOR_LOG), "a") as f:
                f.write(f"{now_rfc3339()} monitor failed:\n{traceback.format_exc()}")
        except OSError:
            pass
    os._exit(code)


class _Client:
    """One connection to monitor.sock or the control socketpair."""

    def __init__(self, sock: socket.socket, control: bool = False) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.kind = "control" if control else "new"  # new -> attach | control
        self.want: set[int] = set()
        self.stdin = False
        self.read_closed = False
        self.closed = False


class Monitor:
    def __init__(self, cfg: MonitorConfig, listener: socket.socket, control: socket.socket) -> None:
        self.cfg = cfg
        self.listener = listener
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.control = _Client(control, control=True)
        self.pid = 0
        self.started_at = ""
        self.out_fds: dict[int, int] = {}  # fd -> stream (STDOUT/STDERR; the pty master is STDOUT)
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.master = -1
        self.log: Any = None
        self.exited: ExitRecord | None = None
        self.cgroup_paths: dict[str, str] = {}
        self.proxy_pid = 0  # the port proxy (network/proxy.py), when ports are published
        self.helper = 0  # the fork that runs the runtime's create and start (_launch)

    # -- start --------------------------------------------------------------------------------

    def run(self) -> None:
        from dockyard.runtime.linux import syscalls as sc

        cfg = self.cfg
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)  # the container's process becomes our child
        bound: list[Any] = []
        if cfg.ports:
            # Published ports are bound before anything else is made: a port in use fails the start
            # with nothing created and no container process ever run.
            from dockyard.network import ports

            try:
                bound = ports.bind_all([ports.Request.from_json(r) for r in cfg.ports])
            except ports.BindFailed as err:
                self._send(self.control, {"event": "error", "message": str(err), "kind": "ports"})
                self._flush_blocking(self.control)
                return
        if cfg.log_path:
            self.log = _open_log(cfg)
        console_ours = console_theirs = None
        try:
            if cfg.tty:
                console_ours, console_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            else:
                if cfg.open_stdin:
                    r, w = os.pipe2(os.O_CLOEXEC)
                    os.dup2(r, 0)
                    os.close(r)
                    self.stdin_fd = w
                for target in (1, 2):
                    r, w = os.pipe2(os.O_CLOEXEC)
                    os.dup2(w, target)  # dup2 clears close-on-exec on the target
                    os.close(w)
                    self.out_fds[r] = target
            # The attaches made before the start are in the listener's backlog: take them first, so
            # not a byte of output is missed.
            self._accept_pending()
            result = self._launch(console_theirs)
        finally:
            if console_theirs is not None:
                console_theirs.close()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.close(devnull)
        if "error" in result:
            for b in bound:
                b.sock.close()
            self._send(self.control, {"event": "error", "message": result["error"], "kind": result.get("kind", "")})
            self._flush_blocking(self.control)
            self._reap_helper()
            return
        self.pid = int(result["pid"])
        self.cgroup_paths = dict(result.get("cgroup_paths") or {})
        if console_ours is not None:
            from dockyard.runtime.linux.terminal import recv_master, set_size

            with console_ours:
                self.master = recv_master(console_ours)
            os.set_blocking(self.master, False)
            if cfg.console_size[0] and cfg.console_size[1]:
                set_size(self.master, *cfg.console_size)
            self.out_fds[self.master] = STDOUT
            if cfg.open_stdin:
                self.stdin_fd = self.master
        self.started_at = now_rfc3339()
        started: dict[str, Any] = {"event": "started", "pid": self.pid, "started_at": self.started_at}
        if bound:
            self._start_proxy(bound)
            started["ports"] = [b.to_json() for b in bound]
        pidfd = os.pidfd_open(self.pid)
        self._send(self.control, started)
        self._reap_helper()
        # A container's cgroup is new at each start (made at create, removed at exit): its OOM kill
        # count starts at 0.
        self._loop(pidfd, 0)

    def _reap_helper(self) -> None:
        if self.helper:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.helper, 0)
            self.helper = 0

    def _start_proxy(self, bound: list[Any]) -> None:
        """The published ports' relay: a fork of this monitor that joins the container's network
        namespace (network/proxy.py). A process of its own rather than part of this loop, so
        traffic and log output do not wait for each other and a monitor without ports stays as
        small as it was; it holds the only copies of the host sockets, dies with this monitor
        (PR_SET_PDEATHSIG) and is killed when the container exits (`_stop_proxy`)."""
        from dockyard.network import proxy

        try:
            self.proxy_pid = proxy.spawn(self.pid, bound)
        except OSError as err:  # no fork (pids, memory): the container runs on, its ports refuse
            _log(self.cfg, f"port proxy not started: {_message(err)}")
        finally:
            for b in bound:
                b.sock.close()

    def _stop_proxy(self) -> None:
        """Kill and reap the proxy: once this returns, the host ports are free again (a process's
        sockets are closed before it becomes a zombie)."""
        if self.proxy_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proxy_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.proxy_pid, 0)
            self.proxy_pid = 0

    def _launch(self, console: socket.socket | None) -> dict[str, Any]:
        """Create and start the container (or the exec) from a fork of this monitor, which reports
        and exits (a terminal's size is in the spec, set when the pty is made). The container's process is still forked from a warm process and, the helper
        gone, re-parented to this monitor (a child subreaper); what the runtime's work dirtied of
        the shared heap goes with the helper instead of staying in every monitor (its USS)."""
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper
            os.close(r)
            os.write(w, json.dumps(self._create_and_start(console)).encode() + b"\n")
            os._exit(0)
        os.close(w)
        # One line, not EOF: the container's init, forked by the helper, holds the pipe until its
        # execve (close-on-exec), which waits for our start.
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        self.helper = pid  # reaped once the result is passed on: its exit takes ~1 ms
        if not chunks:
            return {"error": "the monitor's helper died before it reported"}
        doc: dict[str, Any] = json.loads(b"".join(chunks))
        return doc

    def _create_and_start(self, console: socket.socket | None) -> dict[str, Any]:
        from dockyard.runtime.container import CreateOptions, ExecOptions, Runtime

        cfg = self.cfg
        runtime = Runtime(cfg.runtime_root)
        try:
            if cfg.process is not None:
                from dockyard.oci.runtime_spec import Process

                pid_file = os.path.join(cfg.state_dir, PID_FILE)
                runtime.exec(cfg.container_id, Process.from_json(cfg.process),
                             ExecOptions(detach=True, pid_file=pid_file), console=console)
                with open(pid_file) as f:
                    return {"pid": int(f.read().strip())}
            state = runtime.create(cfg.container_id, cfg.bundle, CreateOptions(), console=console)
            runtime.start(cfg.container_id)
            return {"pid": state.pid, "cgroup_paths": dict(state.cgroup_paths)}
        except BaseException as err:
            if cfg.process is None:
                try:
                    runtime.delete(cfg.container_id, force=True)
                except Exception:
                    pass
            return {"error": _message(err), "kind": type(err).__name__}

    def _accept_pending(self) -> None:
        """Take the connections already waiting (attaches made before the start) into the loop."""
        self.listener.setblocking(False)
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                break
            self._add_client(conn)
            # Their request line is already buffered: read it now, before any output exists.
            client = self.clients[conn.fileno()]
            conn.setblocking(True)
            conn.settimeout(1.0)
            try:
                while b"\n" not in client.inbuf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    client.inbuf += chunk
            except OSError:
                pass
            conn.setblocking(False)
            self._process_input(client)

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self, pidfd: int, oom_before: int) -> None:
        sel = self.sel
        sel.register(pidfd, selectors.EVENT_READ, "pid")
        sel.register(self.listener, selectors.EVENT_READ, "listen")
        self.control.sock.setblocking(False)
        self._register(self.control)
        for client in list(self.clients.values()):
            self._register(client)
        for fd in self.out_fds:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, "out")
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            os.set_blocking(self.stdin_fd, False)
        drain_deadline: float | None = None
        while True:
            timeout = None if drain_deadline is None else max(0.0, drain_deadline - time.monotonic())
            for key, mask in sel.select(timeout):
                tag = key.data
                if tag == "pid":
                    self._reap(oom_before)
                    sel.unregister(pidfd)
                    os.close(pidfd)
                    drain_deadline = time.monotonic() + _DRAIN_TIMEOUT
                elif tag == "listen":
                    self._accept()
                elif tag == "out":
                    self._read_output(int(key.fd))
                elif tag == "stdin":
                    self._write_stdin()
                elif isinstance(tag, _Client):
                    if mask & selectors.EVENT_READ:
                        self._read_client(tag)
                    if mask & selectors.EVENT_WRITE and not tag.closed:
                        self._write_client(tag)
            if self.exited is not None and (not self.out_fds or time.monotonic() >= (drain_deadline or 0)):
                break
        self._finish()

    def _register(self, client: _Client) -> None:
        events = selectors.EVENT_READ if not client.read_closed else 0
        if client.outbuf:
            events |= selectors.EVENT_WRITE
        set_interest(self.sel, client.sock.fileno(), events, client)

    def _add_client(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        client = _Client(conn)
        self.clients[conn.fileno()] = client

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self._add_client(conn)
            self._register(self.clients[conn.fileno()])

    def _read_client(self, client: _Client) -> None:
        try:
            data = client.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            client.read_closed = True
            if client.kind == "attach" and client.stdin and self._closes_stdin():
                self._close_stdin()
            if client.kind == "control" and client is not self.control:
                self._drop(client)
                return
            if client.kind == "new":
                self._drop(client)
                return
            self._register(client)
            return
        client.inbuf += data
        self._process_input(client)

    def _process_input(self, client: _Client) -> None:
        if client.kind == "new":
            if b"\n" not in client.inbuf:
                return
            line, _, rest = bytes(client.inbuf).partition(b"\n")
            client.inbuf = bytearray(rest)
            try:
                request = json.loads(line)
                op = request.get("op")
            except (ValueError, AttributeError):
                self._drop(client)
                return
            if op == "attach":
                client.kind = "attach"
                client.want = {s for s, name in ((STDOUT, "stdout"), (STDERR, "stderr")) if request.get(name)}
                client.stdin = bool(request.get("stdin"))  # used only while the container has a stdin
            elif op == "watch":
                client.kind = "control"
                if self.exited is not None:
                    self._send(client, self.exited.to_json())
                else:
                    self._send(client, {"event": "running", "pid": self.pid, "started_at": self.started_at})
            else:
                self._drop(client)
                return
        if client.kind == "attach":
            if client.inbuf:
                if client.stdin and self.stdin_fd >= 0 and not self.stdin_closing:
                    self.stdin_buf += client.inbuf
                    self._write_stdin()
                client.inbuf.clear()
        elif client.kind == "control":
            while b"\n" in client.inbuf:
                line, _, rest = bytes(client.inbuf).partition(b"\n")
                client.inbuf = bytearray(rest)
                try:
                    self._control(json.loads(line))
                except (ValueError, TypeError, KeyError, OSError):
                    continue

    def _closes_stdin(self) -> bool:
        """StdinOnce: the end of an attached stdin closes the container's, as dockerd does it only
        without a tty (a terminal is not "closed"; a detached client must be able to come back)."""
        return self.cfg.stdin_once and not self.cfg.tty

    def _control(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "resize" and self.master >= 0:
            from dockyard.runtime.linux.terminal import set_size

            set_size(self.master, int(request["height"]), int(request["width"]))
            if self.pid:
                try:
                    os.kill(self.pid, signal.SIGWINCH)
                except ProcessLookupError:
                    pass
        elif op == "close-stdin":
            self._close_stdin()

    # -- stdin ----------------------------------------------------------------------------------

    def _write_stdin(self) -> None:
        if self.stdin_fd < 0:
            self.stdin_buf.clear()
            return
        while self.stdin_buf:
            try:
                n = os.write(self.stdin_fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError:
                self.stdin_buf.clear()
                self._close_stdin(force=True)
                return
            del self.stdin_buf[:n]
        want_write = bool(self.stdin_buf) and self.stdin_fd != self.master
        if self.stdin_fd != self.master:
            try:
                self.sel.get_key(self.stdin_fd)
                if not want_write:
                    self.sel.unregister(self.stdin_fd)
            except KeyError:
                if want_write:
                    self.sel.register(self.stdin_fd, selectors.EVENT_WRITE, "stdin")
        if not self.stdin_buf and self.stdin_closing:
            self._close_stdin(force=True)

    def _close_stdin(self, force: bool = False) -> None:
        if self.stdin_fd < 0:
            return
        if self.stdin_buf and not force:
            self.stdin_closing = True
            return
        if self.stdin_fd != self.master:
            try:
                self.sel.unregister(self.stdin_fd)
            except KeyError:
                pass
            os.close(self.stdin_fd)
        self.stdin_fd = -1
        self.stdin_buf.clear()

    # -- output ---------------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno != errno.EIO:  # EIO: the pty's last slave is closed
                raise
            data = b""
        stream = self.out_fds[fd]
        if not data:
            self.sel.unregister(fd)
            del self.out_fds[fd]
            if fd != self.master:
                os.close(fd)
            return
        if self.log is not None:
            self.log.write(_STREAM_NAMES[stream], data)
        payload = data if self.cfg.tty else frame(stream, data)
        for client in list(self.clients.values()):
            if client.kind == "attach" and stream in client.want and not client.closed:
                client.outbuf += payload
                if len(client.outbuf) > _CLIENT_BUFFER_LIMIT:
                    self._drop(client)
                else:
                    self._write_client(client)

    # -- clients --------------------------------------------------------------------------------

    def _send(self, client: _Client, doc: dict[str, Any]) -> None:
        if client.closed:
            return
        client.outbuf += json.dumps(doc).encode() + b"\n"
        if client.sock.fileno() in self.clients or client is self.control:
            self._write_client(client)

    def _write_client(self, client: _Client) -> None:
        while client.outbuf:
            try:
                n = client.sock.send(client.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(client)
                return
            del client.outbuf[:n]
        if self.sel.get_map() is not None and (client is self.control or client.sock.fileno() in self.clients):
            try:
                self._register(client)
            except (ValueError, KeyError):
                pass

    def _flush_blocking(self, client: _Client) -> None:
        if client.closed:
            return
        try:
            client.sock.setblocking(True)
            client.sock.settimeout(5)
            client.sock.sendall(client.outbuf)
        except OSError:
            pass
        client.outbuf.clear()

    def _drop(self, client: _Client) -> None:
        if client.closed:
            return
        client.closed = True
        fd = client.sock.fileno()
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        self.clients.pop(fd, None)
        if client.kind == "attach" and client.stdin and self._closes_stdin():
            self._close_stdin()
        client.sock.close()

    # -- exit -----------------------------------------------------------------------------------

    def _oom_count(self) -> int:
        if not self.cgroup_paths:
            return 0
        try:
            from dockyard.runtime import cgroups

            return cgroups.load_manager(self.cgroup_paths).oom_kill_count()
        except Exception:
            return 0

    def _reap(self, oom_before: int) -> None:
        status = 0
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 255 << 8
        code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        self._stop_proxy()  # the ports are released before the exit is reported
        oom = self._oom_count() > oom_before
        self.exited = ExitRecord(exit_code=code, oom_killed=oom, started_at=self.started_at,
                                 finished_at=now_rfc3339(), pid=self.pid)
        self._close_stdin(force=True)

    def _finish(self) -> None:
        from dockyard.runtime.container import Runtime

        assert self.exited is not None
        for fd in list(self.out_fds):
            self._read_output_all(fd)
        if self.log is not None:
            self.log.close()
        if self.cfg.process is None:
            try:
                Runtime(self.cfg.runtime_root).delete(self.cfg.container_id, force=True)
            except Exception as err:
                self.exited.error = _message(err)
        _write_atomic(os.path.join(self.cfg.state_dir, EXIT_FILE), json.dumps(self.exited.to_json()).encode())
        try:
            os.unlink(self.cfg.socket_path)
        except OSError:
            pass
        record = self.exited.to_json()
        for client in [self.control, *self.clients.values()]:
            if client.kind == "control":
                self._send(client, record)
        for client in [self.control, *self.clients.values()]:
            self._flush_blocking(client)
            try:
                client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.sock.close()

    def _read_output_all(self, fd: int) -> None:
        """Whatever is still buffered in a pipe after the drain deadline, then close it."""
        while fd in self.out_fds:
            try:
                data = os.read(fd, _READ_SIZE)
            except OSError:
                data = b""
            if not data:
                break
            stream = self.out_fds[fd]
            if self.log is not None:
                self.log.write(_STREAM_NAMES[stream], data)
            payload = data if self.cfg.tty else frame(stream, data)
            for client in self.clients.values():
                if client.kind == "attach" and stream in client.want and not client.closed:
                    client.outbuf += payload
        if fd in self.out_fds:
            try:
                self.sel.unregister(fd)
            except KeyError:
                pass
            del self.out_fds[fd]
            if fd != self.master:
                os.close(fd)


def _log(cfg: MonitorConfig, text: str) -> None:
    """A line in the monitor's own log (its state directory's monitor.log)."""
    with contextlib.suppress(OSError), open(os.path.join(cfg.state_dir, MONITOR_LOG), "a") as f:
        f.write(f"{now_rfc3339()} {text}\n")


def _message(err: BaseException) -> str:
    return str(err) or type(err).__name__


def _write_atomic(path: str, data: bytes) -> None:
    """Temp file and rename: a reader sees the old file or the new one, never half of one.

    No fsync: the exec root is a tmpfs in production, and a machine crash kills the container
    (and the record's meaning) anyway."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _open_log(cfg: MonitorConfig) -> Any:
    from pathlib import Path

    from dockyard.engine import logs

    return logs.JSONFileWriter(Path(cfg.log_path), logs.parse_log_options(cfg.log_options))
