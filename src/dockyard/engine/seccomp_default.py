"""Docker's default seccomp profile and the rules that turn a Docker profile into an OCI one.

The profile data is moby's `profiles/seccomp/default.json` as of Docker 20.10.24, shipped as
`seccomp_default.json` beside this module. `oci_seccomp(profile, capabilities)` evaluates it as
moby's `seccomp.setupSeccomp` does:

- `architectures` and `archMap` are exclusive; with `archMap`, the entry for the native architecture
  gives it and its sub-architectures (x86_64: X86_64, X86, X32);
- each syscall group is kept only when its conditions hold: `excludes.arches` (the native arch is not
  listed), `excludes.caps` (none of them in the bounding set), `excludes.minKernel` (the kernel is
  older), and `includes.arches` / `includes.caps` (all of them) / `includes.minKernel` (at least);
- `name` and `names` are exclusive; `comment`, `includes`, `excludes` are dropped from the output.

Docker 20.10 knows no `defaultErrnoRet`, `flags`, `listenerPath` in a profile; they are ignored here
too, so a profile gives the same OCI seccomp as under Docker 20.10.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from dockyard.engine.config import go_json_kind
from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Seccomp, SeccompArg, SeccompSyscall

__all__ = ["default_profile", "oci_seccomp", "parse_profile", "seccomp_to_json"]

_PROFILE_FILE = Path(__file__).with_name("seccomp_default.json")

# uname -m -> (libseccomp native name as moby's goToNative gives it, the SCMP_ARCH_ of that name)
_NATIVE = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "amd64": ("amd64", "SCMP_ARCH_X86_64"),
    "i386": ("x86", "SCMP_ARCH_X86"),
    "i686": ("x86", "SCMP_ARCH_X86"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "arm64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "ppc64": ("ppc64", "SCMP_ARCH_PPC64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "s390": ("s390", "SCMP_ARCH_S390"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
}


@cache
def _default_text() -> str:
    return _PROFILE_FILE.read_text()


@cache
def default_profile() -> Mapping[str, Any]:
    """Docker's default profile, as its JSON document: one shared copy, read-only (`oci_seccomp`
    only reads it; a deep copy per container cost ~1.5 ms of every start)."""
    value = json.loads(_default_text())
    assert isinstance(value, dict)
    return value


def parse_profile(text: str) -> dict[str, Any]:
    """A user's profile (`--security-opt seccomp=<file>`: the CLI sends the file's content), checked.
    InvalidArgument `Decoding seccomp profile failed: ...` as Docker says for bad JSON."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"Decoding seccomp profile failed: json: cannot unmarshal {go_json_kind(value)} "
                              "into Go value of type seccomp.Seccomp")
    _check_profile(value)
    return value


def _bad(field: str, value: Any, go_type: str) -> InvalidArgument:
    return InvalidArgument(f"Decoding seccomp profile failed: json: cannot unmarshal {go_json_kind(value)} into Go "
                           f"struct field {field} of type {go_type}")


def _check_strings(value: Any, field: str) -> None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(s, str) for s in value)):
        raise _bad(field, value, "[]string")


