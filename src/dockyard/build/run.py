"""RUN: one container on a build step's filesystem, its output streamed back as it comes.

    status = run_step(RunRequest(container_id, bundle, rootfs, config, ...), on_output)

The container is made as `docker run` makes one (engine.spec.build_spec: Docker's capabilities,
seccomp profile, masked paths, /etc/hosts, /etc/hostname and /etc/resolv.conf of its own, the
hostname = the first 12 characters of its id), with the step's Cmd, Env (plus the build
arguments), User and WorkingDir, no health check, stdin from /dev/null and stdout/stderr to two
pipes. The network is the build's `--network`: `host` shares the host's, anything else gives the
container a namespace of its own (loopback only: dockyard has no bridge for builds).

The runtime is dockyard's own library (runtime.container.Runtime). It takes the container's stdio
from the calling process's fds 0/1/2, so it runs in a forked child (as the engine's monitor
does) that points those at the pipes; the parent reads both pipes and waits for the child, whose
exit status is the container's. A container that cannot start reports the runtime's message.

`prepare_init_layer` writes what Docker's init layer holds (/.dockerenv, /etc/hosts, /etc/mtab
-> /proc/mounts, /dev/console, ...) so a RUN sees the same tree as under Docker, without those
files entering the step's layer.
"""

from __future__ import annotations

import os
import selectors
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.build.commit import copy_config
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.fds import close_fds_except
from dockyard.oci import runtime_spec as rs
from dockyard.oci.image_spec import ContainerConfig

__all__ = ["INIT_LAYER", "RunFailedToStart", "RunRequest", "prepare_init_layer", "run_step"]

# Docker's initlayer.Setup: path -> "dir", "file" or a symlink target.
INIT_LAYER = (
    ("/dev/pts", "dir"), ("/dev/shm", "dir"), ("/proc", "dir"), ("/sys", "dir"), ("/.dockerenv", "file"),
    ("/etc/resolv.conf", "file"), ("/etc/hosts", "file"), ("/etc/hostname", "file"), ("/dev/console", "file"),
    ("/etc/mtab", "/proc/mounts"),
)


class RunFailedToStart(DockyardError):
    """The RUN container could not be started (the runtime's message)."""


def prepare_init_layer(upper: str) -> None:
    """Fill an empty directory with Docker's init layer."""
    for path, kind in INIT_LAYER:
        target = os.path.join(upper, path.lstrip("/"))
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755, exist_ok=True)
        if os.path.lexists(target):
            continue
        if kind == "dir":
            os.mkdir(target, 0o755)
        elif kind == "file":
            fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755)
            os.close(fd)
        else:
            os.symlink(kind, target)


@dataclass
class RunRequest:
    container_id: str
    bundle: Path  # a fresh directory: config.json, the host files, the runtime log
    rootfs: Path  # the mounted step filesystem
    config: ContainerConfig  # Cmd, Env, User, WorkingDir of the container
    runtime_root: str
    cgroup_parent: str = "/dockyard"
    network_mode: str = "default"
    extra_hosts: list[str] = field(default_factory=list)
    extra_mounts: list[rs.Mount] = field(default_factory=list)
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    shm_size: int = 0


def _spec(req: RunRequest) -> rs.Spec:
    from dockyard.engine import config as ecfg
    from dockyard.engine import hostfiles
    from dockyard.engine import spec as espec

    network = req.network_mode or "default"
    if network not in ("default", "bridge", "host", "none"):
        raise InvalidArgument(f"network mode {network!r} is not supported for builds (default, host, none)")
    host = ecfg.apply_defaults(ecfg.HostConfig(
        network_mode=network, extra_hosts=list(req.extra_hosts) or None, memory=req.memory,
        memory_swap=req.memory_swap, cpu_shares=req.cpu_shares, cpu_period=req.cpu_period, cpu_quota=req.cpu_quota,
        cpuset_cpus=req.cpuset_cpus, cpuset_mems=req.cpuset_mems, shm_size=req.shm_size))
    hostname = espec.container_hostname(req.config, host, req.container_id)
    files = hostfiles.write_hostfiles(req.bundle, hostname=hostname, extra_hosts=list(req.extra_hosts) or None,
                                      network_mode=network)
    config = copy_config(req.config)
    config.hostname = hostname
    return espec.build_spec(espec.SpecInput(
        container_id=req.container_id, config=config, host_config=host, rootfs=req.rootfs, mounts=req.extra_mounts,
        hostfiles=files, default_cgroup_parent=req.cgroup_parent))


def run_step(req: RunRequest, on_output: Callable[[int, bytes], None]) -> int:
    """Run the container to its end; `on_output(1 or 2, data)` as output arrives. Returns the
    exit status (128 + n for a signal). RunFailedToStart when it could not be started."""
    from dockyard.engine import spec as espec
    from dockyard.runtime import log as runtime_log
    from dockyard.runtime.container import CreateOptions, Runtime

    spec = _spec(req)
    espec.write_config(req.bundle, spec)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    msg_r, msg_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (out_r, out_w, err_r, err_w, msg_r, msg_w):
            os.close(fd)
        raise
    if pid == 0:  # pragma: no cover - the child
        code = 125
        try:
            os.setsid()
            try:
                signal.set_wakeup_fd(-1)
            except ValueError:
                pass
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            close_fds_except({msg_w})
            runtime_log.configure(str(req.bundle / "runtime.log"))
            try:
                code = Runtime(req.runtime_root).run(req.container_id, str(req.bundle), CreateOptions())
            except DockyardError as err:
                os.write(msg_w, str(err).encode(errors="replace"))
                code = 125
        except BaseException:
            try:
                os.write(msg_w, traceback.format_exc().encode(errors="replace"))
            except OSError:
                pass
        os._exit(code)
    for fd in (out_w, err_w, msg_w):
        os.close(fd)
    message = b""
    try:
        _pump({out_r: 1, err_r: 2}, on_output)
        while True:
            chunk = os.read(msg_r, 65536)
            if not chunk:
                break
            message += chunk
    except BaseException:
        # the reader went away (a cancelled build): stop the container, let the child clean up
        try:
            Runtime(req.runtime_root).kill(req.container_id, signal.SIGKILL, all_processes=True)
        except (DockyardError, OSError):
            pass
        raise
    finally:
        for fd in (out_r, err_r, msg_r):
            try:
                os.close(fd)
            except OSError:
                pass
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if message:
        raise RunFailedToStart(f"OCI runtime create failed: {message.decode(errors='replace').strip()}: unknown")
    return code if code >= 0 else 128 - code


def _pump(fds: dict[int, int], on_output: Callable[[int, bytes], None]) -> None:
    sel = selectors.DefaultSelector()
    try:
        for fd, stream in fds.items():
            sel.register(fd, selectors.EVENT_READ, stream)
        open_fds = len(fds)
        while open_fds:
            for key, _ in sel.select():
                fd = key.fd
                data = os.read(fd, 65536)
                if not data:
                    sel.unregister(fd)
                    open_fds -= 1
                    continue
                on_output(key.data, data)
    finally:
        sel.close()


def command_with_shell(shell: Sequence[str] | None, cmd: list[str]) -> list[str]:
    return [*(shell or ["/bin/sh", "-c"]), *cmd]
