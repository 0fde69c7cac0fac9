"""Dockerfile instructions applied to an image config: `docker import -c` and `docker commit -c`
(moby's `BuildFromConfig`).

The changes are joined into one Dockerfile (continuation lines and comments allowed) and only the
instructions that change the config are accepted: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,
ONBUILD, USER, VOLUME, WORKDIR. Anything else is refused as Docker refuses it: `run is not a valid
change command`. Variables (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`) are expanded from
the config's own Env in ENV, EXPOSE, LABEL, USER, VOLUME and WORKDIR, as the builder does;
CMD and ENTRYPOINT keep their text (the shell form runs it with `/bin/sh -c`).

The builder (build/) has the full Dockerfile parser; this covers what a change line can be.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence

from dockyard.errors import InvalidArgument
from dockyard.oci.image_spec import ContainerConfig, HealthConfig

VALID = ("cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild", "user", "volume", "workdir")
_DEFAULT_SHELL = ["/bin/sh", "-c"]


def _lines(changes: Sequence[str]) -> list[tuple[str, str]]:
    """(instruction, arguments) of each logical line of the joined changes."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in "\n".join(changes).split("\n"):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        if not line.strip():
            continue
        word, _, rest = line.strip().partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        out.append((word.lower(), rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        out.append((word.lower(), rest.strip()))
    return out


def _json_form(args: str) -> list[str] | None:
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


class _Lexer:
    """Word splitting and variable expansion as the Dockerfile shell lexer does it."""

    def __init__(self, env: list[str]) -> None:
        self.env: dict[str, str] = {}
        for item in env:
            key, _, value = item.partition("=")
            self.env[key] = value

    def _var(self, text: str, i: int) -> tuple[str, int]:
        """Expand the variable after a `$` at text[i]; (value, index after it)."""
        if i < len(text) and text[i] == "{":
            end = text.find("}", i)
            if end < 0:
                raise InvalidArgument(f"failed to process {text!r}: missing '}}'")
            body = text[i + 1:end]
            m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?\Z", body, re.S)
            if not m:
                raise InvalidArgument(f"failed to process {text!r}: unsupported modifier in ${{{body}}}")
            name, op, word = m.group(1), m.group(2), m.group(3) or ""
            value = self.env.get(name, "")
            if op == "-" and not value:
                value = self.words(word, split=False)[0]
            elif op == "+":
                value = self.words(word, split=False)[0] if value else ""
            return value, end + 1
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
        if not m:
            return "$", i
        return self.env.get(m.group(), ""), i + m.end()

    def words(self, text: str, split: bool = True, expand: bool = True) -> list[str]:
        """The words of `text` (one word when `split` is false), quotes removed, variables expanded."""
        words: list[str] = []
        current: list[str] = []
        started, i = False, 0
        while i < len(text):
            c = text[i]
            if c.isspace() and split:
                if started:
                    words.append("".join(current))
                    current, started = [], False
                i += 1
            elif c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise InvalidArgument(f"failed to process {text!r}: unexpected end of statement while looking for matching single-quote")
                current.append(text[i + 1:end])
                started, i = True, end + 1
            elif c == '"':
                i += 1
                started = True
                while True:
                    if i >= len(text):
                        raise InvalidArgument(f"failed to process {text!r}: unexpected end of statement while looking for matching double-quote")
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$':
                        current.append(text[i + 1])
                        i += 2
                    elif c == "$" and expand:
                        value, i = self._var(text, i + 1)
                        current.append(value)
                    else:
                        current.append(c)
                        i += 1
            elif c == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                started, i = True, i + 2
            elif c == "$" and expand:
                value, i = self._var(text, i + 1)
                current.append(value)
                started = True
            else:
                current.append(c)
                started, i = True, i + 1
        if started or (not split and not words):
            words.append("".join(current))
        return words


def _pairs(name: str, args: str, lexer: _Lexer) -> list[tuple[str, str]]:
    """KEY=VALUE pairs (ENV, LABEL), or the legacy `KEY VALUE` form of one pair."""
    words = lexer.words(args, expand=name == "env" or name == "label")
    if not words:
        raise InvalidArgument(f"{name.upper()} requires at least one argument")
    if "=" not in words[0]:
        first, _, rest = args.strip().partition(" ")
        key = lexer.words(first)[0]
        if not rest.strip():
            raise InvalidArgument(f"{name.upper()} must have two arguments")
        return [(key, lexer.words(rest.strip(), split=False)[0])]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise InvalidArgument(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        if not key:
            raise InvalidArgument(f"{name.upper()} names can not be blank")
        out.append((key, value))
    return out


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


def _duration(text: str, flag: str) -> int:
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if not m:
            raise InvalidArgument(f"time: invalid duration {text!r} for --{flag}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise InvalidArgument(f"time: invalid duration {text!r} for --{flag}")
    return int(total)


def _healthcheck(args: str) -> HealthConfig:
    words = args.split()
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        if key not in ("interval", "timeout", "start-period", "retries"):
            raise InvalidArgument(f"Unknown flag: {key}")
        flags[key] = value
    if not words:
        raise InvalidArgument("Missing command after HEALTHCHECK")
    kind = words[0].upper()
    rest = args[args.upper().index(kind, args.find(words[0])) + len(kind):].strip() if kind in ("CMD", "NONE") else ""
    if kind == "NONE":
        if len(words) > 1 or flags:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return HealthConfig(test=["NONE"])
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{words[0]}" in HEALTHCHECK (try CMD)')
    exec_form = _json_form(rest)
    test = ["CMD", *exec_form] if exec_form is not None else ["CMD-SHELL", rest]
    health = HealthConfig(test=test)
    if "interval" in flags:
        health.interval = _duration(flags["interval"], "interval")
    if "timeout" in flags:
        health.timeout = _duration(flags["timeout"], "timeout")
    if "start-period" in flags:
        health.start_period = _duration(flags["start-period"], "start-period")
    if "retries" in flags:
        try:
            health.retries = int(flags["retries"])
        except ValueError:
            raise InvalidArgument(f"invalid value for --retries: {flags['retries']!r}") from None
        if health.retries < 1:
            raise InvalidArgument(f"--retries cannot be less than 1: {health.retries}")
    return health


def _port(spec: str) -> list[str]:
    proto = "tcp"
    if "/" in spec:
        spec, proto = spec.split("/", 1)
    if ":" in spec:
        spec = spec.rsplit(":", 1)[1]
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", spec)
    if not m or proto.lower() not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"Invalid containerPort: {spec}")
    start, end = int(m.group(1)), int(m.group(2) or m.group(1))
    if end < start or end > 65535:
        raise InvalidArgument(f"Invalid range specified for the Port: {spec}")
    return [f"{p}/{proto.lower()}" for p in range(start, end + 1)]


def apply_changes(config: ContainerConfig | None, changes: Sequence[str]) -> ContainerConfig:
    """A copy of `config` (an empty one for None) with the changes applied, in order."""
    out = config.copy() if config is not None else ContainerConfig()
    lines = _lines(changes)
    for name, _ in lines:
        if name not in VALID:
            raise InvalidArgument(f"{name} is not a valid change command")
    cmd_set = False
    for name, args in lines:
        lexer = _Lexer(out.env or [])
        if name in ("cmd", "entrypoint"):
            exec_form = _json_form(args)
            value = exec_form if exec_form is not None else [*_DEFAULT_SHELL, args]
            if name == "cmd":
                out.cmd, cmd_set = value, True
            else:
                out.entrypoint = value if (exec_form is not None or args) else None
                if not cmd_set:
                    out.cmd = None
        elif name == "env":
            env = list(out.env or [])
            for key, val in _pairs(name, args, lexer):
                entry = f"{key}={val}"
                for i, existing in enumerate(env):
                    if existing.split("=", 1)[0] == key:
                        env[i] = entry
                        break
                else:
                    env.append(entry)
            out.env = env
        elif name == "label":
            labels = dict(out.labels or {})
            labels.update(_pairs(name, args, lexer))
            out.labels = labels
        elif name == "expose":
            ports = set(out.exposed_ports or [])
            words = lexer.words(args)
            if not words:
                raise InvalidArgument("EXPOSE requires at least one argument")
            for word in words:
                ports.update(_port(word))
            out.exposed_ports = sorted(ports)
        elif name == "user":
            words = lexer.words(args, split=False)
            if not args:
                raise InvalidArgument("USER requires exactly one argument")
            out.user = words[0]
        elif name == "workdir":
            if not args:
                raise InvalidArgument("WORKDIR requires exactly one argument")
            path = lexer.words(args, split=False)[0]
            out.working_dir = posixpath.normpath(posixpath.join("/", out.working_dir, path))
        elif name == "volume":
            volumes = _json_form(args) or lexer.words(args)
            if not volumes:
                raise InvalidArgument("VOLUME requires at least one argument")
            current = set(out.volumes or [])
            for volume in volumes:
                if not volume.strip():
                    raise InvalidArgument("VOLUME specified can not be an empty string")
                current.add(volume.strip())
            out.volumes = sorted(current)
        elif name == "onbuild":
            trigger, _, rest = args.partition(" ")
            upper = trigger.upper()
            if upper == "ONBUILD":
                raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if upper in ("FROM", "MAINTAINER"):
                raise InvalidArgument(f"{upper} isn't allowed as an ONBUILD trigger")
            out.on_build = [*(out.on_build or []), f"{upper} {rest.strip()}".strip()]
        elif name == "healthcheck":
            out.healthcheck = _healthcheck(args)
    return out
