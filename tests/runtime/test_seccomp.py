"""Seccomp on a real kernel: each filter is loaded in a forked child, which then tries syscalls."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import platform
import select
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.oci.runtime_spec import Capabilities, Seccomp
from dockyard.runtime.linux import capabilities as caps
from dockyard.runtime.linux import process_attrs, seccomp, syscalls
from tests.runtime.forked import LogCapture, exec_into, read_proc_status, run_in_child, start_child

NATIVE_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}[platform.machine()]
CONTAINERS_PROFILE = Path("/usr/share/containers/seccomp.json")  # Debian's golang-github-containers-common

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def profile(**fields: Any) -> Seccomp:
    """A Seccomp record from OCI JSON field names, through the same reader config.json uses."""
    return Seccomp.read(fields, "linux.seccomp")


def raw_syscall_errno(number: int, *args: int) -> int:
    """errno of a raw syscall (0 when it succeeded), without going through anything that might
    make other syscalls first."""
    ctypes.set_errno(0)
    result = _libc.syscall(number, *(ctypes.c_ulong(a) for a in args))
    return ctypes.get_errno() if result == -1 else 0


def personality_errno(persona: int) -> int:
    try:
        syscalls.personality(persona)
    except errors.SystemCallError as err:
        return err.errno
    return 0


def no_core_dumps() -> None:
    """The children killed by SIGSYS would otherwise leave core files (core_pattern is "core")."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@pytest.fixture
def runtime_log(tmp_path: Path) -> Iterator[LogCapture]:
    with LogCapture(str(tmp_path / "runtime.log")) as cap:
        yield cap


# --- compile: checking the profile ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"defaultAction": "SCMP_ACT_FOO"}, "unknown seccomp action 'SCMP_ACT_FOO' in defaultAction"),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_DENY"}]},
            "unknown seccomp action 'SCMP_ACT_DENY' in syscalls[0]",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "unknown seccomp architecture 'SCMP_ARCH_Z80'"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XOR"}]}],
            },
            "unknown seccomp operator 'SCMP_CMP_XOR' for syscall personality",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}],
            },
            "invalid seccomp argument index 6 for syscall personality",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}, "unknown seccomp flag 'SECCOMP_FILTER_FLAG_FAST'"),
        ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}, "SCMP_ACT_NOTIFY cannot be used as default action"),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]},
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
            "listenerPath must be set",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]},
            "invalid errnoRet 70000 in syscalls[0]",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]}, "empty syscall name"),
    ],
)
def test_bad_profiles_are_rejected_by_name(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        seccomp.compile(profile(**fields))
    assert message in str(info.value)


def test_unknown_syscalls_are_skipped_with_a_debug_line(runtime_log: LogCapture) -> None:
    spec = profile(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["no_such_call", "mkdir"], "action": "SCMP_ACT_ERRNO"}])
    compiled = seccomp.compile(spec)
    assert compiled.skipped_syscalls == ("no_such_call",)
    assert "unknown seccomp syscall 'no_such_call' ignored" in runtime_log.messages("debug")
    assert not compiled.notify and compiled.instructions > 0


LITTLE_ENDIAN_ARCHES = [
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
]  # fmt: skip


def test_all_little_endian_architectures_and_actions_compile() -> None:
    # The hosts dockyard runs on are little-endian, and one filter cannot mix byte orders.
    arches = LITTLE_ENDIAN_ARCHES
    actions = [a for a in seccomp.ACTIONS if a not in ("SCMP_ACT_ALLOW", "SCMP_ACT_NOTIFY")]
    spec = profile(
        defaultAction="SCMP_ACT_ALLOW",
        architectures=arches,
        syscalls=[{"names": [name], "action": action} for name, action in zip(["mkdir", "rmdir", "chdir", "fchdir", "link", "unlink", "umask"], actions, strict=False)],
    )
    assert seccomp.compile(spec).instructions > 10


def test_mixed_byte_orders_are_rejected() -> None:
    with pytest.raises(InvalidArgument, match="SCMP_ARCH_S390X cannot be combined"):
        seccomp.compile(profile(defaultAction="SCMP_ACT_ALLOW", architectures=[NATIVE_ARCH, "SCMP_ARCH_S390X"]))


def test_unsupported_architecture_is_not_implemented() -> None:
    if seccomp.libseccomp_version() >= "2.6":
        pytest.skip("this libseccomp knows loongarch64")
    with pytest.raises(errors.NotImplemented, match="loongarch64 is not supported by libseccomp"):
        seccomp.compile(profile(defaultAction="SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_LOONGARCH64"]))


