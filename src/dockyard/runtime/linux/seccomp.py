"""Seccomp: the OCI linux.seccomp section compiled by libseccomp, loaded with seccomp(2).

Two steps, as runc's patchbpf does them:
- `compile(spec)` checks every name (actions, architectures, operators, flags), builds the rules in a
  libseccomp context, exports the cBPF program and prepends an ENOSYS stub. It runs in the parent
  or early in the init, where errors are clear and logging is free. libseccomp is loaded lazily,
  only when a spec has a seccomp section.
- `load(filter)` is one seccomp(2) call on the prepared program; it returns the user-notification
  listener fd when the profile uses SCMP_ACT_NOTIFY.

Facts:
- seccomp(SECCOMP_SET_MODE_FILTER) needs no_new_privs or CAP_SYS_ADMIN (EACCES otherwise). So with
  noNewPrivileges false the filter is loaded before the init drops capabilities; with it true, as
  late as possible, just before execve.
- Filters are inherited across fork and execve and can never be removed. Once loaded, every syscall
  the init makes passes through it. With Docker's default profile (default ERRNO(EPERM), execve
  allowed) this is what the caller must avoid between `load` and execve:
    * anything that mounts, unmounts, pivots, unshares or joins namespaces (mount, umount2,
      pivot_root, unshare, setns), sets the hostname, or touches keyrings (keyctl, add_key):
      all of that belongs before `load`;
    * personality(2) other than the standard values: `process_attrs.set_personality` goes first;
    * clone3 (Docker's profile makes it ENOSYS; Python's os.fork uses clone, which is fine, but
      there is no reason to fork after `load`), bpf, ptrace, perf_event_open, userfaultfd;
    * importing modules: imports read files lazily, and a stricter profile (default KILL) would kill
      the init in the middle of an import; import everything the rest of the init needs first.
  Allowed by that profile and used by the steps after `load`: prctl (bounding set, keepcaps,
  ambient), capset, setgroups/setresgid/setresuid, write/close/sendmsg/read (sync with the parent),
  openat/write (logging a warning), chdir, execve. A profile with SCMP_ACT_NOTIFY must not notify
  `write` (rejected by `compile`, as runc does): the init writes the listener fd number to its parent
  after `load`, and a notified write would wait for an agent that has not received the fd yet.
- The kernel's seccomp_data is {int nr; u32 arch; u64 ip; u64 args[6]}: nr at offset 0, arch at 4.
  A filter program is at most BPF_MAXINSNS (4096) instructions of struct sock_filter
  {u16 code; u8 jt; u8 jf; u32 k}, in host byte order, as seccomp_export_bpf writes it.
- A syscall the profile does not name gets the default action; for a default of ERRNO(EPERM) that
  breaks programs probing newer syscalls (glibc falls back from clone3, faccessat2, openat2 ... only
  on ENOSYS). As runc does, a stub in front of the filter returns ENOSYS for any syscall number
  above the highest one the profile names on each architecture.
- Action values (SECCOMP_RET_*, as libseccomp's SCMP_ACT_*): KILL_PROCESS 0x80000000,
  KILL_THREAD 0 (SCMP_ACT_KILL is KILL_THREAD, as in runc), TRAP 0x00030000, ERRNO 0x00050000|errno,
  USER_NOTIF 0x7fc00000, TRACE 0x7ff00000|msg, LOG 0x7ffc0000, ALLOW 0x7fff0000.
- SCMP_CMP_MASKED_EQ compares (arg & value) == valueTwo: the OCI `value` is the mask.
- Filter flags: TSYNC 1, LOG 2, SPEC_ALLOW 4, NEW_LISTENER 8, TSYNC_ESRCH 16, WAIT_KILLABLE_RECV 32
  (Linux 5.19; only meaningful with NEW_LISTENER). The kernel rejects TSYNC together with
  NEW_LISTENER unless TSYNC_ESRCH is set too. Support is probed by calling seccomp(2) with a NULL
  program: EFAULT means the flag is known, EINVAL that it is not.
- Generating the program is libseccomp's slow part (~20 ms for a Docker-sized profile); `compile`
  can keep programs in a cache directory keyed by a digest of the rules, the libseccomp version
  and the kernel release, trusted only when owned by us and writable by nobody else.
- The notify listener fd goes to the agent at listenerPath as runc sends it: one sendmsg on a
  SOCK_STREAM unix socket carrying the JSON of specs.ContainerProcessState
  {"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"} with the fd in SCM_RIGHTS.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import struct
from collections.abc import Sequence

from dockyard import errors
from dockyard.errors import InvalidArgument, SystemCallError, Unavailable
from dockyard.oci.runtime_spec import OCI_VERSION, Seccomp, SeccompArg
from dockyard.records import field, record
from dockyard.runtime import log
from dockyard.runtime.linux import syscalls

# --- names -> values --------------------------------------------------------------------------------

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
# The actions whose low 16 bits carry errnoRet; both default to EPERM, as in runc.
_ACTIONS_WITH_DATA = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# Actions that let unknown syscalls through: no ENOSYS stub in front of those (runc's isAllowAction).
_PERMISSIVE_ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")

# OCI architecture -> libseccomp's name for seccomp_arch_resolve_name.
ARCHITECTURES: dict[str, str] = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64",
    "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64",
}

OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16
_FLAG_TSYNC = 1
_FLAG_SPEC_ALLOW = 4
_FLAG_WAIT_KILLABLE_RECV = 32

SECCOMP_SET_MODE_FILTER = 1
BPF_MAXINSNS = 4096
MAX_ARGS = 6  # syscalls take at most six arguments
_UINT64 = 2**64

# libseccomp attributes (enum scmp_filter_attr).
_SCMP_FLTATR_CTL_OPTIMIZE = 8
_NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name: "no such syscall"
# AUDIT_ARCH_X86_64; libseccomp's SCMP_ARCH_X32 token is a made-up value sharing this audit arch.
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_S390_TOKENS = (0x00000016, 0x80000016)  # s390, s390x: syscall 0 multiplexes unknown numbers


# --- the compiled filter ----------------------------------------------------------------------------


@record(frozen=True)
class Filter:
    """A compiled profile: the cBPF program (struct sock_filter[], host byte order) and the
    seccomp(2) flags to load it with."""

    program: bytes
    flags: int
    listener_path: str = ""
    listener_metadata: str = ""
    skipped_syscalls: tuple[str, ...] = field(default=(), compare=False)

    @property
    def notify(self) -> bool:
        """Whether `load` returns a listener fd (the profile uses SCMP_ACT_NOTIFY)."""
        return bool(self.flags & FLAG_NEW_LISTENER)

    @property
    def instructions(self) -> int:
        return len(self.program) // 8


# --- libseccomp through ctypes ------------------------------------------------------------------------


class _ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp {unsigned int arg; enum scmp_compare op; scmp_datum_t datum_a, datum_b;}"""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@functools.cache
def _lib() -> ctypes.CDLL:
    """libseccomp, loaded on first use: `create` without a seccomp section never pays for it."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as err:
        raise errors.NotImplemented(f"seccomp needs libseccomp.so.2, which cannot be loaded: {err}") from None
    c = ctypes
    for fn, restype, argtypes in (
        ("seccomp_init", c.c_void_p, [c.c_uint32]),
        ("seccomp_release", None, [c.c_void_p]),
        ("seccomp_arch_resolve_name", c.c_uint32, [c.c_char_p]),
        ("seccomp_arch_native", c.c_uint32, []),
        ("seccomp_arch_add", c.c_int, [c.c_void_p, c.c_uint32]),
        ("seccomp_syscall_resolve_name", c.c_int, [c.c_char_p]),
        ("seccomp_syscall_resolve_name_arch", c.c_int, [c.c_uint32, c.c_char_p]),
        ("seccomp_rule_add_array", c.c_int, [c.c_void_p, c.c_uint32, c.c_int, c.c_uint, c.POINTER(_ArgCmp)]),
        ("seccomp_attr_set", c.c_int, [c.c_void_p, c.c_int, c.c_uint32]),
        ("seccomp_export_bpf", c.c_int, [c.c_void_p, c.c_int]),
        ("seccomp_version", c.POINTER(_Version), []),
    ):
        func = getattr(lib, fn)
        func.restype = restype
        func.argtypes = argtypes
    return lib


def libseccomp_version() -> str:
    v = _lib().seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _strerror(negative_errno: int) -> str:
    return os.strerror(-negative_errno).lower()


# --- checking the spec --------------------------------------------------------------------------------


def _action(name: str, errno_ret: int | None, at: str) -> int:
    value = ACTIONS.get(name)
    if value is None:
        raise InvalidArgument(f"unknown seccomp action {name!r} in {at}")
    if name in _ACTIONS_WITH_DATA:
        data = errno.EPERM if errno_ret is None else errno_ret
        if not 0 <= data <= 0xFFFF:
            raise InvalidArgument(f"invalid errnoRet {data} in {at}: must be in 0..65535")
        value |= data
    return value


def _condition(arg: SeccompArg, syscall: str) -> _ArgCmp:
    op = OPERATORS.get(arg.op)
    if op is None:
        raise InvalidArgument(f"unknown seccomp operator {arg.op!r} for syscall {syscall}")
    if not 0 <= arg.index < MAX_ARGS:
        raise InvalidArgument(f"invalid seccomp argument index {arg.index} for syscall {syscall}: must be in 0..5")
    for what, value in (("value", arg.value), ("valueTwo", arg.value_two)):
        if not 0 <= value < _UINT64:
            raise InvalidArgument(f"invalid seccomp {what} {value} for syscall {syscall}: not an unsigned 64-bit value")
    return _ArgCmp(arg.index, op, arg.value, arg.value_two)


def flag_supported(flag: int) -> bool:
    """Whether the running kernel knows a SECCOMP_FILTER_FLAG_* (see the facts)."""
    probe = flag | FLAG_NEW_LISTENER if flag & _FLAG_WAIT_KILLABLE_RECV else flag
    try:
        syscalls.raw_syscall("seccomp", SECCOMP_SET_MODE_FILTER, probe, ctypes.c_void_p(None))
    except SystemCallError as err:
        return err.errno == errno.EFAULT
    return True  # cannot happen with a NULL program; be generous rather than wrong


def _flags(spec: Seccomp) -> int:
    names: Sequence[str] | None = spec.flags
    if names is None:
        # runc: with no "flags" key at all, SPEC_ALLOW is the default when the kernel has it.
        return _FLAG_SPEC_ALLOW if flag_supported(_FLAG_SPEC_ALLOW) else 0
    flags = 0
    for name in names:
        bit = FLAGS.get(name)
        if bit is None:
            raise InvalidArgument(f"unknown seccomp flag {name!r}")
        if not flag_supported(bit):
            raise errors.NotImplemented(f"seccomp flag {name} is not supported by this kernel")
        flags |= bit
    return flags


# --- compile ----------------------------------------------------------------------------------------


def compile(spec: Seccomp, cache_dir: str | None = None) -> Filter:
    """Check `spec` and build its filter. Unknown syscall names are skipped (debug log), as runc does:
    profiles list syscalls of newer kernels and other architectures.

    libseccomp takes ~20 ms to generate the program for a Docker-sized profile (3 architectures,
    ~370 syscalls). With `cache_dir` (a directory only this user can write, such as the runtime's
    root) the program is kept there by a digest of the profile, the libseccomp version and the
    kernel, and later containers with the same profile skip libseccomp altogether. The checks
    above and the flag probes still run every time."""
    default = _action(spec.default_action, spec.default_errno_ret, "defaultAction")
    if spec.default_action == "SCMP_ACT_NOTIFY":
        raise InvalidArgument("SCMP_ACT_NOTIFY cannot be used as default action")
    arch_names: list[str] = []
    for arch in spec.architectures:
        if arch not in ARCHITECTURES:
            raise InvalidArgument(f"unknown seccomp architecture {arch!r}")
        arch_names.append(ARCHITECTURES[arch])

    # Check every rule before touching libseccomp, so a bad profile fails with the clearest message.
    rules: list[tuple[str, int, list[_ArgCmp]]] = []
    notify = False
    for i, rule in enumerate(spec.syscalls):
        at = f"syscalls[{i}]"
        action = _action(rule.action, rule.errno_ret, at)
        for name in rule.names:
            if not name:
                raise InvalidArgument(f"empty syscall name in {at}")
            if rule.action == "SCMP_ACT_NOTIFY":
                notify = True
                if name == "write":
                    raise InvalidArgument("SCMP_ACT_NOTIFY cannot be used for the write syscall")
            rules.append((name, action, [_condition(arg, name) for arg in rule.args]))
    if notify and not spec.listener_path:
        raise InvalidArgument("seccomp listenerPath must be set when SCMP_ACT_NOTIFY is used")

    flags = _flags(spec)
    if notify:
        flags |= FLAG_NEW_LISTENER
        if flags & _FLAG_TSYNC:
            flags |= FLAG_TSYNC_ESRCH
    elif flags & _FLAG_WAIT_KILLABLE_RECV:
        # Only meaningful for a listener, and the kernel rejects it without one.
        log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: the profile has no SCMP_ACT_NOTIFY rule")
        flags &= ~_FLAG_WAIT_KILLABLE_RECV

    cache = _Cache(cache_dir, spec) if cache_dir else None
    cached = cache.get() if cache else None
    if cached is not None:
        program, skipped = cached
        for name in skipped:
            log.debug(f"unknown seccomp syscall {name!r} ignored")
    else:
        program, skipped = _build(spec, arch_names, rules, default)
        if cache:
            cache.put(program, skipped)
    return Filter(program, flags, spec.listener_path, spec.listener_metadata, tuple(skipped))


def _build(spec: Seccomp, arch_names: list[str], rules: list[tuple[str, int, list[_ArgCmp]]], default: int) -> tuple[bytes, list[str]]:
    """The program for checked rules: libseccomp's export with the ENOSYS stub in front."""
    lib = _lib()
    tokens = [_arch_token(lib, name) for name in arch_names]
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise errors.NotImplemented(f"seccomp default action {spec.default_action} is not supported by this kernel or libseccomp")
    try:
        for arch, token in zip(spec.architectures, tokens, strict=True):
            rc = lib.seccomp_arch_add(ctx, token)
            if rc == -errno.EDOM:
                raise InvalidArgument(
                    f"seccomp architecture {arch} cannot be combined with the others:"
                    " one filter cannot mix big- and little-endian architectures"
                )
            if rc < 0 and rc != -errno.EEXIST:  # EEXIST: the native arch, always present
                raise SystemCallError(f"error adding architecture {arch} to seccomp filter", -rc)
        if len(rules) > 32:
            # runc: a binary tree speeds up long profiles; libseccomp <= 2.5.4 misbehaves with it on
            # empty ones. Not fatal when unsupported.
            if lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0:
                log.debug("seccomp: binary tree optimisation not available")
        skipped = _add_rules(lib, ctx, rules, default)
        program = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)

    stub = _enosys_stub(lib, spec, tokens, [name for name, _, _ in rules])
    program = stub + program
    count = len(program) // 8
    if count > BPF_MAXINSNS:
        raise InvalidArgument(f"seccomp filter too long: {count} instructions (the kernel takes at most {BPF_MAXINSNS})")
    return program, skipped


