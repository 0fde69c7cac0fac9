"""Typed instructions from parsed lines (buildkit's frontend/dockerfile/instructions as Docker 20.10
vendors it): flags checked, arguments shaped, Docker's error texts.

    stages, meta_args = parse_dockerfile(parser.parse(text).nodes)
    stages[0].base_name, stages[0].commands[0]        # "busybox", RunCommand(...)

Every command keeps `code` (the instruction as written, continuations joined: what `Step n/m :`
prints) and its line numbers. Errors are `ParseError`s whose text is Docker's
`dockerfile parse error line 7: unknown instruction: RUNN`.

Beyond Docker 20.10 (BuildKit syntax, handled by the executor): COPY/ADD `--chmod` and `--link`,
heredocs on RUN/COPY/ADD.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.build.parser import Heredoc, Node, ParseError
from dockyard.errors import InvalidArgument
from dockyard.oci.image_spec import HealthConfig

__all__ = [
    "AddCommand", "ArgCommand", "CmdCommand", "Command", "CopyCommand", "EntrypointCommand", "EnvCommand",
    "ExposeCommand", "HealthCheckCommand", "LabelCommand", "MaintainerCommand", "OnbuildCommand", "RunCommand",
    "ShellCommand", "Stage", "StopSignalCommand", "UserCommand", "VolumeCommand", "WorkdirCommand",
    "parse_command", "parse_dockerfile", "parse_duration",
]

MINIMUM_DURATION_NS = 1_000_000
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")


@dataclass
class Command:
    name: str  # lower-case instruction
    code: str  # as written (continuations joined, trimmed)
    start_line: int = 0
    end_line: int = 0

    def __str__(self) -> str:
        return self.code


@dataclass
class EnvCommand(Command):
    pairs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class LabelCommand(Command):
    pairs: list[tuple[str, str]] = field(default_factory=list)
    no_expand: bool = False


@dataclass
class MaintainerCommand(Command):
    maintainer: str = ""


@dataclass
class CopyCommand(Command):
    """COPY and ADD (`name` tells them apart)."""

    sources: list[str] = field(default_factory=list)
    dest: str = ""
    chown: str = ""
    chmod: str = ""
    from_: str = ""
    link: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)


AddCommand = CopyCommand


@dataclass
class OnbuildCommand(Command):
    expression: str = ""


@dataclass
class WorkdirCommand(Command):
    path: str = ""


@dataclass
class ShellDependent(Command):
    cmd_line: list[str] | None = None
    prepend_shell: bool = False


@dataclass
class RunCommand(ShellDependent):
    flags_used: list[str] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)


@dataclass
class CmdCommand(ShellDependent):
    pass


@dataclass
class EntrypointCommand(ShellDependent):
    pass


@dataclass
class HealthCheckCommand(Command):
    health: HealthConfig = field(default_factory=HealthConfig)


@dataclass
class ExposeCommand(Command):
    ports: list[str] = field(default_factory=list)


@dataclass
class UserCommand(Command):
    user: str = ""


@dataclass
class VolumeCommand(Command):
    volumes: list[str] = field(default_factory=list)


@dataclass
class StopSignalCommand(Command):
    signal: str = ""


@dataclass
class ArgCommand(Command):
    args: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class ShellCommand(Command):
    shell: list[str] = field(default_factory=list)


@dataclass
class Stage:
    name: str  # lower-cased `AS name`, or ""
    base_name: str
    code: str
    platform: str = ""
    start_line: int = 0
    commands: list[Command] = field(default_factory=list)


# --- flags -----------------------------------------------------------------------------------------


class _Flags:
    """Docker's BFlags: `--name=value` strings, `--name[=true|false]` booleans, repeated lists."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.kinds: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.used: list[str] = []

    def add(self, name: str, kind: str = "string", default: str = "") -> None:
        self.kinds[name] = kind
        self.values[name] = default
        self.lists[name] = []

    def parse(self) -> None:
        for arg in self.args:
            if not arg.startswith("--"):
                raise InvalidArgument(f"Arg should start with -- : {arg}")
            if arg == "--":
                return
            name, sep, value = arg[2:].partition("=")
            if name not in self.kinds:
                raise InvalidArgument(f"Unknown flag: {name}")
            kind = self.kinds[name]
            if name in self.used and kind != "strings":
                raise InvalidArgument(f"Duplicate flag specified: {name}")
            if name not in self.used:
                self.used.append(name)
            if kind == "bool":
                if sep and value == "":
                    raise InvalidArgument(f"Missing a value on flag: {name}")
                lower = value.lower()
                if lower == "":
                    self.values[name] = "true"
                elif lower in ("true", "false"):
                    self.values[name] = lower
                else:
                    raise InvalidArgument(f"Expecting boolean value for flag {name}, not: {value}")
            else:
                if not sep:
                    raise InvalidArgument(f"Missing a value on flag: {name}")
                if kind == "strings":
                    self.lists[name].append(value)
                else:
                    self.values[name] = value


