"""Image endpoints through the docker CLI, prunes, the websocket attach, resize, SIGHUP."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers.dockyardd import Dockyardd, busybox_layer_tar


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def test_import_save_load(dockyardd: Dockyardd, tmp_path: Path) -> None:
    image_id = ok(dockyardd.docker("import", "-c", 'CMD ["echo", "imported"]', "-", "imported:1",
                                   input=busybox_layer_tar())).strip()
    assert image_id.startswith("sha256:")
    assert ok(dockyardd.docker("run", "--rm", "imported:1")) == "imported\n"
    archive = tmp_path / "saved.tar"
    ok(dockyardd.docker("save", "-o", str(archive), "imported:1"))
    ok(dockyardd.docker("rmi", "imported:1"))
    assert dockyardd.docker("image", "inspect", "imported:1").returncode == 1
    loaded = ok(dockyardd.docker("load", "-i", str(archive)))
    assert "Loaded image: imported:1" in loaded
    assert ok(dockyardd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "imported")).split() == ["imported:1"]
    history = ok(dockyardd.docker("history", "--format", "{{.CreatedBy}}", "imported:1"))
    assert history.strip() == ""  # an imported layer has no command
    ok(dockyardd.docker("rmi", "imported:1"))


def test_rmi_of_image_in_use_and_prunes(dockyardd: Dockyardd) -> None:
    ok(dockyardd.docker("tag", "busybox", "pinned:1"))
    cid = ok(dockyardd.docker("create", "pinned:1", "true")).strip()
    r = dockyardd.docker("rmi", "busybox")  # still tagged as pinned:1: only the name goes
    assert ok(r).startswith("Untagged: busybox:latest")
    ok(dockyardd.docker("tag", "pinned:1", "busybox"))
    ok(dockyardd.docker("rmi", "pinned:1"))
    exited = ok(dockyardd.docker("run", "-d", "busybox", "true")).strip()
    ok(dockyardd.docker("wait", exited))
    pruned = ok(dockyardd.docker("container", "prune", "-f"))
    assert cid in pruned and exited in pruned
    assert ok(dockyardd.docker("ps", "-aq", "--no-trunc")).split() == []
    assert "Total reclaimed space" in ok(dockyardd.docker("image", "prune", "-f"))


def test_attach_websocket(dockyardd: Dockyardd) -> None:
    import aiohttp

    cid = ok(dockyardd.docker("run", "-d", "-i", "busybox", "sh", "-c", "read x; echo got:$x; sleep 0.5")).strip()

    async def talk() -> bytes:
        connector = aiohttp.UnixConnector(path=str(dockyardd.socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"http://docker/v1.43/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1"
            async with session.ws_connect(url) as ws:
                await ws.send_bytes(b"hello\n")
                out = b""
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        out += msg.data
                    if b"got:hello" in out:
                        break
                return out

    assert b"got:hello\n" in asyncio.run(asyncio.wait_for(talk(), 20))
    ok(dockyardd.docker("rm", "-f", cid))


def test_resize_reaches_the_tty(dockyardd: Dockyardd) -> None:
    from tests.api.rawhttp import request

    cid = ok(dockyardd.docker("run", "-d", "-t", "busybox", "sh", "-c",
                              "trap 'stty size > /size' WINCH; while true; do sleep 0.1; done")).strip()
    try:
        time.sleep(0.3)
        status, _, _ = request(dockyardd.socket, "POST", f"/v1.43/containers/{cid}/resize?h=40&w=120")
        assert status == 200
        deadline = time.monotonic() + 10
        size = ""
        while time.monotonic() < deadline:
            r = dockyardd.docker("exec", cid, "cat", "/size")
            size = r.stdout.decode().strip()
            if size:
                break
            time.sleep(0.1)
        assert size == "40 120"
    finally:
        dockyardd.docker("rm", "-f", cid)


def test_sighup_reloads_config(dockyardd: Dockyardd) -> None:
    import os

    config = dockyardd.root / "daemon.json"
    config.write_text(json.dumps({"log-level": "debug"}))
    # The fixture's daemon has no --config-file: SIGHUP falls back to /etc/dockyard/daemon.json and
    # must not die when it is absent.
    os.kill(dockyardd.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert dockyardd.proc is not None and dockyardd.proc.poll() is None
    assert ok(dockyardd.docker("version", "--format", "{{.Server.APIVersion}}")) == "1.43\n"


def test_attach_logs_replay_without_stream(dockyardd: Dockyardd) -> None:
    from tests.api.rawhttp import request

    cid = ok(dockyardd.docker("run", "-d", "busybox", "sh", "-c", "echo out; echo err >&2")).strip()
    ok(dockyardd.docker("wait", cid))
    status, headers, body = request(dockyardd.socket, "POST",
                                    f"/v1.43/containers/{cid}/attach?logs=1&stream=0&stdout=1&stderr=1",
                                    headers={"Connection": "Upgrade", "Upgrade": "tcp"})
    assert status == 101 and headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert body == b"\x01\x00\x00\x00\x00\x00\x00\x04out\n\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    ok(dockyardd.docker("rm", cid))


def test_tls_listener(tmp_path: Path) -> None:
    import shutil
    import socket

    import pytest

    from tests.helpers.dockyardd import running_dockyardd

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=dockyard-test-ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (tmp_path / f"{name}.ext").write_text(ext + "\n")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
            "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"),
            "--tlscert", str(tmp_path / "server.pem"), "--tlskey", str(tmp_path / "server-key.pem")]
    with running_dockyardd(busybox=False, extra_args=args) as d:
        env = {**d.env(), "DOCKER_HOST": f"tcp://127.0.0.1:{port}"}
        tls = ["--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"), "--tlscert", str(tmp_path / "client.pem"),
               "--tlskey", str(tmp_path / "client-key.pem")]
        r = subprocess.run(["docker", *tls, "version", "--format", "{{.Server.APIVersion}}"], env=env,
                           capture_output=True, timeout=30)
        assert r.stdout == b"1.43\n", r.stderr
        no_cert = subprocess.run(["docker", "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"), "version"],
                                 env=env, capture_output=True, timeout=30)
        assert no_cert.returncode != 0
