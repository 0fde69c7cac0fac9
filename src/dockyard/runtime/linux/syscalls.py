"""Thin ctypes bindings for the Linux system calls the runtime needs and Python does not wrap.

Facts:
- Python 3.11's `os` has no unshare/setns/mount/pivot_root; glibc exports mount, umount2, unshare,
  setns, prctl and personality, but not pivot_root, capset, openat2 or mount_setattr, which go
  through syscall(2) with the architecture's number.
- Every wrapper raises SystemCallError naming the call and its subject, so a failure reads like
  runc's ("mount proc to /proc: operation not permitted").
- ctypes is imported here and nowhere on the CLI's fast path except through this module.
"""

from __future__ import annotations

import ctypes
import os

from dockyard.errors import SystemCallError

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# Syscall numbers for what glibc does not wrap, per architecture.
_NUMBERS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "openat2": 437, "mount_setattr": 442,
               "open_tree": 428, "move_mount": 429, "pidfd_open": 434, "pidfd_send_signal": 424,
               "close_range": 436, "bpf": 321, "seccomp": 317},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "openat2": 437, "mount_setattr": 442,
                "open_tree": 428, "move_mount": 429, "pidfd_open": 434, "pidfd_send_signal": 424,
                "close_range": 436, "bpf": 280, "seccomp": 277},
}
NR = _NUMBERS.get(os.uname().machine, _NUMBERS["x86_64"])

# clone(2) flags, as unshare/setns take them.
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NAMESPACE_FLAGS = {
    "pid": CLONE_NEWPID, "network": CLONE_NEWNET, "mount": CLONE_NEWNS, "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS, "user": CLONE_NEWUSER, "cgroup": CLONE_NEWCGROUP, "time": CLONE_NEWTIME,
}
# The name of each namespace under /proc/<pid>/ns/.
NAMESPACE_PROC_NAMES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
    "cgroup": "cgroup", "time": "time",
}

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# mount_setattr(2)
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _check(result: int, what: str) -> int:
    if result < 0:
        raise SystemCallError(what, ctypes.get_errno())
    return result


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    what = f"mount {source or fstype or 'none'} to {target}"
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)), what)


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"unmount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_syscall(NR["pivot_root"], _b(new_root), _b(put_old)), f"pivot_root {new_root}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare namespaces")


def setns(fd: int, nstype: int, what: str) -> None:
    _check(_libc.setns(fd, nstype), f"join namespace {what}")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
        f"prctl {option}",
    )


def personality(persona: int) -> None:
    _check(_libc.personality(ctypes.c_ulong(persona)), "personality")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, recursive: bool = True, userns_fd: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    flags = AT_RECURSIVE if recursive else 0
    _check(
        _syscall(NR["mount_setattr"], -100, _b(path), flags, ctypes.byref(attr), ctypes.sizeof(attr)),
        f"mount_setattr {path}",
    )


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = RESOLVE_IN_ROOT) -> int:
    """Open `path` relative to `dirfd`, with symlinks and '..' kept inside it (RESOLVE_IN_ROOT)."""
    how = _OpenHow(flags, mode, resolve)
    result = _syscall(NR["openat2"], dirfd, _b(path), ctypes.byref(how), ctypes.sizeof(how))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(result)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) sets as 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_syscall(NR["capget"], ctypes.byref(header), data), "capget")

    def mask(name: str) -> int:
        return int(getattr(data[0], name)) | (int(getattr(data[1], name)) << 32)

    return mask("effective"), mask("permitted"), mask("inheritable")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_syscall(NR["capset"], ctypes.byref(header), data), "capset")


def pidfd_open(pid: int) -> int:
    return _check(_syscall(NR["pidfd_open"], pid, 0), f"pidfd_open {pid}")


def raw_syscall(name: str, *args: int | ctypes.c_void_p) -> int:
    """For the modules that own one unusual call (bpf, seccomp); checked, number by name."""
    return _check(_syscall(NR[name], *args), name)


# --- Appended for runtime/linux/process_attrs.py: scheduler and I/O priority. ---
# glibc wraps neither sched_setattr(2) nor ioprio_set(2); the numbers differ per architecture.
_NUMBERS["x86_64"].update({"sched_setattr": 314, "sched_getattr": 315, "ioprio_set": 251, "ioprio_get": 252})
_NUMBERS["aarch64"].update({"sched_setattr": 274, "sched_getattr": 275, "ioprio_set": 30, "ioprio_get": 31})


class SchedAttr(ctypes.Structure):
    """struct sched_attr, SCHED_ATTR_SIZE_VER0 (48 bytes): the utilisation clamps of VER1 are left out,
    as the OCI scheduler record has no field for them."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32), ("sched_flags", ctypes.c_uint64),
                ("sched_nice", ctypes.c_int32), ("sched_priority", ctypes.c_uint32),
                ("sched_runtime", ctypes.c_uint64), ("sched_deadline", ctypes.c_uint64),
                ("sched_period", ctypes.c_uint64)]


def sched_setattr(attr: SchedAttr, pid: int = 0) -> None:
    attr.size = ctypes.sizeof(SchedAttr)
    _check(_syscall(NR["sched_setattr"], pid, ctypes.byref(attr), 0), "sched_setattr")


def sched_getattr(pid: int = 0) -> SchedAttr:
    attr = SchedAttr()
    _check(_syscall(NR["sched_getattr"], pid, ctypes.byref(attr), ctypes.sizeof(attr), 0), "sched_getattr")
    return attr


def ioprio_set(which: int, who: int, ioprio: int) -> None:
    _check(_syscall(NR["ioprio_set"], which, who, ioprio), "ioprio_set")


def ioprio_get(which: int, who: int) -> int:
    return _check(_syscall(NR["ioprio_get"], which, who), "ioprio_get")


# --- Detached mount trees (idmapped bind mounts): open_tree, mount_setattr on an fd, move_mount. ---
OPEN_TREE_CLONE = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100


def open_tree(path: str, flags: int) -> int:
    return _check(_syscall(NR["open_tree"], AT_FDCWD, _b(path), flags | os.O_CLOEXEC), f"open_tree {path}")


def mount_setattr_fd(fd: int, attr_set: int, recursive: bool, userns_fd: int = 0) -> None:
    attr = _MountAttr(attr_set, 0, 0, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_syscall(NR["mount_setattr"], fd, b"", flags, ctypes.byref(attr), ctypes.sizeof(attr)),
           "mount_setattr (idmap)")


def move_mount(from_fd: int, to_path: str) -> None:
    _check(_syscall(NR["move_mount"], from_fd, b"", AT_FDCWD, _b(to_path), MOVE_MOUNT_F_EMPTY_PATH),
           f"move_mount to {to_path}")


# --- Session keyrings: keyctl(KEYCTL_JOIN_SESSION_KEYRING). ---
_NUMBERS["x86_64"]["keyctl"] = 250
_NUMBERS["aarch64"]["keyctl"] = 219
KEYCTL_JOIN_SESSION_KEYRING = 1


def join_session_keyring(name: str) -> int:
    return _check(_syscall(NR["keyctl"], KEYCTL_JOIN_SESSION_KEYRING, _b(name)), f"join session keyring {name}")
