"""The transport: API version negotiation, keep-alive, unix vs tcp, TLS with client certificates
(a TLS front end on loopback in front of the daemon's socket), DOCKYARD_HOST and -H."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from dockyard.cli.client import MAX_API_VERSION, version_tuple
from tests.cli.daemons import DOCKYARD, Created, Daemon
from tests.cli.recorder import recording_proxy


def test_negotiates_the_api_version_once(daemon: Daemon, tmp_path: Path) -> None:
    server = daemon.ok("version", "--format", "{{.Server.ApiVersion}}").strip()
    expected = server if version_tuple(server) < version_tuple(MAX_API_VERSION) else MAX_API_VERSION
    with recording_proxy(daemon.host[len("unix://"):], tmp_path / "p.sock") as (address, recorder):
        assert daemon.dockyard("-H", address, "ps", "-a").returncode == 0
        requests = recorder.requests()
    assert [r.path for r in requests] == ["/_ping", f"/v{expected}/containers/json?all=1"]
    assert requests[1].headers["user-agent"].startswith("dockyard-cli/")
    assert len(recorder.connections) == 1  # the ping's connection is reused


def test_api_version_from_the_environment(daemon: Daemon, tmp_path: Path) -> None:
    with recording_proxy(daemon.host[len("unix://"):], tmp_path / "p.sock") as (address, recorder):
        assert daemon.dockyard("-H", address, "ps", env={"DOCKYARD_API_VERSION": "1.24"}).returncode == 0
        assert [r.path for r in recorder.requests()] == ["/v1.24/containers/json"]


def test_host_selection(daemon: Daemon, tmp_path: Path) -> None:
    bare = subprocess.run([*DOCKYARD, "ps"], capture_output=True, env={
        **daemon.env(), "DOCKYARD_HOST": "", "DOCKER_HOST": daemon.host}, check=False)
    # DOCKER_HOST is Docker's: dockyard stays on its own default socket
    assert bare.returncode == 1 and b"unix:///run/dockyard.sock" in bare.stderr
    path_only = daemon.dockyard("-H", daemon.host[len("unix://"):], "ps")
    assert path_only.returncode == 0
    two = daemon.dockyard("-H", daemon.host, "-H", daemon.host, "ps")
    assert two.returncode == 1 and two.stderr == b"Specify only one -H\n"


def test_plain_tcp_and_hijack(daemon: Daemon, created: Created) -> None:
    with recording_proxy(daemon.host[len("unix://"):], tcp=True) as (address, _):
        assert daemon.dockyard("-H", address, "version").returncode == 0
        run = daemon.dockyard("-H", address, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; exit 3",
                              input=b"over tcp\n")
        assert (run.returncode, run.stdout) == (3, b"over tcp\n")
    unreachable = daemon.dockyard("-H", "tcp://127.0.0.1:1", "ps")
    assert unreachable.returncode == 1
    assert unreachable.stderr == b"Cannot connect to the dockyard daemon at tcp://127.0.0.1:1. Is the dockyard " \
                                 b"daemon running?\n"


def _certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl's CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=dockyard test CA")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem", "-out", f"{who}.csr", "-subj",
                f"/CN={who}")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext")
    return {name: directory / f"{name}.pem" for name in ("ca", "server", "server-key", "client", "client-key")}


def test_tls_with_client_certificates(daemon: Daemon, tmp_path: Path) -> None:
    certs = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server"], certs["server-key"])
    context.load_verify_locations(certs["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    tls = ["--tlsverify", "--tlscacert", str(certs["ca"]), "--tlscert", str(certs["client"]), "--tlskey",
           str(certs["client-key"])]
    with recording_proxy(daemon.host[len("unix://"):], tcp=True, tls=context) as (address, recorder):
        ok = daemon.dockyard("-H", address, *tls, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; exit 4",
                             input=b"over tls\n")  # stdin's end crosses TLS as a close_notify
        assert (ok.returncode, ok.stdout) == (4, b"over tls\n"), ok.stderr
        assert any(r.path.endswith("/start") for r in recorder.requests())
        by_env = daemon.dockyard("-H", address, "ps", "-q", env={"DOCKYARD_TLS_VERIFY": "1",
                                                                  "DOCKYARD_CERT_PATH": str(tmp_path)})
        # DOCKYARD_CERT_PATH holds ca.pem, cert.pem, key.pem
        assert by_env.returncode == 1  # cert.pem/key.pem are not there under those names: refused
        shutil.copy(certs["client"], tmp_path / "cert.pem")
        shutil.copy(certs["client-key"], tmp_path / "key.pem")
        by_env = daemon.dockyard("-H", address, "ps", "-q", env={"DOCKYARD_TLS_VERIFY": "1",
                                                                  "DOCKYARD_CERT_PATH": str(tmp_path)})
        assert by_env.returncode == 0, by_env.stderr
        no_cert = daemon.dockyard("-H", address, "--tlsverify", "--tlscacert", str(certs["ca"]), "--tlscert",
                                  str(tmp_path / "none.pem"), "--tlskey", str(tmp_path / "none.pem"), "ps")
        assert no_cert.returncode == 1
        wrong_ca = daemon.dockyard("-H", address, "--tlsverify", "--tlscacert", str(certs["client"]),
                                   "--tlscert", str(certs["client"]), "--tlskey", str(certs["client-key"]), "ps")
        assert wrong_ca.returncode == 1 and b"CERTIFICATE_VERIFY_FAILED" in wrong_ca.stderr
