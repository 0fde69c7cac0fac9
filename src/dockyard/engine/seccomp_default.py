"""Docker's default seccomp profile and the rules that turn a Docker profile into an OCI one.

The profile data is moby's `profiles/seccomp/default.json` as of Docker 20.10.24, shipped as
`seccomp_default.json` beside this module. `oci_seccomp(profile, capabilities)` evaluates it as
moby's `seccomp.setupSeccomp` does: the architecture map gives the native arch and its
sub-architectures, and each syscall group is kept only when its `includes`/`excludes` conditions
(`caps`, `arches`, `minKernel`) hold for the container's capability set and this host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.oci.runtime_spec import Seccomp

__all__ = ["default_profile", "oci_seccomp", "parse_profile"]


def default_profile() -> dict[str, Any]:
    """Docker's default profile, as its JSON document (a fresh copy each call)."""
    raise NotImplementedError


def parse_profile(text: str) -> dict[str, Any]:
    """A user's profile (`--security-opt seccomp=<file>`: the CLI sends the file's content), checked.
    InvalidArgument `decoding seccomp profile failed: ...` as Docker says for bad JSON."""
    raise NotImplementedError


def oci_seccomp(profile: dict[str, Any], capabilities: Sequence[str], *, machine: str | None = None,
                kernel: tuple[int, int] | None = None) -> Seccomp:
    """The OCI `linux.seccomp` for `profile` given the container's capabilities (`CAP_...` names).
    `machine` (uname -m) and `kernel` (major, minor) default to this host's."""
    raise NotImplementedError