def test_libseccomp_is_loaded_only_to_compile() -> None:
    # `create` imports these modules for every container; libseccomp is for those with a profile.
    code = (
        "from dockyard.runtime.linux import capabilities, lsm, process_attrs, rlimits, seccomp\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert 'libseccomp' not in maps, 'loaded at import'\n"
        "from dockyard.oci.runtime_spec import Seccomp\n"
        "seccomp.compile(Seccomp('SCMP_ACT_ALLOW'))\n"
        "assert 'libseccomp' in open('/proc/self/maps').read()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the program cache ---------------------------------------------------------------------------------


def test_cache_reuses_the_program(tmp_path: Path, runtime_log: LogCapture) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    spec = profile(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=[NATIVE_ARCH],
        syscalls=[{"names": ["no_such_call", "mkdir"], "action": "SCMP_ACT_ALLOW"}],
    )
    first = seccomp.compile(spec, cache_dir=str(cache))
    [entry] = cache.iterdir()
    again = seccomp.compile(spec, cache_dir=str(cache))
    assert again == first and again.skipped_syscalls == ("no_such_call",)
    assert runtime_log.messages("debug").count("unknown seccomp syscall 'no_such_call' ignored") == 2
    # Another profile, another entry; the flags are not part of the key (they are probed each time).
    seccomp.compile(profile(defaultAction="SCMP_ACT_ALLOW", flags=["SECCOMP_FILTER_FLAG_LOG"]), cache_dir=str(cache))
    seccomp.compile(profile(defaultAction="SCMP_ACT_ALLOW"), cache_dir=str(cache))
    assert len(list(cache.iterdir())) == 2
    # A damaged entry is rebuilt, not trusted.
    entry.write_text('{"skipped": [], "program": "AAAA"}')
    assert seccomp.compile(spec, cache_dir=str(cache)) == first
    assert json.loads(entry.read_text())["skipped"] == ["no_such_call"]


def test_cache_in_a_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    seccomp.compile(profile(defaultAction="SCMP_ACT_ALLOW"), cache_dir=str(cache))
    assert list(cache.iterdir()) == []


def test_a_cached_program_filters(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    spec = profile(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    seccomp.compile(spec, cache_dir=str(cache))
    compiled = seccomp.compile(spec, cache_dir=str(cache))

    def child(out: int) -> int:
        process_attrs.set_no_new_privs()
        seccomp.load(compiled)
        try:
            os.mkdir(tmp_path / "x")
        except OSError as err:
            return err.errno or 0
        return 0

    assert run_in_child(child).value() == errno.EPERM


# --- load: the filter at work --------------------------------------------------------------------------


def run_filtered(spec: Seccomp, body: Any, nnp: bool = True) -> Any:
    compiled = seccomp.compile(spec)

    def child(out: int) -> Any:
        if nnp:
            process_attrs.set_no_new_privs()
        assert seccomp.load(compiled) is None
        return body()

    return run_in_child(child)


def test_errno_action_blocks_only_the_named_syscall(tmp_path: Path) -> None:
    spec = profile(
        defaultAction="SCMP_ACT_ALLOW",
        architectures=[NATIVE_ARCH],
        syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    )

    def body() -> dict[str, Any]:
        result: dict[str, Any] = {"status": read_proc_status()}
        try:
            os.mkdir(tmp_path / "blocked")
        except OSError as err:
            result["mkdir"] = err.errno
        (tmp_path / "file").write_text("still works")
        result["pid"] = os.getpid()
        return result

    result = run_filtered(spec, body).value()
    assert result["mkdir"] == errno.EPERM  # the default errnoRet, as in runc
    assert result["status"]["Seccomp"] == "2"
    assert result["status"]["NoNewPrivs"] == "1"
    assert (tmp_path / "file").read_text() == "still works"
    assert not (tmp_path / "blocked").exists()


def test_errno_ret_is_returned(tmp_path: Path) -> None:
    spec = profile(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV}],
    )

    def body() -> int:
        try:
            os.mkdir(tmp_path / "blocked")
        except OSError as err:
            return err.errno or 0
        return 0

    assert run_filtered(spec, body).value() == errno.EXDEV


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"])
def test_kill_and_trap_end_the_process_with_sigsys(action: str, tmp_path: Path) -> None:
    spec = profile(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["mkdir", "mkdirat"], "action": action}])

    def body() -> str:
        no_core_dumps()
        os.mkdir(tmp_path / "never")
        return "survived"

    result = run_filtered(spec, body)
    assert result.signal == signal.SIGSYS, result.text()
    assert not (tmp_path / "never").exists()


