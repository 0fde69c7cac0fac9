"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, as dockerd (libnetwork) writes them.

`write_hostfiles(container_dir, ...)` writes the three files under the container's directory
(`<data-root>/containers/<id>/`), each temp-then-rename, mode 0644; `build_spec` bind-mounts them
over the image's. Nothing here makes a DNS query:

- hostname: `<Config.Hostname>\\n` (the engine sets Hostname to the first 12 characters of the id
  when empty, and to the host's name for `--network host`, as dockerd does);
- hosts: libnetwork's `etchosts.Build`: the default localhost/ip6 lines, the `--add-host` records,
  then `<ip>\\t<fqdn> <short>` for each of the container's own addresses (none until the bridge
  network comes). With `--network host` (and no `--add-host`) a copy of the host's /etc/hosts;
- resolv.conf: the host's (`/run/systemd/resolve/resolv.conf` when /etc/resolv.conf names only
  systemd-resolved's 127.0.0.53, as Docker's `GetResolvConf`), with loopback nameservers removed
  (they would point at the container's own loopback) and Google's public servers added when none
  remain (libnetwork's `FilterResolvDNS`); `--dns`, `--dns-search`, `--dns-option` rebuild it
  (`resolvconf.Build`), each list replacing the host's. With `--network host` and none of those
  options: a copy of the host's file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgument, SystemCallError

__all__ = ["HostFiles", "build_hosts", "build_resolv_conf", "default_hostname", "filter_resolv_conf",
           "host_resolv_conf_path", "write_hostfiles"]

_DEFAULT_HOSTS = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)
_DEFAULT_IPV4_DNS = ("nameserver 8.8.8.8", "nameserver 8.8.4.4")
_DEFAULT_IPV6_DNS = ("nameserver 2001:4860:4860::8888", "nameserver 2001:4860:4860::8844")

_IPV4_BLOCK = r"(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_IPV4 = rf"({_IPV4_BLOCK}\.){{3}}{_IPV4_BLOCK}"
_IPV6 = r"([0-9A-Fa-f]{0,4}:){2,7}([0-9A-Fa-f]{0,4})(%\w+)?"
_LOCALHOST_NS = re.compile(r"(?m)^nameserver\s+((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1)$)\s*\n*")
_NS = re.compile(rf"^\s*nameserver\s*(({_IPV4})|({_IPV6}))\s*$")
_SEARCH = re.compile(r"^\s*search\s*(([^\s]+\s*)*)$")
_OPTIONS = re.compile(r"^\s*options\s*(([^\s]+\s*)*)$")


@dataclass(frozen=True)
class HostFiles:
    hostname: Path
    hosts: Path
    resolv_conf: Path


def default_hostname(container_id: str) -> str:
    """Docker's default hostname: the first 12 characters of the container id."""
    return container_id[:12]


def host_resolv_conf_path(etc: Path = Path("/etc/resolv.conf"),
                          systemd: Path = Path("/run/systemd/resolve/resolv.conf")) -> Path:
    """Docker's `GetResolvConf`: systemd-resolved's upstream file when /etc/resolv.conf only points at
    its 127.0.0.53 stub."""
    try:
        servers = nameservers(etc.read_bytes())
    except OSError:
        return etc
    if servers == ["127.0.0.53"] and systemd.exists():
        return systemd
    return etc


def _lines(content: bytes) -> list[str]:
    """libnetwork's getLines: comments cut at '#', surrounding space trimmed, empty lines dropped."""
    out = []
    for raw in content.decode("utf-8", "surrogateescape").split("\n"):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def nameservers(content: bytes) -> list[str]:
    return [m.group(1) for line in _lines(content) if (m := _NS.match(line))]


def _last_list(content: bytes, pattern: re.Pattern[str]) -> list[str]:
    found: list[str] = []
    for line in _lines(content):
        m = pattern.match(line)
        if m:
            found = m.group(1).split()
    return found


def filter_resolv_conf(content: bytes, ipv6: bool = True) -> bytes:
    """libnetwork's FilterResolvDNS: loopback nameservers removed, defaults appended if none remain."""
    text = _LOCALHOST_NS.sub("", content.decode("utf-8", "surrogateescape"))
    if not ipv6:
        text = re.sub(rf"(?m)^nameserver\s+{_IPV6}\s*\n*", "", text)
    if not nameservers(text.encode("utf-8", "surrogateescape")):
        servers = list(_DEFAULT_IPV4_DNS) + (list(_DEFAULT_IPV6_DNS) if ipv6 else [])
        text += "\n" + "\n".join(servers)
    return text.encode("utf-8", "surrogateescape")


def build_resolv_conf(host_content: bytes, dns: Sequence[str] | None = None, dns_search: Sequence[str] | None = None,
                      dns_options: Sequence[str] | None = None) -> bytes:
    """The container's resolv.conf from the host's and the user's --dns* lists."""
    if not dns and not dns_search and not dns_options:
        return filter_resolv_conf(host_content, True)
    servers = list(dns) if dns else nameservers(host_content)
    search = list(dns_search) if dns_search else _last_list(host_content, _SEARCH)
    options = list(dns_options) if dns_options else _last_list(host_content, _OPTIONS)
    out = []
    if search and " ".join(search).strip(" ") != ".":
        out.append("search " + " ".join(search) + "\n")
    out.extend(f"nameserver {s}\n" for s in servers)
    if options and " ".join(options).strip(" ") != "":
        out.append("options " + " ".join(options) + "\n")
    return "".join(out).encode()


def _check_extra_host(entry: str) -> tuple[str, str]:
    name, sep, ip = entry.partition(":")
    if not sep or not name:
        raise InvalidArgument(f'bad format for add-host: "{entry}"')
    return name, ip


def build_hosts(hostname: str, domainname: str = "", extra_hosts: Sequence[str] | None = None,
                addresses: Sequence[str] = ()) -> bytes:
    """etchosts.Build plus the container's own addresses (added after, as libnetwork's `Add` does)."""
    lines = [f"{ip}\t{names}\n" for ip, names in _DEFAULT_HOSTS]
    for entry in extra_hosts or ():
        name, ip = _check_extra_host(entry)
        lines.append(f"{ip}\t{name}\n")
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    short = fqdn.split(".", 1)
    names = f"{fqdn} {short[0]}" if len(short) == 2 else fqdn
    lines.extend(f"{ip}\t{names}\n" for ip in addresses)
    return "".join(lines).encode()


def _write(path: Path, data: bytes) -> None:
    """Temp file and rename, without fsync: the files are written anew at every start, so a crash
    can only lose a copy nobody will read (the fsyncs cost ~1 ms of each start)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SystemCallError.from_oserror(f"write {path}", err) from None


def write_hostfiles(
    container_dir: Path,
    *,
    hostname: str,
    domainname: str = "",
    extra_hosts: Sequence[str] | None = None,
    dns: Sequence[str] | None = None,
    dns_search: Sequence[str] | None = None,
    dns_options: Sequence[str] | None = None,
    network_mode: str = "default",
    addresses: Sequence[str] = (),
    host_resolv_conf: Path | None = None,
    host_hosts: Path = Path("/etc/hosts"),
) -> HostFiles:
    """Write hostname, hosts and resolv.conf under `container_dir` and return their paths.

    `addresses` are the container's own IP addresses (none yet: the bridge network comes later);
    each gets a `<ip>\\t<hostname>` line in /etc/hosts. `extra_hosts` are `name:ip` (`--add-host`).
    For `network_mode == "container:<x>"` do not call this: the container shares the other one's
    files (Docker's `initializeNetworkingPaths`)."""
    try:
        container_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemCallError.from_oserror(f"mkdir {container_dir}", err) from None
    files = HostFiles(container_dir / "hostname", container_dir / "hosts", container_dir / "resolv.conf")
    _write(files.hostname, f"{hostname}\n".encode())
    resolv_source = host_resolv_conf or host_resolv_conf_path()
    try:
        host_resolv = resolv_source.read_bytes()
    except FileNotFoundError:
        host_resolv = b""
    except OSError as err:
        raise SystemCallError.from_oserror(f"read {resolv_source}", err) from None
    host_mode = network_mode == "host"
    if host_mode and not extra_hosts:
        try:
            hosts = host_hosts.read_bytes()
        except FileNotFoundError:
            hosts = b""
        except OSError as err:
            raise SystemCallError.from_oserror(f"read {host_hosts}", err) from None
    else:
        hosts = build_hosts(hostname, domainname, extra_hosts, addresses)
    _write(files.hosts, hosts)
    if host_mode and not dns and not dns_search and not dns_options:
        resolv = host_resolv
    else:
        resolv = build_resolv_conf(host_resolv, dns, dns_search, dns_options)
    _write(files.resolv_conf, resolv)
    return files
