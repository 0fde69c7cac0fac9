"""Published ports against a real dockyardd, through the real docker CLI and ours: `-p` (fixed,
ephemeral, udp), `-P` with EXPOSE, what inspect/`port`/`ps` show, the port released at stop and
bound again at start/restart (also by a restart policy and across a daemon crash), and a port
already taken refused with dockerd's words and nothing left behind.

The daemon runs with `--ip 127.0.0.1` (dockerd's default binding address), so `-P` and `-p` without
an address publish on loopback only; every address the tests give is 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.dockyardd import Dockyardd, running_dockyardd

HTTPD = "mkdir -p /srv && echo hello from $HOSTNAME > /srv/index.html && exec httpd -f -p 80 -h /srv"


def failed_endpoint(name: str, detail: str) -> str:
    """A regular expression of dockerd's error for a port it could not publish (the endpoint id varies)."""
    return (re.escape(f"driver failed programming external connectivity on endpoint {name} (") + "[0-9a-f]{64}"
            + re.escape(f"): {detail}"))


@pytest.fixture(scope="module")
def d() -> Iterator[Dockyardd]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    with running_dockyardd(extra_args=["--ip", "127.0.0.1"]) as daemon:
        yield daemon


@pytest.fixture
def names(d: Dockyardd) -> Iterator[Callable[[str], str]]:
    """Container names for one test, removed afterwards whatever happened."""
    made: list[str] = []

    def name(prefix: str) -> str:
        made.append(f"{prefix}-{os.urandom(4).hex()}")
        return made[-1]

    try:
        yield name
    finally:
        if made:
            d.docker("rm", "-f", *made)


def ok(d: Dockyardd, *args: str) -> str:
    r = d.docker(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr, d.log())
    return r.stdout.decode()


def dockyard(d: Dockyardd, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_"))}
    env["DOCKYARD_HOST"] = d.host
    return subprocess.run([sys.executable, "-m", "dockyard.cli", *args], capture_output=True, env=env, timeout=60,
                          check=False)


def both(d: Dockyardd, *args: str) -> str:
    """`docker ARGS` and `dockyard ARGS`: the same status and output; the output."""
    theirs, ours = d.docker(*args), dockyard(d, *args)
    assert (ours.returncode, ours.stdout, ours.stderr) == \
        (theirs.returncode, theirs.stdout, theirs.stderr.replace(b"docker", b"dockyard")), args
    return theirs.stdout.decode()


def free_port() -> int:
    """A loopback port free for TCP and UDP a moment ago."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (connections the proxy closed may linger in TIME_WAIT:
    SO_REUSEADDR, as every server sets it, binds over those)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def get(port: int, timeout: float = 10) -> str:
    """GET / on 127.0.0.1:port, retried while the server in the container is not up yet (the proxy
    closes the connection when nothing listens there)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200
            return response.read().decode()
        except (ConnectionError, http.client.HTTPException, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            conn.close()


def ports_of(d: Dockyardd, name: str) -> dict[str, object]:
    ports: dict[str, object] = json.loads(ok(d, "inspect", "-f", "{{json .NetworkSettings.Ports}}", name))
    return ports


def test_published_tcp_port_serves_and_is_shown_as_docker_shows_it(d: Dockyardd, names: Callable[[str], str]) -> None:
    web, port = names("web"), free_port()
    ok(d, "run", "-d", "--name", web, "--hostname", "web", "-p", f"127.0.0.1:{port}:80", "--expose", "9000-9001",
       "busybox", "sh", "-c", HTTPD)
    assert get(port) == "hello from web\n"
    assert get(port) == "hello from web\n"  # one connection after another
    assert ports_of(d, web) == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}], "9000/tcp": None,
                                "9001/tcp": None}
    assert json.loads(ok(d, "inspect", "-f", "{{json .HostConfig.PortBindings}}", web)) == \
        {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert both(d, "port", web) == f"80/tcp -> 127.0.0.1:{port}\n"
    assert both(d, "port", web, "80") == both(d, "port", web, "80/tcp") == f"127.0.0.1:{port}\n"
    both(d, "port", web, "9000")  # exposed, not published: the CLI's error
    assert both(d, "ps", "--filter", f"name={web}", "--format", "{{.Ports}}") == \
        f"9000-9001/tcp, 127.0.0.1:{port}->80/tcp\n"
    table = both(d, "ps", "--filter", f"name={web}", "--format", "table {{.Names}}\t{{.Ports}}")
    assert table.splitlines()[1].split() == [web, "9000-9001/tcp,", f"127.0.0.1:{port}->80/tcp"]
    api = json.loads(ok(d, "ps", "--filter", f"name={web}", "--format", "{{json .}}"))
    assert api["Ports"] == f"9000-9001/tcp, 127.0.0.1:{port}->80/tcp"


def test_ps_publish_and_expose_filters(d: Dockyardd, names: Callable[[str], str]) -> None:
    """`publish` matches the container ports with a binding, `expose` every exposed one, of running
    containers (dockerd 20.10 looks at NetworkSettings.Ports)."""
    running, created = names("filtered"), names("filtered")
    ok(d, "run", "-d", "--name", running, "-p", f"127.0.0.1:{free_port()}:80", "--expose", "90-92", "busybox",
       "sleep", "300")
    ok(d, "create", "--name", created, "-p", f"127.0.0.1:{free_port()}:80", "--expose", "90-92", "busybox")
    for value, matches in (("publish=80", True), ("publish=80/tcp", True), ("publish=1-100", True),
                           ("publish=80/udp", False), ("publish=90", False), ("expose=91", True),
                           ("expose=80", True), ("expose=93-95/tcp", False)):
        shown = both(d, "ps", "-a", "--filter", "name=filtered-", "--filter", value, "--format", "{{.Names}}")
        assert shown == (f"{running}\n" if matches else ""), value


def test_ephemeral_host_port(d: Dockyardd, names: Callable[[str], str]) -> None:
    web = names("eph")
    ok(d, "run", "-d", "--name", web, "--hostname", "eph", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HTTPD)
    shown = both(d, "port", web, "80")
    m = re.fullmatch(r"127\.0\.0\.1:(\d+)\n", shown)
    assert m, shown
    port = int(m.group(1))
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low <= port <= high  # the kernel's choice, from the range dockerd's allocator uses too
    assert get(port) == "hello from eph\n"
    assert ports_of(d, web) == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}