def _check_profile(p: dict[str, Any]) -> None:
    if p.get("defaultAction") is not None and not isinstance(p["defaultAction"], str):
        raise _bad("Seccomp.defaultAction", p["defaultAction"], "specs.LinuxSeccompAction")
    _check_strings(p.get("architectures"), "Seccomp.architectures")
    arch_map = p.get("archMap")
    if arch_map is not None:
        if not isinstance(arch_map, list) or not all(isinstance(a, dict) for a in arch_map):
            raise _bad("Seccomp.archMap", arch_map, "[]seccomp.Architecture")
        for a in arch_map:
            if a.get("architecture") is not None and not isinstance(a["architecture"], str):
                raise _bad("Architecture.archMap.architecture", a["architecture"], "specs.Arch")
            _check_strings(a.get("subArchitectures"), "Architecture.archMap.subArchitectures")
    syscalls = p.get("syscalls")
    if syscalls is None:
        return
    if not isinstance(syscalls, list):
        raise _bad("Seccomp.syscalls", syscalls, "[]*seccomp.Syscall")
    for call in syscalls:
        if call is None:
            continue
        if not isinstance(call, dict):
            raise _bad("Seccomp.syscalls", call, "seccomp.Syscall")
        if call.get("name") is not None and not isinstance(call["name"], str):
            raise _bad("Syscall.syscalls.name", call["name"], "string")
        _check_strings(call.get("names"), "Syscall.syscalls.names")
        if call.get("action") is not None and not isinstance(call["action"], str):
            raise _bad("Syscall.syscalls.action", call["action"], "specs.LinuxSeccompAction")
        errno = call.get("errnoRet")
        if errno is not None and (isinstance(errno, bool) or not isinstance(errno, int) or errno < 0):
            raise _bad("Syscall.syscalls.errnoRet", errno, "uint")
        args = call.get("args")
        if args is not None:
            if not isinstance(args, list):
                raise _bad("Syscall.syscalls.args", args, "[]*specs.LinuxSeccompArg")
            for arg in args:
                if arg is None:
                    continue
                if not isinstance(arg, dict):
                    raise _bad("Syscall.syscalls.args", arg, "specs.LinuxSeccompArg")
                for key in ("index", "value", "valueTwo"):
                    v = arg.get(key)
                    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                        raise _bad(f"LinuxSeccompArg.syscalls.args.{key}", v, "uint64" if key != "index" else "uint")
                if arg.get("op") is not None and not isinstance(arg["op"], str):
                    raise _bad("LinuxSeccompArg.syscalls.args.op", arg["op"], "specs.LinuxSeccompOperator")
        for part in ("includes", "excludes"):
            f = call.get(part)
            if f is None:
                continue
            if not isinstance(f, dict):
                raise _bad(f"Syscall.syscalls.{part}", f, "seccomp.Filter")
            _check_strings(f.get("caps"), f"Filter.syscalls.{part}.caps")
            _check_strings(f.get("arches"), f"Filter.syscalls.{part}.arches")
            if f.get("minKernel") is not None:
                _kernel_version(f["minKernel"])


_KERNEL = re.compile(r"(\d+)\.(\d+)")


def _kernel_version(value: Any) -> tuple[int, int] | None:
    """A profile's `minKernel` ("4.8") as moby's KernelVersion.UnmarshalJSON reads it."""
    shown = json.dumps(value)
    if not isinstance(value, str):
        raise InvalidArgument(f'Decoding seccomp profile failed: invalid kernel version: {shown}, expected "<kernel>.<major>": '
                              f"json: cannot unmarshal {go_json_kind(value)} into Go value of type string")
    if value == "":
        return None
    parts = value.split(".", 2)
    if len(parts) != 2:
        raise InvalidArgument(f'Decoding seccomp profile failed: invalid kernel version: {shown}, expected "<kernel>.<major>"')
    try:
        kernel, major = int(parts[0]), int(parts[1])
        if not (0 <= kernel < 256 and 0 <= major < 256) or not parts[0].isdigit() or not parts[1].isdigit():
            raise ValueError
    except ValueError:
        raise InvalidArgument(f'Decoding seccomp profile failed: invalid kernel version: {shown}, expected "<kernel>.<major>": '
                              "invalid syntax") from None
    if kernel == 0 and major == 0:
        raise InvalidArgument(f'Decoding seccomp profile failed: invalid kernel version: {shown}, expected "<kernel>.<major>": '
                              "version cannot be 0.0")
    return kernel, major


@cache
def _host_kernel() -> tuple[int, int]:
    m = _KERNEL.match(os.uname().release)
    if not m:
        raise InvalidArgument(f"failed to parse kernel version {os.uname().release!r}")
    return int(m.group(1)), int(m.group(2))


