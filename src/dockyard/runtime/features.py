"""`features`: what this runtime implements, in the runtime-spec features.md shape."""

from __future__ import annotations

import sys

from dockyard.oci.runtime_spec import HOOK_KINDS, NAMESPACE_TYPES
from dockyard.runtime.linux.mounts import KNOWN_OPTIONS

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any


def features() -> dict[str, Any]:
    from dockyard.runtime.linux import capabilities

    doc: dict[str, Any] = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": list(HOOK_KINDS),
        "mountOptions": KNOWN_OPTIONS,
        "linux": {
            "namespaces": list(NAMESPACE_TYPES),
            "capabilities": capabilities.names((1 << (capabilities.last_cap() + 1)) - 1),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {"org.dockyard.runtime.python": sys.version.split()[0]},
    }
    doc["linux"]["seccomp"] = _seccomp()
    return doc


def _seccomp() -> dict[str, Any]:
    from dockyard.errors import DockyardError
    from dockyard.runtime.linux import seccomp

    try:
        version = seccomp.libseccomp_version()
    except (DockyardError, OSError):
        return {"enabled": False}
    return {
        "enabled": True,
        "actions": sorted(seccomp.ACTIONS),
        "operators": sorted(seccomp.OPERATORS),
        "archs": sorted(seccomp.ARCHITECTURES),
        "knownFlags": sorted(seccomp.FLAGS),
        "supportedFlags": sorted(name for name, bit in seccomp.FLAGS.items() if seccomp.flag_supported(bit)),
        "libseccomp": version,
    }
