"""`docker exec`: records of exec processes and their monitors.

An exec is created (POST /containers/{id}/exec: a record only), then started: the daemon forks an
exec monitor (monitor.py, with `process` set) which runs `Runtime.exec` from the warm fork and
holds the process's stdio exactly as a container's monitor does (without a json-file log, as
Docker). Records live in memory, as Docker's exec store: a restarted daemon forgets them (the
processes run on under their monitors).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.engine import monitor as mon
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


@dataclass
class ExecRecord:
    id: str
    container_id: str
    cmd: list[str]
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    env: list[str]
    user: str
    working_dir: str
    privileged: bool
    detach_keys: str
    console_size: tuple[int, int] = (0, 0)
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    monitor_pid: int = 0
    exited: threading.Event = field(default_factory=threading.Event)

    def inspect(self) -> dict[str, Any]:
        return {
            "CanRemove": False, "ContainerID": self.container_id, "DetachKeys": self.detach_keys,
            "ExitCode": self.exit_code, "ID": self.id, "OpenStderr": self.attach_stderr,
            "OpenStdin": self.attach_stdin, "OpenStdout": self.attach_stdout,
            "ProcessConfig": {"arguments": self.cmd[1:], "entrypoint": self.cmd[0] if self.cmd else "",
                              "privileged": self.privileged, "tty": self.tty, "user": self.user},
            "Running": self.running, "Pid": self.pid,
        }


class ExecManager:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self.records: dict[str, ExecRecord] = {}

    def get(self, exec_id: str) -> ExecRecord:
        with self._lock:
            record = self.records.get(exec_id)
        if record is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return record

    def create(self, ref: str, body: Any) -> str:
        if not isinstance(body, dict):
            raise InvalidArgument("json: cannot unmarshal into Go value of type types.ExecConfig")
        c = self.engine.get(ref)
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if c.state.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
            raise InvalidArgument("No exec command specified")
        size = body.get("ConsoleSize") or [0, 0]
        record = ExecRecord(
            id=secrets.token_hex(32), container_id=c.id, cmd=list(cmd), tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")), attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")), env=list(body.get("Env") or []),
            user=str(body.get("User") or ""), working_dir=str(body.get("WorkingDir") or ""),
            privileged=bool(body.get("Privileged")), detach_keys=str(body.get("DetachKeys") or ""),
            console_size=(int(size[0] or 0), int(size[1] or 0)),
        )
        with self._lock:
            self.records[record.id] = record
        self.engine.container_event(c, f"exec_create: {' '.join(record.cmd)}", {"execID": record.id})
        return record.id

    def start(self, exec_id: str, *, detach: bool = False, tty: bool | None = None,
              console_size: tuple[int, int] | None = None) -> socket.socket | None:
        """Start the exec; without detach, the attach connection to its monitor (Docker's stream format)."""
        record = self.get(exec_id)
        engine = self.engine
        with self._lock:
            if record.running:
                raise Conflict(f"Error: Exec command {exec_id} is already running")
            if record.started:
                raise Conflict(f"Error: Exec command {exec_id} has already run")
            record.started = True
        c = engine.get(record.container_id)
        if c.state.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        from dockyard.engine.engine import begin_cgroup_lock_wait

        begin_cgroup_lock_wait()  # the exec joins the container's cgroups
        if tty is not None:
            record.tty = tty
        if console_size and console_size[0] and console_size[1]:
            record.console_size = console_size
        process = self._process(record)
        state_dir = engine.state_dir(c.id) / "exec" / record.id
        cfg = mon.MonitorConfig(container_id=c.id, runtime_root=engine.runtime_root, state_dir=str(state_dir),
                                process=process, exec_id=record.id, tty=record.tty,
                                open_stdin=record.attach_stdin and not detach, stdin_once=True,
                                console_size=record.console_size)
        attaches = [] if detach else [{"stdin": record.attach_stdin, "stdout": record.attach_stdout,
                                       "stderr": record.attach_stderr}]
        spawned = mon.spawn(cfg, attaches, self.engine.zygote)
        buf = bytearray()
        spawned.control.settimeout(60)
        reply = mon.read_message(spawned.control, buf)
        spawned.control.settimeout(None)
        if reply is None or reply.get("event") != "started":
            spawned.control.close()
            for conn in spawned.attaches:
                conn.close()
            with contextlib.suppress(ChildProcessError):
                import os

                os.waitpid(spawned.pid, 0)
            shutil.rmtree(state_dir, ignore_errors=True)
            message = "exec monitor exited" if reply is None else str(reply.get("message"))
            record.exit_code = 126 if "permission denied" in message.lower() else 127 \
                if ("not found" in message or "no such file" in message.lower()) else 126
            record.exited.set()
            raise DockyardError(f"OCI runtime exec failed: {message}: unknown")
        with self._lock:
            record.running = True
            record.pid = int(reply["pid"])
            record.monitor_pid = spawned.pid
        engine._watcher.add(spawned.control, "e:" + record.id, bytes(buf))
        engine.container_event(c, f"exec_start: {' '.join(record.cmd)}", {"execID": record.id})
        return spawned.attaches[0] if spawned.attaches else None

    def _process(self, record: ExecRecord) -> dict[str, Any]:
        """The exec's OCI process: the container's (from its config.json) with the exec's command,
        environment on top of the container's, working directory, user and terminal."""
        bundle = self.engine.state_dir(record.container_id)
        with open(bundle / "config.json", "rb") as f:
            process: dict[str, Any] = dict(json.loads(f.read()).get("process") or {})
        env = list(process.get("env") or [])
        for entry in record.env:
            key = entry.partition("=")[0]
            env = [e for e in env if e.partition("=")[0] != key]
            env.append(entry)
        process.update(args=list(record.cmd), env=env, terminal=record.tty)
        process.pop("consoleSize", None)
        if record.console_size[0] and record.console_size[1]:
            process["consoleSize"] = {"height": record.console_size[0], "width": record.console_size[1]}
        if record.working_dir:
            process["cwd"] = record.working_dir
        if record.user:
            process["user"] = self._user(record)
        return process

    def _user(self, record: ExecRecord) -> dict[str, Any]:
        from pathlib import Path

        from dockyard.engine.user import resolve_user

        found = resolve_user(Path(self.engine.rootfs_dir(record.container_id)), record.user)
        return {"uid": found.uid, "gid": found.gid, "additionalGids": list(found.additional_gids)}

    def on_event(self, exec_id: str, message: dict[str, Any] | None) -> None:
        with self._lock:
            record = self.records.get(exec_id)
        if record is None:
            return
        if message is None and record.monitor_pid:
            _reap(record.monitor_pid)  # the monitor closes its end as it exits
        if record.exited.is_set():
            return
        if message is None:
            state_dir = self.engine.state_dir(record.container_id) / "exec" / exec_id
            exit_record = mon.read_exit_file(str(state_dir))
            code = exit_record.exit_code if exit_record is not None else 126
        elif message.get("event") == "exit":
            code = int(message.get("exit_code", 0))
        else:
            return
        with self._lock:
            record.running = False
            record.exit_code = code
        shutil.rmtree(self.engine.state_dir(record.container_id) / "exec" / exec_id, ignore_errors=True)
        record.exited.set()
        with contextlib.suppress(DockyardError):
            c = self.engine.get(record.container_id)
            self.engine.container_event(c, "exec_die", {"execID": exec_id, "exitCode": str(code)})

    def resize(self, exec_id: str, height: int, width: int) -> None:
        record = self.get(exec_id)
        if not record.running:
            raise Conflict(f"Exec {exec_id} is not running")
        self.engine._watcher.send("e:" + exec_id, {"op": "resize", "height": height, "width": width})

    def wait(self, exec_id: str, timeout: float) -> bool:
        return self.get(exec_id).exited.wait(timeout)

    def run(self, container_id: str, argv: list[str], timeout: float) -> tuple[int, bytes]:
        """Run `argv` in the container and collect its output (healthchecks); -1 on timeout."""
        import time

        exec_id = self.create(container_id, {"Cmd": argv, "AttachStdout": True, "AttachStderr": True})
        conn = self.start(exec_id)
        output = bytearray()
        deadline = time.monotonic() + timeout
        if conn is not None:
            with conn:
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                buf = bytearray()
                try:
                    while True:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                        while len(buf) >= 8:
                            size = int.from_bytes(buf[4:8], "big")
                            if len(buf) < 8 + size:
                                break
                            output += buf[8:8 + size]
                            del buf[:8 + size]
                        conn.settimeout(max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    record = self.get(exec_id)
                    if record.pid:
                        with contextlib.suppress(OSError):
                            import os
                            import signal

                            os.kill(record.pid, signal.SIGKILL)
                    return -1, bytes(output)
        record = self.get(exec_id)
        record.exited.wait(max(0.1, deadline - time.monotonic()))
        with self._lock:
            self.records.pop(exec_id, None)
        return (record.exit_code if record.exit_code is not None else -1), bytes(output)

    def forget_container(self, container_id: str) -> None:
        with self._lock:
            for exec_id in [k for k, r in self.records.items() if r.container_id == container_id]:
                del self.records[exec_id]

    def ids_of(self, container_id: str) -> list[str]:
        with self._lock:
            return [k for k, r in self.records.items() if r.container_id == container_id]

    def close(self) -> None:
        pass


def _reap(pid: int) -> None:
    """Wait for a monitor of ours that is exiting (it closed its control socket as its last act)."""
    import os

    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


__all__ = ["ExecManager", "ExecRecord"]