def test_publish_all_exposed_ports(d: Dockyardd, names: Callable[[str], str], tmp_path: Path) -> None:
    image = f"expose-{os.urandom(4).hex()}"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nEXPOSE 80 7000/udp\n")
    ok(d, "build", "-q", "-t", image, str(tmp_path))
    web = names("all")
    try:
        ok(d, "run", "-d", "--name", web, "--hostname", "all", "-P", "--expose", "81", image, "sh", "-c", HTTPD)
        lines = both(d, "port", web).splitlines()
        assert [line.split(" -> ")[0] for line in lines] == ["80/tcp", "81/tcp", "7000/udp"]
        hosts = dict(line.split(" -> ") for line in lines)
        assert all(re.fullmatch(r"127\.0\.0\.1:\d+", h) for h in hosts.values())  # the daemon's --ip
        assert get(int(hosts["80/tcp"].split(":")[1])) == "hello from all\n"
        assert set(ports_of(d, web)) == {"80/tcp", "81/tcp", "7000/udp"}
    finally:
        d.docker("rm", "-f", web)
        d.docker("rmi", "-f", image)


UDP_ECHO = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[1]));
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    for (;;) {
        char in[2048], out[2100];
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(s, in, sizeof in, 0, (struct sockaddr *)&peer, &len);
        if (n < 0) continue;
        memcpy(out, "echo:", 5);
        memcpy(out + 5, in, n);
        sendto(s, out, n + 5, 0, (struct sockaddr *)&peer, len);
    }
}
"""


@pytest.fixture(scope="module")
def udp_echo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static UDP echo server for busybox containers (Debian's busybox nc has no -u)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (make setup installs it)")
    base = tmp_path_factory.mktemp("udp")
    (base / "udpecho.c").write_text(UDP_ECHO)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(base / "udpecho"), str(base / "udpecho.c")], check=True,
                   capture_output=True)
    return base / "udpecho"


def test_udp(d: Dockyardd, names: Callable[[str], str], udp_echo: Path) -> None:
    echo, port = names("udp"), free_port()
    ok(d, "run", "-d", "--name", echo, "-v", f"{udp_echo}:/udpecho:ro", "-p", f"127.0.0.1:{port}:5353/udp",
       "busybox", "/udpecho", "5353")
    assert both(d, "port", echo) == f"5353/udp -> 127.0.0.1:{port}\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        for s in (a, b):
            s.settimeout(0.5)
        deadline = time.monotonic() + 10
        while True:  # until the server in the container is up (datagrams before that are lost)
            a.sendto(b"ping", ("127.0.0.1", port))
            try:
                assert a.recvfrom(100) == (b"echo:ping", ("127.0.0.1", port))
                break
            except TimeoutError:
                assert time.monotonic() < deadline
        b.sendto(b"from b", ("127.0.0.1", port))
        a.sendto(b"from a", ("127.0.0.1", port))
        assert b.recvfrom(100)[0] == b"echo:from b"
        assert a.recvfrom(100)[0] == b"echo:from a"


def test_port_released_at_stop_and_bound_again(d: Dockyardd, names: Callable[[str], str]) -> None:
    web, port = names("cycle"), free_port()
    ok(d, "run", "-d", "--name", web, "--hostname", "cycle", "-p", f"127.0.0.1:{port}:80", "-p", "127.0.0.1::81",
       "busybox", "sh", "-c", HTTPD)
    assert get(port) == "hello from cycle\n"
    ok(d, "stop", "-t", "1", web)
    assert is_free(port)  # released once the stop returns
    assert ports_of(d, web) == {}
    assert both(d, "port", web) == ""
    assert both(d, "ps", "-a", "--filter", f"name={web}", "--format", "{{.Ports}}") == "\n"
    ok(d, "start", web)
    assert get(port) == "hello from cycle\n"
    ok(d, "restart", "-t", "1", web)
    assert get(port) == "hello from cycle\n"
    assert re.fullmatch(r"127\.0\.0\.1:\d+\n", both(d, "port", web, "81"))  # an ephemeral port, chosen again


def test_restart_policy_binds_again(d: Dockyardd, names: Callable[[str], str]) -> None:
    web, port = names("policy"), free_port()
    ok(d, "run", "-d", "--name", web, "--hostname", "policy", "--restart", "always", "-p", f"127.0.0.1:{port}:80",
       "busybox", "sh", "-c", "mkdir -p /srv && echo again > /srv/index.html && httpd -p 80 -h /srv && sleep 1")
    deadline = time.monotonic() + 20
    while int(ok(d, "inspect", "-f", "{{.RestartCount}}", web)) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert get(port) == "again\n"


def test_port_taken_by_another_container(d: Dockyardd, names: Callable[[str], str]) -> None:
    first, second, port, other = names("first"), names("second"), free_port(), free_port()
    ok(d, "run", "-d", "--name", first, "--hostname", "first", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
       HTTPD)
    r = d.docker("run", "-d", "--name", second, "--hostname", "second", "-p", f"127.0.0.1:{other}:81", "-p", f"127.0.0.1:{port}:80",
                 "busybox", "sh", "-c", HTTPD)
    message = failed_endpoint(second, f"Bind for 127.0.0.1:{port} failed: port is already allocated")
    assert r.returncode == 125
    assert re.fullmatch(f"[0-9a-f]{{64}}\ndocker: Error response from daemon: {message}\n\n"
                        r"Run 'docker run --help' for more information\n", r.stdout.decode() + r.stderr.decode()), r
    state = json.loads(ok(d, "inspect", "-f", "{{json .State}}", second))
    assert (state["Status"], state["ExitCode"], state["Pid"]) == ("created", 128, 0)
    assert re.fullmatch(message, state["Error"])
    assert ports_of(d, second) == {}
    assert is_free(other)  # nothing of the failed start is bound
    assert get(port) == "hello from first\n"  # the first container is untouched
    for client in (d.docker, lambda *a: dockyard(d, *a)):
        r = client("start", second)
        assert r.returncode == 1
        assert re.fullmatch(f"Error response from daemon: {message}\nError: failed to start containers: {second}\n",
                            r.stderr.decode()), r
    ok(d, "stop", "-t", "1", first)
    ok(d, "start", second)
    assert get(port) == "hello from second\n"
    state = json.loads(ok(d, "inspect", "-f", "{{json .State}}", second))
    assert (state["Status"], state["ExitCode"], state["Error"]) == ("running", 0, "")


def test_port_taken_by_another_program(d: Dockyardd, names: Callable[[str], str]) -> None:
    web, gone, port, other = names("taken"), names("rm"), free_port(), free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        # The first binding (81, lower) is made, the second fails: the first is undone.
        r = d.docker("create", "--name", web, "-p", f"127.0.0.1:{other}:81", "-p", f"127.0.0.1:{port}:82",
                     "busybox", "sleep", "300")
        assert r.returncode == 0, r
        r = d.docker("start", web)
        detail = f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
        message = failed_endpoint(web, detail)
        assert r.returncode == 1
        assert re.fullmatch(f"Error response from daemon: {message}\nError: failed to start containers: {web}\n",
                            r.stderr.decode()), r
        assert is_free(other)
        state = json.loads(ok(d, "inspect", "-f", "{{json .State}}", web))
        assert (state["Status"], state["ExitCode"], state["Pid"]) == ("created", 128, 0)
        assert re.fullmatch(message, state["Error"])
        # --rm: the container is removed, the error reported once (as dockerd's `run --rm` does).
        r = d.docker("run", "--rm", "--name", gone, "-p", f"127.0.0.1:{port}:80", "busybox", "true")
        assert r.returncode == 125
        assert re.fullmatch(f"docker: Error response from daemon: {failed_endpoint(gone, detail)}\n\n"
                            r"Run 'docker run --help' for more information\n", r.stderr.decode()), r
        assert d.docker("inspect", gone).returncode == 1
    ok(d, "start", web)
    assert ports_of(d, web) == {"81/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(other)}],
                                "82/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}


def test_network_modes_without_publishing(d: Dockyardd, names: Callable[[str], str]) -> None:
    """As dockerd 20.10: `--network none` ignores -p silently, `--network host` with a warning."""
    none, host, port = names("none"), names("host"), free_port()
    r = d.docker("run", "-d", "--name", none, "--network", "none", "-p", f"127.0.0.1:{port}:80", "busybox",
                 "sleep", "300")
    assert r.returncode == 0 and r.stderr == b"", r
    r = d.docker("run", "-d", "--name", host, "--network", "host", "-p", f"127.0.0.1:{port}:80", "busybox",
                 "sleep", "300")
    assert r.returncode == 0 and r.stderr == b"WARNING: Published ports are discarded when using host network mode\n"
    assert ports_of(d, none) == ports_of(d, host) == {}
    assert is_free(port)


def test_ports_survive_a_daemon_crash() -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    with running_dockyardd(extra_args=["--ip", "127.0.0.1"]) as d:
        port = free_port()
        ok(d, "run", "-d", "--name", "web", "--hostname", "crash", "-p", f"127.0.0.1:{port}:80", "busybox", "sh",
           "-c", HTTPD)
        assert get(port) == "hello from crash\n"
        d.kill9()
        assert get(port) == "hello from crash\n"  # the monitor's proxy does not need the daemon
        d.start()
        assert ok(d, "port", "web") == f"80/tcp -> 127.0.0.1:{port}\n"
        assert get(port) == "hello from crash\n"
        ok(d, "stop", "-t", "1", "web")
        assert is_free(port)


def test_docker_sdk_ports(d: Dockyardd) -> None:
    """The Docker SDK for Python: `ports=` at run, `container.ports` after."""
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=d.host, version="auto")
    port = free_port()
    container = None
    try:
        container = client.containers.run("busybox", ["sh", "-c", HTTPD], detach=True, hostname="sdk",
                                          ports={"80/tcp": ("127.0.0.1", port), "53/udp": None})
        container.reload()
        assert container.ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        assert container.ports["53/udp"][0]["HostIp"] == "127.0.0.1"  # an ephemeral port on the daemon's --ip
        assert get(port) == "hello from sdk\n"
    finally:
        if container is not None:
            container.remove(force=True)
        client.close()