class _Cache:
    """Compiled programs on disk, one file per digest: {"skipped": [...], "program": base64}.

    A cached program is trusted as a filter, so the directory must belong to this user and be
    writable by nobody else; otherwise the cache is not used."""

    VERSION = 1

    def __init__(self, directory: str, spec: Seccomp) -> None:
        from dockyard.records import asdict
        from dockyard.runtime import cjson  # not json: it imports re and enum (~5 ms a container)

        rules = asdict(spec)
        for volatile in ("flags", "listener_path", "listener_metadata"):  # not part of the program
            rules.pop(volatile, None)
        key = {
            "format": self.VERSION,
            "rules": rules,
            "libseccomp": libseccomp_version(),
            "kernel": os.uname().release,
            "machine": os.uname().machine,
        }
        # Records serialise in field order, so the same profile always gives the same bytes.
        digest = _sha256_hex(cjson.dumps(key).encode())
        self.directory = directory
        self.path = os.path.join(directory, f"{digest}.json")

    def _trusted(self) -> bool:
        try:
            st = os.stat(self.directory)
        except OSError:
            return False
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            log.debug(f"seccomp: not caching in {self.directory}: not owned by us or writable by others")
            return False
        return True

    def get(self) -> tuple[bytes, list[str]] | None:
        import binascii

        from dockyard.runtime import cjson

        if not self._trusted():
            return None
        try:
            with open(self.path, "rb") as f:
                entry = cjson.loads(f.read())
            program = binascii.a2b_base64(entry["program"], strict_mode=True)
            skipped = [str(name) for name in entry["skipped"]]
        except (OSError, ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not program or len(program) % 8 or len(program) > BPF_MAXINSNS * 8:
            return None
        return program, skipped

    def put(self, program: bytes, skipped: list[str]) -> None:
        """Write temp, fsync, rename; a failure only costs the next container the compile."""
        import binascii
        import tempfile

        from dockyard.runtime import cjson

        if not self._trusted():
            return
        data = cjson.dumps({"skipped": skipped, "program": binascii.b2a_base64(program, newline=False).decode()}).encode()
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.path)
            tmp = None
        except OSError as err:
            log.debug(f"seccomp: cannot cache the compiled filter in {self.directory}: {err}")
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _arch_token(lib: ctypes.CDLL, name: str) -> int:
    token = int(lib.seccomp_arch_resolve_name(name.encode()))
    if token == 0:
        raise errors.NotImplemented(f"seccomp architecture {name} is not supported by libseccomp {libseccomp_version()}")
    return token


