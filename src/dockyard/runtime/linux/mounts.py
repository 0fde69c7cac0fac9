"""Mount options of config.json, turned into what mount(2) and mount_setattr(2) take.

Facts:
- A mount option is one of: a flag mount(2) sets or clears ("ro", "nosuid", "rw"), a propagation
  type applied by a second mount(2) call ("rslave"), a recursive attribute applied with
  mount_setattr(2) to a whole bind tree ("rro"), a runtime extension ("tmpcopyup", "idmap"), or
  filesystem data passed through as the data string ("mode=755", "size=65536k").
- A bind mount ignores every flag but MS_BIND/MS_REC on its first call: read-only and the
  other flags need a remount (MS_BIND|MS_REMOUNT|flags).
"""

from __future__ import annotations

import os

from dockyard.records import field, record
from dockyard.runtime.linux import syscalls as sc

MS_POSIXACL = 1 << 16
MS_I_VERSION = 1 << 23

# option -> (clear, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "acl": (False, MS_POSIXACL), "async": (True, sc.MS_SYNCHRONOUS), "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND), "defaults": (False, 0), "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME), "dirsync": (False, sc.MS_DIRSYNC), "exec": (True, sc.MS_NOEXEC),
    "iversion": (False, MS_I_VERSION), "lazytime": (False, sc.MS_LAZYTIME), "loud": (True, sc.MS_SILENT),
    "mand": (False, sc.MS_MANDLOCK), "noacl": (True, MS_POSIXACL), "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV), "nodiratime": (False, sc.MS_NODIRATIME), "noexec": (False, sc.MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION), "nolazytime": (True, sc.MS_LAZYTIME), "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID), "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC), "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT), "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "silent": (False, sc.MS_SILENT), "strictatime": (False, sc.MS_STRICTATIME), "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS), "symfollow": (True, sc.MS_NOSYMFOLLOW),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# option -> (clear, attribute) for mount_setattr over a whole tree
_RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, sc.MOUNT_ATTR_RDONLY), "rrw": (True, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, sc.MOUNT_ATTR_NOSUID), "rsuid": (True, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (False, sc.MOUNT_ATTR_NODEV), "rdev": (True, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (False, sc.MOUNT_ATTR_NOEXEC), "rexec": (True, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, sc.MOUNT_ATTR_NODIRATIME), "rdiratime": (True, sc.MOUNT_ATTR_NODIRATIME),
    "rnoatime": (False, sc.MOUNT_ATTR_NOATIME), "ratime": (True, sc.MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, sc.MOUNT_ATTR_STRICTATIME), "rnostrictatime": (True, sc.MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, sc.MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (True, sc.MOUNT_ATTR_NOSYMFOLLOW),
}

EXTENSIONS = ("tmpcopyup", "idmap", "ridmap")

KNOWN_OPTIONS = sorted([*_FLAGS, *PROPAGATION, *_RECURSIVE, *EXTENSIONS])


@record
class MountOptions:
    flags: int = 0
    propagation: list[int] = field(default_factory=list)
    attr_set: int = 0
    attr_clr: int = 0
    extensions: set[str] = field(default_factory=set)
    data: str = ""

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def parse_options(options: list[str]) -> MountOptions:
    parsed = MountOptions()
    data: list[str] = []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            parsed.flags = parsed.flags & ~flag if clear else parsed.flags | flag
        elif option in PROPAGATION:
            parsed.propagation.append(PROPAGATION[option])
        elif option in _RECURSIVE:
            clear, attr = _RECURSIVE[option]
            if clear:
                parsed.attr_clr |= attr
                parsed.attr_set &= ~attr
            else:
                parsed.attr_set |= attr
                parsed.attr_clr &= ~attr
        elif option in EXTENSIONS:
            parsed.extensions.add(option)
        else:
            data.append(option)
    parsed.data = ",".join(data)
    return parsed


# statvfs f_flag bits that the kernel locks on a bind mount made in a user namespace; a remount
# must repeat them or it fails with EPERM.
_LOCKED_STATVFS_FLAGS = {1: sc.MS_RDONLY, 2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC,
                         1024: sc.MS_NOATIME, 2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME}


def locked_flags(path: str) -> int:
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in _LOCKED_STATVFS_FLAGS.items() if f_flag & st and ms != sc.MS_RDONLY)
