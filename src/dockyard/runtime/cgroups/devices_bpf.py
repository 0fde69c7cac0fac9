"""The cgroup v2 device controller: a BPF_PROG_TYPE_CGROUP_DEVICE program, loaded through bpf(2).

Facts:
- cgroup v2 has no devices.* files. The kernel runs every BPF_CGROUP_DEVICE program attached to
  the task's v2 cgroup and its ancestors on each open/mknod of a device node; access is granted
  only if all of them return 1. This works in hybrid mode too: the programs of the task's cgroup
  on the unified hierarchy are consulted before the v1 devices controller.
- The program sees struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, where
  access_type is (access << 16) | type, type BPF_DEVCG_DEV_BLOCK (1) or _CHAR (2), access a mask
  of BPF_DEVCG_ACC_MKNOD (1), _READ (2), _WRITE (4).
- bpf(BPF_PROG_LOAD) needs CAP_BPF (or CAP_SYS_ADMIN); since 5.11 the program's memory is
  charged to the memory cgroup rather than RLIMIT_MEMLOCK. Loading can fail with EAGAIN when a
  signal interrupts the verifier; it is retried.
- bpf(BPF_PROG_ATTACH) with BPF_F_ALLOW_MULTI lets several programs sit on one cgroup (systemd
  may have one there); BPF_F_REPLACE with replace_bpf_fd swaps one atomically (5.6+).
  A program stays attached, and alive, after our fd is closed; rmdir of the cgroup frees it.
- bpf(BPF_PROG_QUERY) lists the attached program ids. Kernels 6.17 and later write the query's
  `revision` field (offset 56) whatever size is passed, so the attr buffer is always full-sized.
- Programs carry a 16-byte name; dockyard names its own "dockyard_dev", and replaces only
  programs with that name, leaving anyone else's restrictions in place.
- union bpf_attr is zero-filled beyond what we set; the kernel requires unknown tail bytes to be 0.

The program is runc's (devicefilter.go): a block per clean rule of the devices emulator, the
first match decides, and the default decides when nothing matches.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.records import record
from dockyard.runtime.cgroups import devices
from dockyard.runtime.linux import syscalls

PROGRAM_NAME = "dockyard_dev"

# bpf(2) commands
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2

_ATTR_SIZE = 256  # larger than union bpf_attr on every kernel so far; the tail stays zero

# Instruction opcodes (include/uapi/linux/bpf.h, bpf_common.h)
_LDX_MEM_W = 0x61   # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
_ALU_AND_K = 0x54   # BPF_ALU | BPF_AND | BPF_K: w_dst &= imm
_ALU_RSH_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K: w_dst >>= imm
_ALU_MOV_K = 0xB4   # BPF_ALU | BPF_MOV | BPF_K: w_dst = imm
_ALU_MOV_X = 0xBC   # BPF_ALU | BPF_MOV | BPF_X: w_dst = w_src
_JNE_K = 0x55       # BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto +off
_JNE_X = 0x5D       # BPF_JMP | BPF_JNE | BPF_X: if dst != src goto +off
_EXIT = 0x95        # BPF_JMP | BPF_EXIT

_R0, _R1, _R2, _R3, _R4, _R5 = range(6)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    # The register byte is a C bitfield: dst in the low nibble on little-endian machines.
    regs = (src << 4 | dst) if sys.byteorder == "little" else (dst << 4 | src)
    return struct.pack("=BBhi", code, regs, off, imm)


def _imm32(value: int, what: str) -> int:
    # JNE compares the zero-extended u32 the program loaded with a sign-extended imm32, so
    # only values below 2**31 compare correctly. No real device number comes near that.
    if not 0 <= value < 2**31:
        raise InvalidArgument(f"device {what} {value} is out of range for the device filter")
    return value


def _rule_block(rule: devices.Rule) -> list[bytes]:
    """if the device matches the rule: return allow; else fall through to the next block."""
    checks: list[tuple[int, int, int, int]] = []  # (opcode, dst, src, imm); off patched below
    dev_type = BPF_DEVCG_DEV_CHAR if rule.type == "c" else BPF_DEVCG_DEV_BLOCK
    checks.append((_JNE_K, _R2, 0, dev_type))
    access = devices.perms_to_set(rule.access)
    if access != devices.ALL_PERMS:
        bits = ((BPF_DEVCG_ACC_READ if "r" in rule.access else 0) | (BPF_DEVCG_ACC_WRITE if "w" in rule.access else 0)
                | (BPF_DEVCG_ACC_MKNOD if "m" in rule.access else 0))
        # The requested access (r3) must be a subset of the rule's: (r3 & bits) == r3.
        checks.append((-1, 0, 0, bits))
    if rule.major != devices.WILDCARD:
        checks.append((_JNE_K, _R4, 0, _imm32(rule.major, "major")))
    if rule.minor != devices.WILDCARD:
        checks.append((_JNE_K, _R5, 0, _imm32(rule.minor, "minor")))

    # Lay the block out, then point every "goto next" past its end.
    body: list[tuple[int, int, int, int, bool]] = []  # (code, dst, src, imm, is_jump)
    for code, dst, src, imm in checks:
        if code == -1:
            body.append((_ALU_MOV_X, _R1, _R3, 0, False))
            body.append((_ALU_AND_K, _R1, 0, imm, False))
            body.append((_JNE_X, _R1, _R3, 0, True))
        else:
            body.append((code, dst, src, imm, True))
    body.append((_ALU_MOV_K, _R0, 0, 1 if rule.allow else 0, False))
    body.append((_EXIT, 0, 0, 0, False))
    out: list[bytes] = []
    for i, (code, dst, src, imm, is_jump) in enumerate(body):
        out.append(_insn(code, dst, src, len(body) - i - 1 if is_jump else 0, imm))
    return out


def program(target: devices.Emulator) -> bytes:
    """The filter's instructions for an emulated device state."""
    insns = [
        _insn(_LDX_MEM_W, _R2, _R1, 0), _insn(_ALU_AND_K, _R2, imm=0xFFFF),  # r2 = type
        _insn(_LDX_MEM_W, _R3, _R1, 0), _insn(_ALU_RSH_K, _R3, imm=16),      # r3 = access
        _insn(_LDX_MEM_W, _R4, _R1, 4),                                       # r4 = major
        _insn(_LDX_MEM_W, _R5, _R1, 8),                                       # r5 = minor
    ]
    for index, rule in enumerate(target.clean_rules()):
        if rule.type == "a":
            # Only ever first: the switch to allow-all, which the default below expresses.
            if index != 0 or rule.allow != target.default_allow:
                raise InvalidArgument("internal error: misplaced wildcard in the emulated device rules")
            continue
        insns.extend(_rule_block(rule))
    insns.append(_insn(_ALU_MOV_K, _R0, imm=1 if target.default_allow else 0))
    insns.append(_insn(_EXIT))
    return b"".join(insns)


