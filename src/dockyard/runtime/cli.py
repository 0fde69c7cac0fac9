"""`dockyard-runtime`: runc's command line over runtime.container.Runtime.

Only argv parsing and printing live here. The parser is a small table rather than argparse: the
command is on the hot path of every container start, and it must accept what runc's (urfave/cli)
accepts: `--flag value`, `--flag=value`, `-f value`, single-dash long flags, global flags before
the command.
"""

from __future__ import annotations

import os
import sys

from dockyard import __version__
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.records import field, record
from dockyard.runtime import cjson, log

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

USAGE = """dockyard-runtime: an OCI runtime, command-line compatible with runc

usage: dockyard-runtime [global options] command [command options] [arguments...]

commands:
  create     create a container            start      start a created container
  run        create and start a container  exec       run a new process inside a container
  state      output the state of a container
  kill       send a signal to a container's init process
  delete     delete a container and its resources
  list       list containers               ps         list a container's processes
  pause      suspend all processes         resume     resume all processes
  events     container stats and events    update     update resource limits
  features   show what this runtime supports
  spec       create a new specification file

global options:
  --root value          state directory (default: /run/dockyard-runtime)
  --log value           log file (default: stderr)
  --log-format value    text or json (default: text)
  --debug               debug logging
  --systemd-cgroup      treat cgroupsPath as slice:prefix:name
  --version, -v         print the version
"""

# flag name -> takes a value; aliases map onto these names.
_GLOBAL = {"root": True, "log": True, "log-format": True, "debug": False, "systemd-cgroup": False,
           "rootless": True, "criu": True, "version": False, "help": False}
_GLOBAL_ALIASES = {"v": "version", "h": "help"}

_CREATE = {"bundle": True, "console-socket": True, "pid-file": True, "no-pivot": False,
           "no-new-keyring": False, "preserve-fds": True}
_COMMANDS: dict[str, dict[str, bool]] = {
    "create": _CREATE,
    "run": {**_CREATE, "detach": False, "keep": False, "no-subreaper": False},
    "start": {},
    "state": {},
    "kill": {"all": False},
    "delete": {"force": False},
    "exec": {"process": True, "console-socket": True, "cwd": True, "env": True, "tty": False, "user": True,
             "additional-gids": True, "process-label": True, "apparmor": True, "no-new-privs": False,
             "cap": True, "detach": False, "pid-file": True, "preserve-fds": True, "ignore-paused": False,
             "cgroup": True},
    "ps": {"format": True},
    "list": {"format": True, "quiet": False},
    "pause": {},
    "resume": {},
    "events": {"stats": False, "interval": True},
    "update": {"resources": True, "memory": True, "memory-swap": True, "memory-reservation": True,
               "kernel-memory": True, "kernel-memory-tcp": True, "cpu-shares": True, "cpu-quota": True,
               "cpu-period": True, "cpu-rt-runtime": True, "cpu-rt-period": True, "cpuset-cpus": True,
               "cpuset-mems": True, "pids-limit": True, "blkio-weight": True, "l3-cache-schema": True,
               "mem-bw-schema": True},
    "features": {},
    "spec": {"bundle": True, "rootless": False},
}
_ALIASES = {"b": "bundle", "d": "detach", "a": "all", "f": "force", "p": "process", "e": "env", "t": "tty",
            "u": "user", "g": "additional-gids", "c": "cap", "q": "quiet", "r": "resources"}
# -f means --format for ps and list, --force for delete.
_COMMAND_ALIASES = {"ps": {"f": "format"}, "list": {"f": "format"}}
_REPEATABLE = {"env", "cap", "additional-gids", "cgroup"}


@record
class Parsed:
    flags: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