# --- commands --------------------------------------------------------------------------------------


def _base(node: Node) -> dict[str, object]:
    return {"name": node.value, "code": node.original.strip(), "start_line": node.start_line,
            "end_line": node.end_line}


def _kvps(args: list[str], name: str) -> list[tuple[str, str]]:
    if not args:
        raise InvalidArgument(f"{name} requires at least one argument")
    if len(args) % 2:
        raise InvalidArgument(f"Bad input to {name}, too many arguments")
    pairs = []
    for key, value in zip(args[::2], args[1::2], strict=True):
        if not key:
            raise InvalidArgument(f"{name} names can not be blank")
        pairs.append((key, value))
    return pairs


def _shell_dependent(node: Node, empty_as_none: bool) -> tuple[list[str] | None, bool]:
    if node.json:
        args = list(node.args)
    else:
        args = [" ".join(node.args)] if node.args else []
    if empty_as_none and not args:
        return None, not node.json
    return args, not node.json


def _flags(node: Node, *spec: tuple[str, str]) -> _Flags:
    flags = _Flags(node.flags)
    for name, kind in spec:
        flags.add(name, kind)
    flags.parse()
    return flags


def _parse_env(node: Node) -> Command:
    _flags(node)
    return EnvCommand(**_base(node), pairs=_kvps(node.args, "ENV"))  # type: ignore[arg-type]


def _parse_label(node: Node) -> Command:
    _flags(node)
    return LabelCommand(**_base(node), pairs=_kvps(node.args, "LABEL"))  # type: ignore[arg-type]


def _parse_maintainer(node: Node) -> Command:
    if len(node.args) != 1:
        raise InvalidArgument("MAINTAINER requires exactly one argument")
    _flags(node)
    return MaintainerCommand(**_base(node), maintainer=node.args[0])  # type: ignore[arg-type]


def _copy_args(node: Node, what: str) -> tuple[list[str], str]:
    args = list(node.args)
    if len(args) < 2:
        raise InvalidArgument(f"{what} requires at least two arguments, but only one was provided. "
                              "Destination could not be determined")
    return args[:-1], args[-1]


def _parse_add(node: Node) -> Command:
    sources, dest = _copy_args(node, "ADD")
    flags = _flags(node, ("chown", "string"), ("chmod", "string"), ("link", "bool"))
    return CopyCommand(**_base(node), sources=sources, dest=dest, chown=flags.values["chown"],  # type: ignore[arg-type]
                       chmod=flags.values["chmod"], link=flags.values["link"] == "true",
                       heredocs=list(node.heredocs))


def _parse_copy(node: Node) -> Command:
    sources, dest = _copy_args(node, "COPY")
    flags = _flags(node, ("chown", "string"), ("from", "string"), ("chmod", "string"), ("link", "bool"))
    return CopyCommand(**_base(node), sources=sources, dest=dest, chown=flags.values["chown"],  # type: ignore[arg-type]
                       chmod=flags.values["chmod"], from_=flags.values["from"],
                       link=flags.values["link"] == "true", heredocs=list(node.heredocs))


def _parse_from(node: Node) -> Stage:
    args = node.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise InvalidArgument(f'invalid name for build stage: "{args[2]}", name can\'t start with a number '
                                  "or contain symbols")
    elif len(args) != 1:
        raise InvalidArgument("FROM requires either one or three arguments")
    flags = _flags(node, ("platform", "string"))
    return Stage(name=name, base_name=args[0], code=node.original.strip(), platform=flags.values["platform"],
                 start_line=node.start_line)


