"""Fixtures for the engine's building blocks: a reference dockerd (Debian's docker.io) whose runtime
records every config.json it is handed, and a recorder of the create bodies the docker CLI sends.

`ref_docker` starts one dockerd for the session with an extra runtime `capture`: a shell script that
copies `<bundle>/config.json` to a directory, then execs runc. A container started with `--runtime
capture` runs exactly as with runc, and its spec is kept even when runc then fails. The docker CLI
talks to dockerd through `CreateRecorder`, a byte-for-byte unix-socket relay that keeps what the
client sent, so a test can feed dockyard the same `POST /containers/create` body dockerd got.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.dockerd import Dockerd, _remove_cgroup_tree, _unmount_below, import_rootfs, running_dockerd

CAPTURE_SCRIPT = """#!/bin/sh
# Copies the bundle's config.json to {dir}/<id>.json on create, then runs runc.
prev=""; bundle=""; cmd=""; last=""
for a in "$@"; do
  if [ "$prev" = "--bundle" ]; then bundle="$a"; fi
  if [ "$a" = create ]; then cmd=create; fi
  prev="$a"; last="$a"
done
if [ "$cmd" = create ] && [ -n "$bundle" ]; then cp "$bundle/config.json" "{dir}/$last.json"; fi
exec runc "$@"
"""


class CreateRecorder:
    """A unix-socket relay in front of dockerd that keeps every byte clients send."""

    def __init__(self, listen: Path, upstream: Path) -> None:
        self.listen = listen
        self.upstream = upstream
        self._streams: list[bytearray] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(listen))
        self._server.listen(16)
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            sent = bytearray()
            with self._lock:
                self._streams.append(sent)
            t = threading.Thread(target=self._relay, args=(client, sent), daemon=True)
            t.start()
            self._threads.append(t)

    def _relay(self, client: socket.socket, sent: bytearray) -> None:
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
            try:
                up.connect(str(self.upstream))
            except OSError:
                return
            back = threading.Thread(target=self._pump, args=(up, client, None), daemon=True)
            back.start()
            self._pump(client, up, sent)
            back.join()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if keep is not None:
                    keep.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)  # pass the half-close on; the other direction goes on
            except OSError:
                pass

    def clear(self) -> None:
        with self._lock:
            self._streams = []

    def create_bodies(self) -> list[bytes]:
        """The bodies of every `POST .../containers/create` seen since `clear()`."""
        out = []
        with self._lock:
            streams = [bytes(s) for s in self._streams]
        for stream in streams:
            for method, target, body in _requests(stream):
                if method == "POST" and target.split("?", 1)[0].endswith("/containers/create"):
                    out.append(body)
        return out

    def close(self) -> None:
        self._server.close()
        for t in self._threads:
            t.join(timeout=1)


def _requests(stream: bytes) -> Iterator[tuple[str, str, bytes]]:
    pos = 0
    while True:
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        head = stream[pos:end].decode("latin-1").split("\r\n")
        try:
            method, target, _ = head[0].split(" ", 2)
        except ValueError:
            return
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        pos = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                line_end = stream.find(b"\r\n", pos)
                if line_end < 0:
                    return
                size = int(stream[pos:line_end].split(b";")[0], 16)
                pos = line_end + 2
                body.extend(stream[pos:pos + size])
                pos += size + 2
                if size == 0:
                    break
            yield method, target, bytes(body)
        else:
            length = int(headers.get("content-length", "0"))
            yield method, target, stream[pos:pos + length]
            pos += length
        if headers.get("upgrade") or headers.get("connection", "").lower() == "upgrade":
            return


@dataclass
class RefDocker:
    """The reference dockerd, reached through the recorder."""

    daemon: Dockerd
    recorder: CreateRecorder
    captured: Path
    host: str
    image_configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def data_root(self) -> Path:
        return self.daemon.root / "data"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], input=input, capture_output=True, env=self.env(), timeout=timeout)

    def inspect(self, what: str, kind: str = "container") -> dict[str, Any]:
        out = self.docker(kind, "inspect", what)
        assert out.returncode == 0, out.stderr.decode()
        value = json.loads(out.stdout)[0]
        assert isinstance(value, dict)
        return value

    def captured_spec(self, container_id: str) -> dict[str, Any] | None:
        path = self.captured / f"{container_id}.json"
        if not path.exists():
            return None
        value = json.loads(path.read_text())
        assert isinstance(value, dict)
        return value


@pytest.fixture(scope="session")
def ref_docker(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Iterator[RefDocker]:
    base = tmp_path_factory.mktemp("refdocker")
    captured = base / "captured"
    captured.mkdir()
    script = base / "capture-runc"
    script.write_text(CAPTURE_SCRIPT.format(dir=captured))
    script.chmod(0o755)
    with running_dockerd(base / "d", runtimes={"capture": str(script)}) as daemon:
        recorder = CreateRecorder(base / "relay.sock", daemon.socket)
        try:
            ref = RefDocker(daemon, recorder, captured, f"unix://{base / 'relay.sock'}")
            import_rootfs(daemon, busybox_rootfs, "busybox:latest")
            tar = subprocess.run(["tar", "-C", str(busybox_rootfs), "-c", "."], capture_output=True, check=True).stdout
            changes = ["USER www-data", "WORKDIR /var/www", "ENV APP=demo PATH=/usr/local/bin:/usr/bin:/bin",
                       'ENTRYPOINT ["/bin/sh", "-c"]', 'CMD ["sleep 300"]', "VOLUME /data", "EXPOSE 8080/tcp",
                       "LABEL from=image"]
            args = [arg for c in changes for arg in ("-c", c)]
            made = daemon.docker("import", *args, "-", "dyimage:base", input=tar)
            assert made.returncode == 0, made.stderr.decode()
            # STOPSIGNAL and HEALTHCHECK cannot be import changes: commit a container that has them
            for step in (["create", "--name", "dyimage-base", "--stop-signal", "SIGUSR1", "--health-cmd", "true",
                          "--health-interval", "7s", "dyimage:base"],
                         ["commit", "dyimage-base", "dyimage:latest"], ["rm", "dyimage-base"]):
                done = daemon.docker(*step)
                assert done.returncode == 0, done.stderr.decode()
            yield ref
        finally:
            recorder.close()
    # The dockerd above removed its containers; the --cgroup-parent a spec case named is ours to remove.
    _remove_cgroup_tree("/dockyard-spec-test")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def clean_tmp(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, with whatever a test mounted under it unmounted and everything removed, pass or fail."""
    yield tmp_path
    _unmount_below(tmp_path)
    shutil.rmtree(tmp_path, ignore_errors=True)