def _parse(argv: list[str], table: dict[str, bool], aliases: dict[str, str],
           flags_end_after: int | None) -> tuple[Parsed, list[str]]:
    """Parse flags from `argv`.

    flags_end_after: 0 = stop at the first positional and return it with the rest (global flags);
    1 = after the first positional everything is an argument (exec and ps take a command line);
    None = flags may come anywhere.
    """
    parsed = Parsed()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            parsed.args.extend(argv[i + 1 :])
            return parsed, []
        if not arg.startswith("-") or arg == "-":
            if flags_end_after == 0:
                return parsed, argv[i:]
            parsed.args.append(arg)
            i += 1
            if flags_end_after is not None and len(parsed.args) >= flags_end_after:
                parsed.args.extend(argv[i:])
                return parsed, []
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        name = aliases.get(name, name)
        if name not in table:
            raise InvalidArgument(f"flag provided but not defined: {arg.split('=')[0]}")
        if table[name]:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: {arg}")
                value = argv[i]
            if name in _REPEATABLE:
                parsed.flags.setdefault(name, []).append(value)
            else:
                parsed.flags[name] = value
        else:
            parsed.flags[name] = value.lower() not in ("false", "0") if eq else True
        i += 1
    return parsed, []


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        glob, rest = _parse(argv, _GLOBAL, _GLOBAL_ALIASES, flags_end_after=0)
    except InvalidArgument as err:
        sys.stderr.write(f"{err}\n")
        return 1
    if glob.flags.get("version"):
        print(f"dockyard-runtime version {__version__}\nspec: 1.2.0")
        return 0
    if glob.flags.get("help") or not rest or rest[0] in ("help", "h"):
        sys.stdout.write(USAGE)
        return 0
    log.configure(glob.flags.get("log"), glob.flags.get("log-format", "text"), bool(glob.flags.get("debug")))
    command, rest = rest[0], rest[1:]
    if command not in _COMMANDS:
        log.error(f"No help topic for '{command}'")
        return 1
    aliases = {**_ALIASES, **_COMMAND_ALIASES.get(command, {})}
    if command in ("create", "run", "exec"):
        # The cgroup attach's grace period (cgroups/warmup.py) runs while the runtime is imported.
        from dockyard.runtime.cgroups import warmup

        warmup.start()
    try:
        parsed, _ = _parse(rest, _COMMANDS[command], aliases, 1 if command in ("exec", "ps") else None)
        from dockyard.runtime.container import Runtime

        runtime = Runtime(glob.flags.get("root") or os.environ.get("XDG_RUNTIME_DIR_DOCKYARD", "/run/dockyard-runtime"))
        return _HANDLERS[command](runtime, parsed, glob)
    except DockyardError as err:
        prefix = f"dockyard-runtime {command} failed: " if command in ("create", "run", "exec", "start") else ""
        log.error(f"{prefix}{err}")
        return 1
    except KeyboardInterrupt:
        return 130


def _need_id(parsed: Parsed, command: str, extra: int = 0) -> str:
    if not parsed.args:
        raise InvalidArgument(f'"{command}" requires a minimum of 1 argument')
    if extra == 0 and len(parsed.args) > 1:
        raise InvalidArgument(f'"{command}" requires exactly 1 argument')
    return parsed.args[0]


def _create_options(parsed: Parsed, glob: Parsed) -> Any:
    from dockyard.runtime.container import CreateOptions

    return CreateOptions(
        console_socket=parsed.flags.get("console-socket", ""), pid_file=parsed.flags.get("pid-file", ""),
        no_pivot=bool(parsed.flags.get("no-pivot")), no_new_keyring=bool(parsed.flags.get("no-new-keyring")),
        preserve_fds=_int(parsed.flags.get("preserve-fds", "0"), "preserve-fds"),
        systemd_cgroup=bool(glob.flags.get("systemd-cgroup")),
    )