PERSONALITY_QUERY = 0xFFFFFFFF
PER_LINUX32 = 0x0008
ADDR_NO_RANDOMIZE = 0x0040000


@pytest.mark.parametrize(
    ("op", "value", "value_two", "blocked", "allowed"),
    [
        ("SCMP_CMP_EQ", PER_LINUX32, 0, [PER_LINUX32], [0, PERSONALITY_QUERY]),
        ("SCMP_CMP_NE", PERSONALITY_QUERY, 0, [0, PER_LINUX32], [PERSONALITY_QUERY]),
        ("SCMP_CMP_LT", PER_LINUX32, 0, [0], [PER_LINUX32, PERSONALITY_QUERY]),
        ("SCMP_CMP_LE", PER_LINUX32, 0, [0, PER_LINUX32], [PERSONALITY_QUERY]),
        ("SCMP_CMP_GT", PER_LINUX32, 0, [PERSONALITY_QUERY, ADDR_NO_RANDOMIZE], [0, PER_LINUX32]),
        ("SCMP_CMP_GE", PER_LINUX32, 0, [PER_LINUX32, PERSONALITY_QUERY], [0]),
        # (arg & value) == valueTwo: the OCI value is the mask.
        ("SCMP_CMP_MASKED_EQ", 0xFF, PER_LINUX32, [PER_LINUX32, ADDR_NO_RANDOMIZE | PER_LINUX32], [0, ADDR_NO_RANDOMIZE]),
    ],
)
def test_argument_filters(op: str, value: int, value_two: int, blocked: list[int], allowed: list[int]) -> None:
    spec = profile(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EXDEV,
                "args": [{"index": 0, "value": value, "valueTwo": value_two, "op": op}],
            }
        ],
    )

    def body() -> dict[str, int]:
        return {str(p): personality_errno(p) for p in blocked + allowed}

    result = run_filtered(spec, body).value()
    assert {int(p): e for p, e in result.items()} == {**{p: errno.EXDEV for p in blocked}, **{p: 0 for p in allowed}}


def test_conditions_on_the_same_argument_match_separately() -> None:
    # runc's rule: two conditions on one argument become two rules, either one triggers.
    spec = profile(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": PER_LINUX32, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": ADDR_NO_RANDOMIZE, "op": "SCMP_CMP_EQ"}],
            }
        ],
    )

    def body() -> list[int]:
        return [personality_errno(p) for p in (PER_LINUX32, ADDR_NO_RANDOMIZE, 0)]

    assert run_filtered(spec, body).value() == [errno.EPERM, errno.EPERM, 0]


def test_default_errno_and_the_enosys_stub() -> None:
    # Only what the child needs to get to exit_group is allowed; exit_group (231 on x86_64) is the
    # highest syscall the profile names, so anything above it is "unknown": ENOSYS, not EPERM.
    spec = profile(
        defaultAction="SCMP_ACT_ERRNO",
        defaultErrnoRet=errno.EPERM,
        architectures=[NATIVE_ARCH],
        syscalls=[{"names": ["exit_group", "exit", "brk", "mmap", "munmap", "rt_sigreturn", "rt_sigprocmask"], "action": "SCMP_ACT_ALLOW"}],
    )
    compiled = seccomp.compile(spec)
    highest = max(
        seccomp._lib().seccomp_syscall_resolve_name(n.encode()) for n in ("exit_group", "exit", "brk", "mmap", "munmap")
    )
    above, below = highest + 50, 100 if platform.machine() == "x86_64" else 153  # times(2) on both

    def child(out: int) -> None:
        process_attrs.set_no_new_privs()
        seccomp.load(compiled)
        code = 0
        if raw_syscall_errno(above) == errno.ENOSYS:
            code |= 1
        if raw_syscall_errno(below, 0) == errno.EPERM:
            code |= 2
        if raw_syscall_errno(999_999) == errno.ENOSYS:
            code |= 4
        os._exit(code)

    assert run_in_child(child).exit_code == 7


