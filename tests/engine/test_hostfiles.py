"""/etc/hostname, /etc/hosts and /etc/resolv.conf: the same bytes as dockerd writes for the same
options, and libnetwork's resolv.conf filtering on made-up host files."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from dockyard.engine import hostfiles as HF
from dockyard.engine.config import parse_config, parse_host_config
from dockyard.engine.spec import container_hostname
from dockyard.errors import InvalidArgument
from tests.engine.conftest import RefDocker

CASES = {
    "default": "busybox sleep 60",
    "names": "--hostname box --domainname example.com busybox sleep 60",
    "dotted-hostname": "--hostname box.inner.example busybox sleep 60",
    "add-host": "--add-host db:10.0.0.5 --add-host v6:fe80::1 busybox sleep 60",
    "dns": "--dns 1.1.1.1 --dns 9.9.9.9 busybox sleep 60",
    "dns-search-options": "--dns-search example.com --dns-search corp --dns-option ndots:2 --dns-option rotate busybox sleep 60",
    "network-none": "--network none busybox sleep 60",
    "network-host": "--network host busybox sleep 60",
    "network-host-add-host": "--network host --add-host db:10.0.0.5 busybox sleep 60",
    "network-host-dns": "--network host --dns 1.1.1.1 busybox sleep 60",
}


@pytest.mark.docker
@pytest.mark.parametrize("case", list(CASES))
def test_same_files_as_docker(case: str, ref_docker: RefDocker, clean_tmp: Path) -> None:
    name = f"hostfiles-{case}"
    run = ref_docker.docker("run", "-d", "--name", name, *shlex.split(CASES[case]))
    try:
        assert run.returncode == 0, run.stderr.decode()
        inspect = ref_docker.inspect(name)
        cid = inspect["Id"]
        theirs = {n: (ref_docker.data_root / "containers" / cid / n).read_bytes() for n in ("hostname", "hosts", "resolv.conf")}
    finally:
        ref_docker.docker("rm", "-f", name)
    config = parse_config(inspect["Config"])
    host = parse_host_config(inspect["HostConfig"])
    files = HF.write_hostfiles(clean_tmp / cid, hostname=container_hostname(config, host, cid),
                               domainname=config.domainname, extra_hosts=host.extra_hosts, dns=host.dns,
                               dns_search=host.dns_search, dns_options=host.dns_options, network_mode=host.network_mode)
    ours = {"hostname": files.hostname.read_bytes(), "hosts": files.hosts.read_bytes(),
            "resolv.conf": files.resolv_conf.read_bytes()}
    assert ours == theirs
    assert oct(files.hosts.stat().st_mode & 0o777) == "0o644"


def test_filtering() -> None:
    loopback_only = b"# comment\nnameserver 127.0.0.53\nnameserver ::1\nsearch lan\noptions edns0\n"
    assert HF.filter_resolv_conf(loopback_only) == (b"# comment\nsearch lan\noptions edns0\n\n"
                                                    b"nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
                                                    b"nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844")
    mixed = b"nameserver 127.0.0.1\nnameserver 192.168.1.1\n"
    assert HF.filter_resolv_conf(mixed) == b"nameserver 192.168.1.1\n"
    assert HF.build_resolv_conf(b"nameserver 192.168.1.1\nsearch a b\noptions x\n", dns=["1.1.1.1"]) == \
        b"search a b\nnameserver 1.1.1.1\noptions x\n"
    assert HF.build_resolv_conf(b"nameserver 192.168.1.1\n", dns_search=["."]) == b"nameserver 192.168.1.1\n"
    assert HF.nameservers(b"nameserver 10.0.0.1 # trailing\n#nameserver 10.0.0.2\n") == ["10.0.0.1"]


def test_hosts_and_errors(clean_tmp: Path) -> None:
    hosts = HF.build_hosts("box", "example.com", ["db:10.0.0.5"], addresses=["172.17.0.2"])
    assert hosts.endswith(b"10.0.0.5\tdb\n172.17.0.2\tbox.example.com box\n")
    assert hosts.startswith(b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    with pytest.raises(InvalidArgument, match='bad format for add-host: "nohost"'):
        HF.build_hosts("box", extra_hosts=["nohost"])
    empty = clean_tmp / "empty-resolv"
    files = HF.write_hostfiles(clean_tmp / "c", hostname="h", host_resolv_conf=clean_tmp / "missing")
    assert b"nameserver 8.8.8.8" in files.resolv_conf.read_bytes()
    empty.write_bytes(b"")
    stub = clean_tmp / "stub"
    stub.write_bytes(b"nameserver 127.0.0.53\n")
    upstream = clean_tmp / "upstream"
    upstream.write_bytes(b"nameserver 10.1.1.1\n")
    assert HF.host_resolv_conf_path(stub, upstream) == upstream
    assert HF.host_resolv_conf_path(empty, upstream) == empty
    assert sorted(p.name for p in (clean_tmp / "c").iterdir()) == ["hostname", "hosts", "resolv.conf"]