def _int(value: str, what: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise InvalidArgument(f'invalid value "{value}" for flag --{what}') from None


def _bundle(parsed: Parsed) -> str:
    bundle: str = parsed.flags.get("bundle") or os.getcwd()
    if not os.path.isdir(bundle):
        raise InvalidArgument(f"chdir {bundle}: no such file or directory")
    return bundle


def cmd_create(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    runtime.create(_need_id(parsed, "create"), _bundle(parsed), _create_options(parsed, glob))
    return 0


def cmd_run(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    code: int = runtime.run(_need_id(parsed, "run"), _bundle(parsed), _create_options(parsed, glob),
                            detach=bool(parsed.flags.get("detach")), keep=bool(parsed.flags.get("keep")))
    return code


def cmd_start(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    runtime.start(_need_id(parsed, "start"))
    return 0


def cmd_state(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    import json

    print(json.dumps(runtime.state(_need_id(parsed, "state")), indent="  "))
    return 0


def cmd_kill(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    from dockyard.runtime.signals import parse_signal

    container_id = _need_id(parsed, "kill", extra=1)
    if len(parsed.args) > 2:
        raise InvalidArgument('"kill" requires a maximum of 2 arguments')
    sig = parse_signal(parsed.args[1] if len(parsed.args) > 1 else "SIGTERM")
    runtime.kill(container_id, sig, all_processes=bool(parsed.flags.get("all")))
    return 0


def cmd_delete(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    if not parsed.args:
        raise InvalidArgument('"delete" requires a minimum of 1 argument')
    for container_id in parsed.args:
        runtime.delete(container_id, force=bool(parsed.flags.get("force")))
    return 0


def cmd_exec(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    from dockyard.runtime.container import ExecOptions
    from dockyard.runtime.exec_process import process_from_flags

    container_id = _need_id(parsed, "exec", extra=1)
    process = process_from_flags(runtime, container_id, parsed.flags, parsed.args[1:])
    opts = ExecOptions(console_socket=parsed.flags.get("console-socket", ""), pid_file=parsed.flags.get("pid-file", ""),
                       detach=bool(parsed.flags.get("detach")),
                       preserve_fds=_int(parsed.flags.get("preserve-fds", "0"), "preserve-fds"))
    code: int = runtime.exec(container_id, process, opts)
    return code


def _printed_as_json(parsed: Parsed, value: object) -> bool:
    """`--format json` prints `value` and says so; `table` (the default) is left to the caller."""
    fmt = parsed.flags.get("format", "table")
    if fmt == "json":
        print(cjson.dumps(value))
        return True
    if fmt != "table":
        raise InvalidArgument(f"invalid format option: {fmt}")
    return False


def cmd_ps(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    container_id = _need_id(parsed, "ps", extra=1)
    pids = runtime.pids(container_id)
    if _printed_as_json(parsed, pids):
        return 0
    import subprocess

    ps_args = parsed.args[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise InvalidArgument(f"ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument("couldn't find PID field in ps output")
    column = header.index("PID")
    print(lines[0])
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)
    return 0


def cmd_list(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    states = runtime.containers()
    if parsed.flags.get("quiet"):
        for st in states:
            print(st["id"])
        return 0
    if _printed_as_json(parsed, states):
        return 0
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    rows += [[st["id"], str(st["pid"]), st["status"], st["bundle"], st["created"], st["owner"]] for st in states]
    widths = [max(12, *(len(r[i]) for r in rows)) + 1 for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1])
    return 0


def cmd_pause(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    runtime.pause(_need_id(parsed, "pause"))
    return 0


def cmd_resume(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    runtime.resume(_need_id(parsed, "resume"))
    return 0


def cmd_events(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    from dockyard.runtime.events import stream_events

    container_id = _need_id(parsed, "events")
    interval = parsed.flags.get("interval", "5s")
    return stream_events(runtime, container_id, once=bool(parsed.flags.get("stats")), interval=interval)


def cmd_update(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    from dockyard.runtime.update import resources_from_flags

    container_id = _need_id(parsed, "update")
    runtime.update(container_id, resources_from_flags(parsed.flags))
    return 0


def cmd_features(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    import json

    from dockyard.runtime.features import features

    print(json.dumps(features(), indent="    "))
    return 0


def cmd_spec(runtime: Any, parsed: Parsed, glob: Parsed) -> int:
    from dockyard.runtime.default_spec import write_spec

    write_spec(parsed.flags.get("bundle") or os.getcwd(), rootless=bool(parsed.flags.get("rootless")))
    return 0


_HANDLERS: dict[str, Callable[[Any, Parsed, Parsed], int]] = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state, "kill": cmd_kill,
    "delete": cmd_delete, "exec": cmd_exec, "ps": cmd_ps, "list": cmd_list, "pause": cmd_pause,
    "resume": cmd_resume, "events": cmd_events, "update": cmd_update, "features": cmd_features, "spec": cmd_spec,
}

if __name__ == "__main__":
    sys.exit(main())
