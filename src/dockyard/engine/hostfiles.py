"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, as dockerd writes them.

`write_hostfiles(container_dir, ...)` writes the three files under the container's directory
(`<data-root>/containers/<id>/`) atomically; `build_spec` bind-mounts them over the image's. Nothing
here makes a DNS query: resolv.conf is the host's, with loopback nameservers removed (they would point
at the container's own loopback), falling back to Google's public servers when none remain, as
libnetwork's `resolvconf.FilterResolvDNS` does; `--dns`, `--dns-search`, `--dns-option` replace the
corresponding lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostFiles", "default_hostname", "write_hostfiles"]


@dataclass(frozen=True)
class HostFiles:
    hostname: Path
    hosts: Path
    resolv_conf: Path


def default_hostname(container_id: str) -> str:
    """Docker's default hostname: the first 12 characters of the container id."""
    return container_id[:12]


def write_hostfiles(
    container_dir: Path,
    *,
    hostname: str,
    domainname: str = "",
    extra_hosts: Sequence[str] = (),
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    network_mode: str = "default",
    addresses: Sequence[str] = (),
    host_resolv_conf: Path = Path("/etc/resolv.conf"),
) -> HostFiles:
    """Write hostname, hosts and resolv.conf under `container_dir` and return their paths.

    `addresses` are the container's own IP addresses (none yet: the bridge network comes later);
    each gets a `<ip>\\t<hostname>` line in /etc/hosts. With `network_mode == "host"` the host's
    /etc/hosts and /etc/hostname content are used, as Docker does. `extra_hosts` are `name:ip`
    (`--add-host`), checked with Docker's message."""
    raise NotImplementedError