def _add_rules(lib: ctypes.CDLL, ctx: int, rules: list[tuple[str, int, list[_ArgCmp]]], default: int) -> list[str]:
    skipped: list[str] = []
    for name, action, conditions in rules:
        if action == default:
            continue  # redundant, and libseccomp rejects it
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number == _NR_SCMP_ERROR:
            log.debug(f"unknown seccomp syscall {name!r} ignored")
            skipped.append(name)
            continue
        indexes = [c.arg for c in conditions]
        if len(set(indexes)) == len(indexes):
            groups = [conditions]
        else:
            # libseccomp takes one condition per argument in a rule; runc turns repeated ones into
            # separate rules (any of them matching triggers the action).
            groups = [[c] for c in conditions]
        for group in groups:
            array = (_ArgCmp * len(group))(*group) if group else None
            rc = lib.seccomp_rule_add_array(ctx, action, number, len(group), array)
            if rc < 0:
                kind = errors.NotImplemented if rc == -errno.EOPNOTSUPP else InvalidArgument
                raise kind(f"error adding seccomp rule for syscall {name}: {_strerror(rc)}")
    return skipped


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    # libseccomp 2.5 exports to an fd only (seccomp_export_bpf_mem is 2.6); a memfd never blocks.
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SystemCallError("error exporting the seccomp filter", -rc)
        size = os.lseek(fd, 0, os.SEEK_CUR)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