_ONBUILD_PREFIX = re.compile(r"(?i)^\s*ONBUILD\s*")


def _parse_onbuild(node: Node) -> Command:
    if not node.args:
        raise InvalidArgument("ONBUILD requires at least one argument")
    _flags(node)
    trigger = node.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    return OnbuildCommand(**_base(node), expression=expression)  # type: ignore[arg-type]


def _parse_workdir(node: Node) -> Command:
    if len(node.args) != 1:
        raise InvalidArgument("WORKDIR requires exactly one argument")
    _flags(node)
    return WorkdirCommand(**_base(node), path=node.args[0])  # type: ignore[arg-type]


def _parse_run(node: Node) -> Command:
    flags = _flags(node, ("mount", "strings"))
    cmd, prepend = _shell_dependent(node, False)
    return RunCommand(**_base(node), cmd_line=cmd, prepend_shell=prepend,  # type: ignore[arg-type]
                      flags_used=list(flags.used), heredocs=list(node.heredocs))


def _parse_cmd(node: Node) -> Command:
    _flags(node)
    cmd, prepend = _shell_dependent(node, False)
    return CmdCommand(**_base(node), cmd_line=cmd, prepend_shell=prepend)  # type: ignore[arg-type]


def _parse_entrypoint(node: Node) -> Command:
    _flags(node)
    cmd, prepend = _shell_dependent(node, True)
    return EntrypointCommand(**_base(node), cmd_line=cmd, prepend_shell=prepend)  # type: ignore[arg-type]


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds (`1m30s`, `1.5h`, `-2s`, `0`), with its errors."""
    orig = text
    quoted = '"' + orig + '"'
    neg = False
    if text and text[0] in "+-":
        neg = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise InvalidArgument(f"time: invalid duration {quoted}")
    total = 0
    while text:
        if not (text[0] == "." or text[0].isdigit()):
            raise InvalidArgument(f"time: invalid duration {quoted}")
        i = 0
        while i < len(text) and text[i].isdigit():
            i += 1
        whole, text = int(text[:i] or "0"), text[i:]
        pre = i > 0
        frac, scale, post = 0, 1, False
        if text.startswith("."):
            text = text[1:]
            j = 0
            while j < len(text) and text[j].isdigit():
                j += 1
            if j:
                frac, scale, post = int(text[:j]), 10 ** j, True
            text = text[j:]
        if not pre and not post:
            raise InvalidArgument(f"time: invalid duration {quoted}")
        k = 0
        while k < len(text) and not (text[k] == "." or text[k].isdigit()):
            k += 1
        if k == 0:
            raise InvalidArgument(f"time: missing unit in duration {quoted}")
        unit, text = text[:k], text[k:]
        if unit not in _DURATION_UNITS:
            raise InvalidArgument(f'time: unknown unit "{unit}" in duration {quoted}')
        factor = _DURATION_UNITS[unit]
        total += whole * factor + (frac * factor) // scale
    return -total if neg else total


def _interval(flags: _Flags, name: str) -> int:
    value = flags.values[name]
    if value == "":
        return 0
    ns = parse_duration(value)
    if ns < MINIMUM_DURATION_NS:
        raise InvalidArgument(f'Interval "{name}" cannot be less than 1ms')
    return ns


def _parse_healthcheck(node: Node) -> Command:
    if not node.args:
        raise InvalidArgument("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    args = node.args[1:]
    if kind == "NONE":
        if args:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return HealthCheckCommand(**_base(node), health=HealthConfig(test=["NONE"]))  # type: ignore[arg-type]
    flags = _flags(node, ("interval", "string"), ("timeout", "string"), ("start-period", "string"),
                   ("retries", "string"))
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    cmd = list(args) if node.json else ([" ".join(args)] if args else [])
    if not cmd:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    health = HealthConfig(test=[kind if node.json else "CMD-SHELL", *cmd])
    health.interval = _interval(flags, "interval")
    health.timeout = _interval(flags, "timeout")
    health.start_period = _interval(flags, "start-period")
    retries = flags.values["retries"]
    if retries:
        try:
            value = int(retries, 10)
        except ValueError:
            raise InvalidArgument(f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
        if value < 1:
            raise InvalidArgument(f"--retries must be at least 1 (not {value})")
        health.retries = value
    return HealthCheckCommand(**_base(node), health=health)  # type: ignore[arg-type]


def _parse_expose(node: Node) -> Command:
    if not node.args:
        raise InvalidArgument("EXPOSE requires at least one argument")
    _flags(node)
    return ExposeCommand(**_base(node), ports=sorted(node.args))  # type: ignore[arg-type]


def _parse_user(node: Node) -> Command:
    if len(node.args) != 1:
        raise InvalidArgument("USER requires exactly one argument")
    _flags(node)
    return UserCommand(**_base(node), user=node.args[0])  # type: ignore[arg-type]


def _parse_volume(node: Node) -> Command:
    if not node.args:
        raise InvalidArgument("VOLUME requires at least one argument")
    _flags(node)
    volumes = []
    for v in node.args:
        v = v.strip()
        if not v:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes.append(v)
    return VolumeCommand(**_base(node), volumes=volumes)  # type: ignore[arg-type]


def _parse_stopsignal(node: Node) -> Command:
    if len(node.args) != 1:
        raise InvalidArgument("STOPSIGNAL requires exactly one argument")
    return StopSignalCommand(**_base(node), signal=node.args[0])  # type: ignore[arg-type]


def _parse_arg(node: Node) -> Command:
    if not node.args:
        raise InvalidArgument("ARG requires at least one argument")
    pairs: list[tuple[str, str | None]] = []
    for arg in node.args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            if not key:
                raise InvalidArgument("ARG names can not be blank")
            pairs.append((key, value))
        else:
            pairs.append((arg, None))
    return ArgCommand(**_base(node), args=pairs)  # type: ignore[arg-type]


def _parse_shell(node: Node) -> Command:
    _flags(node)
    shell, _ = _shell_dependent(node, False)
    if not shell:
        raise InvalidArgument("SHELL requires at least one argument")
    if not node.json:
        raise InvalidArgument("SHELL requires the arguments to be in JSON form")
    return ShellCommand(**_base(node), shell=shell)  # type: ignore[arg-type]


_PARSERS: dict[str, Callable[[Node], Command]] = {
    "env": _parse_env, "maintainer": _parse_maintainer, "label": _parse_label, "add": _parse_add,
    "copy": _parse_copy, "onbuild": _parse_onbuild, "workdir": _parse_workdir, "run": _parse_run,
    "cmd": _parse_cmd, "healthcheck": _parse_healthcheck, "entrypoint": _parse_entrypoint,
    "expose": _parse_expose, "user": _parse_user, "volume": _parse_volume, "stopsignal": _parse_stopsignal,
    "arg": _parse_arg, "shell": _parse_shell,
}


def parse_instruction(node: Node) -> Command | Stage:
    """A Command or a Stage (FROM); InvalidArgument on bad input (no line prefix)."""
    if node.value == "from":
        return _parse_from(node)
    parser = _PARSERS.get(node.value)
    if parser is None:
        raise InvalidArgument(f"unknown instruction: {node.value.upper()}")
    return parser(node)


def parse_command(node: Node) -> Command:
    """One instruction that must not be FROM (ONBUILD triggers, `commit -c`)."""
    parsed = parse_instruction(node)
    if isinstance(parsed, Stage):
        raise InvalidArgument("*instructions.Stage is not a command type")
    return parsed


def parse_dockerfile(nodes: list[Node]) -> tuple[list[Stage], list[ArgCommand]]:
    """The stages and the ARGs before the first FROM. Errors name the line as Docker does."""
    stages: list[Stage] = []
    meta: list[ArgCommand] = []
    for node in nodes:
        try:
            parsed = parse_instruction(node)
        except InvalidArgument as err:
            raise ParseError(f"dockerfile parse error line {node.start_line}: {err}", node.start_line) from None
        if isinstance(parsed, Stage):
            stages.append(parsed)
        elif not stages:
            if isinstance(parsed, ArgCommand):
                meta.append(parsed)
                continue
            raise ParseError("no build stage in current context", node.start_line)
        else:
            stages[-1].commands.append(parsed)
    return stages, meta