def oci_seccomp(profile: Mapping[str, Any], capabilities: Sequence[str], *, machine: str | None = None,
                kernel: tuple[int, int] | None = None) -> Seccomp | None:
    """The OCI `linux.seccomp` for `profile` given the container's bounding capabilities (`CAP_...`
    names), or None when the profile disables seccomp (no defaultAction and no syscalls).
    `machine` (uname -m) and `kernel` (major, minor) default to this host's."""
    if profile.get("defaultAction", "") == "" and not profile.get("syscalls"):
        return None
    architectures = list(profile.get("architectures") or [])
    arch_map = profile.get("archMap") or []
    if architectures and arch_map:
        raise InvalidArgument("'architectures' and 'archMap' were specified in the seccomp profile, "
                              "use either 'architectures' or 'archMap'")
    native, scmp_arch = _NATIVE.get(machine or platform.machine(), ("", ""))
    if arch_map and scmp_arch:
        for entry in arch_map:
            if entry.get("architecture") == scmp_arch:
                architectures = [scmp_arch, *(entry.get("subArchitectures") or [])]
                break
    caps = set(capabilities)
    kernel_now = kernel if kernel is not None else _host_kernel()
    syscalls: list[SeccompSyscall] = []
    for call in profile.get("syscalls") or []:
        if call is None:
            continue
        includes = call.get("includes") or {}
        excludes = call.get("excludes") or {}
        if native in (excludes.get("arches") or []):
            continue
        if any(c in caps for c in excludes.get("caps") or []):
            continue
        min_kernel = _kernel_version(excludes.get("minKernel") or "")
        if min_kernel is not None and kernel_now >= min_kernel:
            continue
        if includes.get("arches") and native not in includes["arches"]:
            continue
        if any(c not in caps for c in includes.get("caps") or []):
            continue
        min_kernel = _kernel_version(includes.get("minKernel") or "")
        if min_kernel is not None and kernel_now < min_kernel:
            continue
        if call.get("name") and call.get("names"):
            raise InvalidArgument("'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'")
        names = [call["name"]] if call.get("name") else list(call.get("names") or [])
        args = [SeccompArg(index=a.get("index", 0), value=a.get("value", 0), op=a.get("op", ""),
                           value_two=a.get("valueTwo", 0))
                for a in call.get("args") or [] if a is not None]
        syscalls.append(SeccompSyscall(names=names, action=call.get("action", ""), errno_ret=call.get("errnoRet"),
                                       args=args))
    return Seccomp(default_action=profile.get("defaultAction", ""), architectures=architectures, syscalls=syscalls)


def seccomp_to_json(s: Seccomp) -> dict[str, Any]:
    """`linux.seccomp` as runtime-spec's Go types write it (Docker 20.10's vendored 1.0.2 types)."""
    out: dict[str, Any] = {"defaultAction": s.default_action}
    if s.default_errno_ret is not None:
        out["defaultErrnoRet"] = s.default_errno_ret
    if s.architectures:
        out["architectures"] = list(s.architectures)
    if s.flags:
        out["flags"] = list(s.flags)
    if s.listener_path:
        out["listenerPath"] = s.listener_path
    if s.listener_metadata:
        out["listenerMetadata"] = s.listener_metadata
    if s.syscalls:
        calls = []
        for c in s.syscalls:
            call: dict[str, Any] = {"names": list(c.names), "action": c.action}
            if c.errno_ret is not None:
                call["errnoRet"] = c.errno_ret
            if c.args:
                call["args"] = [_arg_json(a) for a in c.args]
            calls.append(call)
        out["syscalls"] = calls
    return out


def _arg_json(a: SeccompArg) -> dict[str, Any]:
    out: dict[str, Any] = {"index": a.index, "value": a.value}
    if a.value_two:
        out["valueTwo"] = a.value_two
    out["op"] = a.op
    return out