# --- the ENOSYS stub (runc's patchbpf, simplified) ------------------------------------------------------

# BPF opcodes used by the stub.
_LD_W_ABS = 0x20
_JMP_JA = 0x05
_JMP_JEQ_K = 0x15
_JMP_JGT_K = 0x25
_JMP_JSET_K = 0x45
_RET_K = 0x06
_SECCOMP_RET_ERRNO = 0x00050000
_OFFSET_NR = 0
_OFFSET_ARCH = 4


def _enosys_stub(lib: ctypes.CDLL, spec: Seccomp, tokens: list[int], names: list[str]) -> bytes:
    """Instructions that return ENOSYS for syscall numbers above the highest one the profile names,
    per architecture, and fall through to the libseccomp program otherwise."""
    if spec.default_action in _PERMISSIVE_ACTIONS:
        return b""
    if spec.default_action == "SCMP_ACT_ERRNO" and spec.default_errno_ret == errno.ENOSYS:
        return b""
    native = int(lib.seccomp_arch_native())
    # audit arch -> {libseccomp token: highest syscall number the profile names on it}
    sections: dict[int, dict[int, int]] = {}
    for token in dict.fromkeys([native, *tokens]):
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, n.encode()) for n in set(names)]
        highest = max((n for n in numbers if n >= 0), default=-1)
        if highest < 0:
            continue  # no syscall known there: the filter's own actions apply unpatched
        audit = _AUDIT_ARCH_X86_64 if token == 0x4000003E else token
        sections.setdefault(audit, {})[token] = highest
    if not sections:
        return b""

    # A tiny assembler: jumps name labels, resolved to forward offsets at the end.
    code: list[tuple[int, int | str, int | str, int]] = []
    labels: dict[str, int] = {}

    def emit(op: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        code.append((op, jt, jf, k))

    emit(_LD_W_ABS, _OFFSET_ARCH)
    for audit in sections:
        emit(_JMP_JEQ_K, audit, jt=f"arch{audit}")
    emit(_JMP_JA, 0, jt="filter")  # not one of ours: straight to the filter (its bad-arch action)
    for audit, highest in sections.items():
        labels[f"arch{audit}"] = len(code)
        emit(_LD_W_ABS, _OFFSET_NR)
        if audit in _S390_TOKENS:
            emit(_JMP_JEQ_K, 0, jt="enosys")
        if audit == _AUDIT_ARCH_X86_64:
            amd64, x32 = highest.get(_AUDIT_ARCH_X86_64), highest.get(0x4000003E)
            if amd64 is not None and x32 is not None:
                emit(_JMP_JSET_K, _X32_SYSCALL_BIT, jt=f"x32{audit}")
                emit(_JMP_JGT_K, amd64, jt="enosys", jf="filter")
                labels[f"x32{audit}"] = len(code)
                emit(_JMP_JGT_K, x32, jt="enosys", jf="filter")
            elif amd64 is not None:
                emit(_JMP_JSET_K, _X32_SYSCALL_BIT, jt="filter")
                emit(_JMP_JGT_K, amd64, jt="enosys", jf="filter")
            elif x32 is not None:
                emit(_JMP_JSET_K, _X32_SYSCALL_BIT, jf="filter")
                emit(_JMP_JGT_K, x32, jt="enosys", jf="filter")
        else:
            (top,) = highest.values()
            emit(_JMP_JGT_K, top, jt="enosys", jf="filter")
    labels["enosys"] = len(code)
    emit(_RET_K, _SECCOMP_RET_ERRNO | errno.ENOSYS)
    labels["filter"] = len(code)

    out = bytearray()
    for i, (op, jt, jf, k) in enumerate(code):

        def offset(target: int | str, i: int = i) -> int:
            return target if isinstance(target, int) else labels[target] - (i + 1)

        if op == _JMP_JA:
            out += struct.pack("=HBBI", op, 0, 0, offset(jt))
            continue
        t, f = offset(jt), offset(jf)
        if not (0 <= t <= 255 and 0 <= f <= 255):  # the stub is a few dozen instructions at most
            raise InvalidArgument("seccomp: ENOSYS stub jump out of range")
        out += struct.pack("=HBBI", op, t, f, k)
    return bytes(out)


# --- load ---------------------------------------------------------------------------------------------


def load(filter: Filter) -> int | None:
    """Install `filter` on the calling process. Returns the notify listener fd (close-on-exec) when
    the profile uses SCMP_ACT_NOTIFY, else None. Needs no_new_privs or CAP_SYS_ADMIN. See the facts
    for what may run between this and execve."""
    buf = ctypes.create_string_buffer(filter.program, len(filter.program))
    prog = _SockFprog(filter.instructions, ctypes.cast(buf, ctypes.c_void_p))
    try:
        result = syscalls.raw_syscall("seccomp", SECCOMP_SET_MODE_FILTER, filter.flags, ctypes.c_void_p(ctypes.addressof(prog)))
    except SystemCallError as err:
        hint = " (set noNewPrivileges or load it before dropping CAP_SYS_ADMIN)" if err.errno == errno.EACCES else ""
        error = SystemCallError("error loading seccomp filter into kernel", err.errno)
        if hint:
            error.args = (f"{error}{hint}",)
        raise error from None
    if filter.notify:
        return result
    if result > 0:
        # TSYNC without a listener: the id of a thread that could not be synchronised.
        raise SystemCallError(f"error loading seccomp filter: thread {result} could not be synchronised", errno.EAGAIN)
    return None


# --- the notify listener --------------------------------------------------------------------------------


def process_state(state_json: str, metadata: str, pid: int | None = None) -> bytes:
    """The specs.ContainerProcessState message for the agent, built around the container's state
    JSON (as `state` prints it). `pid` is the process that loaded the filter; it defaults to the
    container's init pid from the state."""
    import json

    state = json.loads(state_json)
    if not isinstance(state, dict):
        raise InvalidArgument("container state must be a JSON object")
    message: dict[str, object] = {
        "ociVersion": state.get("ociVersion", OCI_VERSION),
        "fds": ["seccompFd"],
        "pid": state.get("pid", 0) if pid is None else pid,
    }
    if metadata:
        message["metadata"] = metadata  # omitempty, as in runtime-spec's Go type
    message["state"] = state
    return json.dumps(message, separators=(",", ":")).encode()


def send_listener(listener_path: str, fd: int, state_json: str, metadata: str, pid: int | None = None) -> None:
    """Send the notify listener `fd` to the seccomp agent listening at `listener_path` (from the
    runtime, not from the init: the agent may take its time, and the init is under the filter)."""
    import socket

    message = process_state(state_json, metadata, pid)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(listener_path)
        except OSError as err:
            raise Unavailable(
                f"failed to connect with seccomp agent specified in the seccomp profile at {listener_path}: "
                f"{os.strerror(err.errno or 0).lower()}"
            ) from None
        try:
            socket.send_fds(sock, [message], [fd])
        except OSError as err:
            raise SystemCallError.from_oserror(f"cannot send seccomp fd to {listener_path}", err) from None


def _sha256_hex(data: bytes) -> str:
    """hashlib's sha256 without importing hashlib, which loads OpenSSL (~3 ms a container)."""
    for builtin in ("_sha2", "_sha256"):  # Python >= 3.12, 3.11
        try:
            module = __import__(builtin)
        except ImportError:
            continue
        return str(module.sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()