@pytest.mark.parametrize(
    ("default", "errno_ret", "stubbed"),
    [
        ("SCMP_ACT_ERRNO", None, True),
        ("SCMP_ACT_KILL_PROCESS", None, True),
        ("SCMP_ACT_ERRNO", errno.ENOSYS, False),  # already what the stub would answer
        ("SCMP_ACT_ALLOW", None, False),  # permissive defaults let new syscalls through anyway
        ("SCMP_ACT_LOG", None, False),
        ("SCMP_ACT_TRACE", None, False),
    ],
)
def test_enosys_stub_only_for_denying_defaults(default: str, errno_ret: int | None, stubbed: bool) -> None:
    spec = profile(defaultAction=default, defaultErrnoRet=errno_ret, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])
    stub = seccomp._enosys_stub(seccomp._lib(), spec, [], ["mkdir"])
    assert bool(stub) == stubbed
    if stubbed:
        # ld [4] (the architecture), then one jeq per architecture section.
        assert stub[:8] == struct.pack("=HBBI", 0x20, 0, 0, 4)
        assert struct.unpack("=HBBI", stub[8:16])[0] == 0x15


def test_load_without_nnp_needs_cap_sys_admin() -> None:
    spec = profile(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    compiled = seccomp.compile(spec)

    def child(out: int) -> str:
        eff, perm, inh = syscalls.capget()
        syscalls.capset(eff & ~(1 << caps.NUMBERS["CAP_SYS_ADMIN"]), perm, inh)
        try:
            seccomp.load(compiled)
        except errors.SystemCallError as err:
            return str(err)
        return "loaded"

    message = run_in_child(child).value()
    assert message.startswith("error loading seccomp filter into kernel: permission denied")
    assert "noNewPrivileges" in message


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"])
def test_flags_are_passed_to_the_kernel(flag: str, tmp_path: Path) -> None:
    spec = profile(defaultAction="SCMP_ACT_ALLOW", flags=[flag], syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    compiled = seccomp.compile(spec)
    assert compiled.flags == seccomp.FLAGS[flag]

    def body() -> int:
        try:
            os.mkdir(tmp_path / "x")
        except OSError as err:
            return err.errno or 0
        return 0

    assert run_filtered(spec, body).value() == errno.EPERM


def test_wait_killable_recv_without_notify_is_dropped() -> None:
    spec = profile(defaultAction="SCMP_ACT_ALLOW", flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    if not seccomp.flag_supported(seccomp.FLAGS["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]):
        with pytest.raises(errors.NotImplemented):
            seccomp.compile(spec)
        return
    assert seccomp.compile(spec).flags == 0


# --- SCMP_ACT_NOTIFY: the listener fd and the agent ------------------------------------------------------

# struct seccomp_notif {u64 id; u32 pid; u32 flags; struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6];}}
NOTIF = struct.Struct("=QIIiIQ6Q")
# struct seccomp_notif_resp {u64 id; s64 val; s32 error; u32 flags;}
NOTIF_RESP = struct.Struct("=QqiI")
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)


@pytest.mark.parametrize("flags", [[], ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]])
def test_notify_hands_the_listener_to_the_agent(tmp_path: Path, flags: list[str]) -> None:
    listener_path = str(tmp_path / "agent.sock")
    spec = profile(
        defaultAction="SCMP_ACT_ALLOW",
        listenerPath=listener_path,
        listenerMetadata="hello agent",
        flags=flags,
        syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    )
    compiled = seccomp.compile(spec)
    assert compiled.notify and compiled.flags & seccomp.FLAG_NEW_LISTENER
    target = tmp_path / "by-the-agent"

    # The child plays the init: it loads the filter, hands the listener fd to its parent (here over
    # a socketpair), then makes the notified syscall and reports what the agent made of it.
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def child(out: int) -> int:
        parent_end.close()
        fd = seccomp.load(compiled)
        assert fd is not None
        socket.send_fds(child_end, [b"fd"], [fd])
        os.close(fd)
        try:
            os.mkdir(target)
        except OSError as err:
            return err.errno or 0
        return 0

    with parent_end, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent, start_child(child) as running:
        agent.bind(listener_path)
        agent.listen(1)
        agent.settimeout(10)
        child_end.close()
        parent_end.settimeout(10)
        # What the runtime does with the fd: hand it on to the agent at listenerPath.
        _, [listener_fd], _, _ = socket.recv_fds(parent_end, 16, 1)
        state = {"ociVersion": "1.2.0", "id": "c1", "status": "created", "pid": 4242, "bundle": "/b"}
        seccomp.send_listener(listener_path, listener_fd, json.dumps(state), spec.listener_metadata, pid=4343)
        os.close(listener_fd)

        # The agent.
        conn, _ = agent.accept()
        with conn:
            message, [notify_fd], _, _ = socket.recv_fds(conn, 65536, 1)
        try:
            assert json.loads(message) == {
                "ociVersion": "1.2.0",
                "fds": ["seccompFd"],
                "pid": 4343,
                "metadata": "hello agent",
                "state": state,
            }
            assert select.select([notify_fd], [], [], 10)[0], "the child never made the notified syscall"
            buf = bytearray(NOTIF.size)
            fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
            notif_id, pid, _, nr, _, _, *_args = NOTIF.unpack(buf)
            assert nr in {seccomp._lib().seccomp_syscall_resolve_name(n) for n in (b"mkdir", b"mkdirat")}
            # The agent answers for the kernel: EXDEV, which mkdir never returns by itself.
            fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(NOTIF_RESP.pack(notif_id, 0, -errno.EXDEV, 0)))
        finally:
            os.close(notify_fd)
        result = running.finish()
    assert result.value() == errno.EXDEV
    assert pid == result.pid
    assert not target.exists()


def test_send_listener_without_an_agent_is_unavailable(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(Unavailable, match="failed to connect with seccomp agent"):
            seccomp.send_listener(str(tmp_path / "nobody.sock"), r, json.dumps({"pid": 1}), "")
    finally:
        os.close(r)
        os.close(w)


# --- a real profile in the init's order ---------------------------------------------------------------


def docker_format_to_oci(j: dict[str, Any], granted_caps: set[str]) -> dict[str, Any]:
    """What an engine does with a Docker-format profile: pick the native arch map and the rules whose
    includes/excludes match the container's capabilities (here: a test helper, not dockyard code)."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
    architectures: list[str] = []
    for m in j.get("archMap") or []:
        if m["architecture"] == NATIVE_ARCH:
            architectures = [m["architecture"], *m.get("subArchitectures", [])]
    rules = []
    for r in j["syscalls"]:
        inc, exc = r.get("includes") or {}, r.get("excludes") or {}
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= granted_caps:
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        if exc.get("caps") and set(exc["caps"]) & granted_caps:
            continue
        if inc.get("minKernel"):
            continue
        rule = {k: r[k] for k in ("names", "action", "errnoRet", "args") if r.get(k) is not None}
        rules.append(rule)
    # Docker's own default answers EPERM; the containers profile answers ENOSYS.
    return {"defaultAction": j["defaultAction"], "defaultErrnoRet": errno.EPERM, "architectures": architectures, "syscalls": rules}


@pytest.mark.skipif(not CONTAINERS_PROFILE.exists(), reason="needs Debian's golang-github-containers-common")
def test_docker_style_profile_in_the_inits_order() -> None:
    """noNewPrivileges false, as `docker run` has it: load while still privileged, then drop caps,
    switch user, capset + ambient, and exec a real program under the filter."""
    granted = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"]
    spec = profile(**docker_format_to_oci(json.loads(CONTAINERS_PROFILE.read_text()), set(granted)))
    compiled = seccomp.compile(spec)  # in the parent, before fork
    sets = caps.CapabilitySets.from_spec(
        Capabilities(bounding=granted, effective=granted, permitted=granted, inheritable=granted, ambient=granted)
    )

    def child(out: int) -> None:
        seccomp.load(compiled)
        # Now under the filter: what the init still does must be allowed by such a profile.
        # bpf(2) is for CAP_SYS_ADMIN holders only in that profile: EPERM here, where an allowed
        # call with a NULL attribute would fail with EFAULT or EINVAL instead.
        bpf = raw_syscall_errno(syscalls.NR["bpf"], 0, 0, 0)
        caps.drop_bounding(sets.bounding)
        caps.keep_across_setuid()
        os.setgroups([])
        os.setresgid(1000, 1000, 1000)
        os.setresuid(1000, 1000, 1000)
        caps.apply(sets)
        os.write(out, f"Bpf:\t{bpf}\n".encode())
        exec_into(out, ["/bin/busybox", "cat", "/proc/self/status"])

    result = run_in_child(child)
    status = result.status_fields()
    assert status.get("Seccomp") == "2", result.text()
    assert status["NoNewPrivs"] == "0"
    assert status["Bpf"] == str(errno.EPERM)
    assert int(status["CapEff"], 16) == int(status["CapAmb"], 16) == sets.ambient
    assert int(status["CapBnd"], 16) == sets.bounding