class _Attr:
    """A zeroed union bpf_attr with fields packed at their offsets."""

    def __init__(self) -> None:
        self.buf = ctypes.create_string_buffer(_ATTR_SIZE)

    def put(self, offset: int, fmt: str, value: int) -> _Attr:
        struct.pack_into("=" + fmt, self.buf, offset, value)
        return self

    def get(self, offset: int, fmt: str) -> int:
        return int(struct.unpack_from("=" + fmt, self.buf, offset)[0])

    def call(self, cmd: int) -> int:
        return syscalls.raw_syscall("bpf", cmd, ctypes.c_void_p(ctypes.addressof(self.buf)), _ATTR_SIZE)


def _addr(buf: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buf)


def load_program(code: bytes, name: str = PROGRAM_NAME) -> int:
    """Load a device filter; returns its fd (the caller closes it)."""
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"Apache")
    attr = (_Attr().put(0, "I", BPF_PROG_TYPE_CGROUP_DEVICE).put(4, "I", len(code) // 8)
            .put(8, "Q", _addr(insns)).put(16, "Q", _addr(license)))
    struct.pack_into("16s", attr.buf, 48, name.encode()[:15])
    for _ in range(30):
        try:
            return attr.call(BPF_PROG_LOAD)
        except SystemCallError as err:
            if err.errno == errno.EAGAIN:
                continue
            first = err
            break
    else:
        raise SystemCallError("load the device filter (bpf BPF_PROG_LOAD) kept being interrupted", errno.EAGAIN)
    # Load again with the verifier's log so the error says why.
    log = ctypes.create_string_buffer(1 << 16)
    attr.put(24, "I", 1).put(28, "I", len(log)).put(32, "Q", _addr(log))
    try:
        return attr.call(BPF_PROG_LOAD)
    except SystemCallError:
        pass
    detail = log.value.decode(errors="replace").strip()
    message = "load the device filter (bpf BPF_PROG_LOAD)" + (f" [verifier: {detail}]" if detail else "")
    raise SystemCallError(message, first.errno) from None


@record(frozen=True)
class Attached:
    id: int
    name: str


def _query_ids(cgroup_fd: int) -> list[int]:
    count = 64
    for _ in range(10):
        ids = (ctypes.c_uint32 * count)()
        attr = (_Attr().put(0, "I", cgroup_fd).put(4, "I", BPF_CGROUP_DEVICE)
                .put(16, "Q", ctypes.addressof(ids)).put(24, "I", count))
        try:
            attr.call(BPF_PROG_QUERY)
        except SystemCallError as err:
            if err.errno == errno.ENOSPC:
                count = max(attr.get(24, "I"), count * 2)
                continue
            raise SystemCallError("list the cgroup's device filters (bpf BPF_PROG_QUERY)", err.errno) from None
        return [int(ids[i]) for i in range(attr.get(24, "I"))]
    raise SystemCallError("list the cgroup's device filters (bpf BPF_PROG_QUERY): the list kept growing", errno.ENOSPC)


def _prog_fd(prog_id: int) -> int | None:
    try:
        return _Attr().put(0, "I", prog_id).call(BPF_PROG_GET_FD_BY_ID)
    except SystemCallError as err:
        # Gone meanwhile, or an LSM hides it (systemd's, under SELinux): not ours either way.
        if err.errno in (errno.ENOENT, errno.EPERM, errno.EACCES):
            return None
        raise


def _prog_name(prog_fd: int) -> str:
    info = ctypes.create_string_buffer(80)
    attr = _Attr().put(0, "I", prog_fd).put(4, "I", len(info)).put(8, "Q", _addr(info))
    attr.call(BPF_OBJ_GET_INFO_BY_FD)
    return info.raw[64:80].split(b"\0", 1)[0].decode(errors="replace")


def _open_dir(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise SystemCallError.from_oserror(f"open cgroup {path}", err) from None


def attached(path: str) -> list[Attached]:
    """The device filters attached to one v2 cgroup (not its ancestors)."""
    dir_fd = _open_dir(path)
    try:
        found: list[Attached] = []
        for prog_id in _query_ids(dir_fd):
            fd = _prog_fd(prog_id)
            if fd is None:
                continue
            try:
                found.append(Attached(prog_id, _prog_name(fd)))
            finally:
                os.close(fd)
        return found
    finally:
        os.close(dir_fd)


def _attach(dir_fd: int, prog_fd: int, flags: int, replace_fd: int = 0) -> None:
    attr = (_Attr().put(0, "I", dir_fd).put(4, "I", prog_fd).put(8, "I", BPF_CGROUP_DEVICE)
            .put(12, "I", flags).put(16, "I", replace_fd))
    attr.call(BPF_PROG_ATTACH)


def _detach(dir_fd: int, prog_fd: int) -> None:
    _Attr().put(0, "I", dir_fd).put(4, "I", prog_fd).put(8, "I", BPF_CGROUP_DEVICE).call(BPF_PROG_DETACH)


def apply(path: str, target: devices.Emulator) -> None:
    """Attach a filter for `target` to the v2 cgroup at `path`, replacing dockyard's earlier one."""
    code = program(target)
    dir_fd = _open_dir(path)
    old: list[int] = []
    prog_fd = -1
    try:
        for prog_id in _query_ids(dir_fd):
            fd = _prog_fd(prog_id)
            if fd is None:
                continue
            if _prog_name(fd) == PROGRAM_NAME:
                old.append(fd)
            else:
                os.close(fd)
        prog_fd = load_program(code)
        replaced = False
        if len(old) == 1:
            # One of ours: swap it atomically, so no open slips through between two programs.
            try:
                _attach(dir_fd, prog_fd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, old[0])
                replaced = True
            except SystemCallError as err:
                if err.errno != errno.EINVAL:  # EINVAL: a kernel before BPF_F_REPLACE
                    raise SystemCallError(f"attach the device filter to {path} (bpf BPF_PROG_ATTACH)", err.errno) from None
        if not replaced:
            try:
                _attach(dir_fd, prog_fd, BPF_F_ALLOW_MULTI)
            except SystemCallError as err:
                raise SystemCallError(f"attach the device filter to {path} (bpf BPF_PROG_ATTACH)", err.errno) from None
            for fd in old:
                try:
                    _detach(dir_fd, fd)
                except SystemCallError as err:
                    raise SystemCallError(f"detach the old device filter from {path} (bpf BPF_PROG_DETACH)",
                                          err.errno) from None
    finally:
        for fd in old:
            os.close(fd)
        if prog_fd >= 0:
            os.close(prog_fd)
        os.close(dir_fd)
