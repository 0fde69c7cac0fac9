"""`dockyard`: the command line. Global flags, the daemon address, and dispatch to one verb.

Start-up cost is the point of this module's shape: it imports only `os`, `sys` (already loaded
by the interpreter) and, once the verb is known, the one module under `commands/` that implements
it. Nothing here connects to the daemon; the client connects on its first request.

The daemon address: `-H/--host`, else $DOCKYARD_HOST, else unix:///run/dockyard.sock.
$DOCKER_HOST is deliberately NOT read: it names a Docker daemon, and a `dockyard` command that
silently acted on Docker's containers would surprise; point dockyard at Docker with
`-H "$DOCKER_HOST"` or `DOCKYARD_HOST=...` when that is what you want (the tests do). The same
goes for TLS: $DOCKYARD_TLS_VERIFY and $DOCKYARD_CERT_PATH (default ~/.dockyard, holding
ca.pem, cert.pem, key.pem), and $DOCKYARD_API_VERSION to skip the version negotiation.
"""

from __future__ import annotations

import os
import sys

from dockyard import __version__
from dockyard.cli.errors import CLIError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.client import Client, TLSOptions

PROG = "dockyard"

# verb -> (module under dockyard.cli.commands, function). Management groups map their
# sub-verbs the same way; top-level shortcuts are docker's.
_CONTAINER = {
    "attach": ("run", "attach"), "commit": ("files", "commit"), "cp": ("files", "cp"), "create": ("run", "create"),
    "diff": ("files", "diff"), "exec": ("exec", "exec_"), "export": ("files", "export"),
    "inspect": ("inspect", "container_inspect"), "kill": ("lifecycle", "kill"), "logs": ("logs", "logs"),
    "ls": ("ps", "ps"), "list": ("ps", "ps"), "ps": ("ps", "ps"), "pause": ("lifecycle", "pause"),
    "port": ("ps", "port"), "prune": ("lifecycle", "prune"), "rename": ("lifecycle", "rename"),
    "restart": ("lifecycle", "restart"), "rm": ("lifecycle", "rm"), "remove": ("lifecycle", "rm"),
    "run": ("run", "run"), "start": ("run", "start"), "stats": ("monitor", "stats"), "stop": ("lifecycle", "stop"),
    "top": ("monitor", "top"), "unpause": ("lifecycle", "unpause"), "wait": ("lifecycle", "wait"),
}
_IMAGE = {
    "bootstrap": ("bootstrap", "bootstrap"), "build": ("build", "build"), "history": ("images", "history"), "import": ("transfer", "import_"),
    "inspect": ("inspect", "image_inspect"), "load": ("transfer", "load"), "ls": ("images", "images"),
    "list": ("images", "images"), "prune": ("images", "prune"), "rm": ("images", "rmi"), "remove": ("images", "rmi"),
    "save": ("transfer", "save"), "tag": ("images", "tag"),
}
_VOLUME = {
    "create": ("volume", "create"), "inspect": ("volume", "inspect"), "ls": ("volume", "ls"), "list": ("volume", "ls"),
    "prune": ("volume", "prune"), "rm": ("volume", "rm"), "remove": ("volume", "rm"),
}
_SYSTEM = {
    "df": ("system", "df"), "events": ("events", "events"), "info": ("system", "info"), "prune": ("system", "prune"),
}
GROUPS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "container": ("Manage containers", _CONTAINER),
    "image": ("Manage images", _IMAGE),
    "volume": ("Manage volumes", _VOLUME),
    "system": ("Manage dockyard", _SYSTEM),
}
TOP = {
    "attach": _CONTAINER["attach"], "build": _IMAGE["build"], "commit": _CONTAINER["commit"], "cp": _CONTAINER["cp"],
    "create": _CONTAINER["create"], "diff": _CONTAINER["diff"], "events": _SYSTEM["events"],
    "exec": _CONTAINER["exec"], "export": _CONTAINER["export"], "history": _IMAGE["history"],
    "images": _IMAGE["ls"], "import": _IMAGE["import"], "info": _SYSTEM["info"], "inspect": ("inspect", "inspect"),
    "kill": _CONTAINER["kill"], "load": _IMAGE["load"], "logs": _CONTAINER["logs"], "pause": _CONTAINER["pause"],
    "port": _CONTAINER["port"], "ps": _CONTAINER["ps"], "rename": _CONTAINER["rename"],
    "restart": _CONTAINER["restart"], "rm": _CONTAINER["rm"], "rmi": _IMAGE["rm"], "run": _CONTAINER["run"],
    "save": _IMAGE["save"], "start": _CONTAINER["start"], "stats": _CONTAINER["stats"], "stop": _CONTAINER["stop"],
    "tag": _IMAGE["tag"], "top": _CONTAINER["top"], "unpause": _CONTAINER["unpause"], "version": ("system", "version"),
    "wait": _CONTAINER["wait"],
}

_SHORT = {
    "run": "Create and run a new container from an image", "exec": "Execute a command in a running container",
    "ps": "List containers", "images": "List images", "info": "Display system-wide information",
    "version": "Show the dockyard version information", "attach": "Attach local standard input, output, and error "
    "streams to a running container", "commit": "Create a new image from a container's changes",
    "cp": "Copy files/folders between a container and the local filesystem", "create": "Create a new container",
    "diff": "Inspect changes to files or directories on a container's filesystem",
    "events": "Get real time events from the server", "export": "Export a container's filesystem as a tar archive",
    "build": "Build an image from a Dockerfile", "history": "Show the history of an image", "import": "Import the contents from a tarball to create a "
    "filesystem image", "inspect": "Return low-level information on dockyard objects",
    "kill": "Kill one or more running containers", "load": "Load an image from a tar archive or STDIN",
    "logs": "Fetch the logs of a container", "pause": "Pause all processes within one or more containers",
    "port": "List port mappings or a specific mapping for the container", "rename": "Rename a container",
    "restart": "Restart one or more containers", "rm": "Remove one or more containers",
    "rmi": "Remove one or more images", "save": "Save one or more images to a tar archive (streamed to STDOUT "
    "by default)", "start": "Start one or more stopped containers", "stats": "Display a live stream of "
    "container(s) resource usage statistics", "stop": "Stop one or more running containers",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", "top": "Display the running processes of a "
    "container", "unpause": "Unpause all processes within one or more containers",
    "wait": "Block until one or more containers stop, then print their exit codes",
    "bootstrap": "Build a base image (busybox, debian) from this host, offline",
    "ls": "List", "prune": "Remove unused objects", "df": "Show dockyard disk usage",
}


def _help() -> str:
    lines = [f"\nUsage:  {PROG} [OPTIONS] COMMAND", "", "A Docker-compatible container engine", "",
             "Management Commands:"]
    lines += [f"  {name:<11} {short}" for name, (short, _) in GROUPS.items()]
    lines += ["", "Commands:"]
    lines += [f"  {name:<11} {_SHORT.get(name, '')}" for name in sorted(TOP)]
    lines += ["", "Global Options:",
              "  -H, --host string        Daemon socket to connect to (default $DOCKYARD_HOST or "
              "unix:///run/dockyard.sock)",
              "      --tls                Use TLS; implied by --tlsverify",
              "      --tlscacert string   Trust certs signed only by this CA (default \"~/.dockyard/ca.pem\")",
              "      --tlscert string     Path to TLS certificate file (default \"~/.dockyard/cert.pem\")",
              "      --tlskey string      Path to TLS key file (default \"~/.dockyard/key.pem\")",
              "      --tlsverify          Use TLS and verify the remote",
              "  -D, --debug              Enable debug mode",
              "  -l, --log-level string   Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\")",
              "  -v, --version            Print version information and quit",
              "", f"Run '{PROG} COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


_GROUP_SHORT = {
    "volume": {"create": "Create a volume", "inspect": "Display detailed information on one or more volumes",
               "ls": "List volumes", "prune": "Remove unused local volumes", "rm": "Remove one or more volumes"},
    "image": {"inspect": "Display detailed information on one or more images", "ls": "List images",
              "prune": "Remove unused images", "rm": "Remove one or more images"},
    "container": {"inspect": "Display detailed information on one or more containers", "ls": "List containers",
                  "prune": "Remove all stopped containers", "rm": "Remove one or more containers"},
    "system": {"df": "Show dockyard disk usage", "prune": "Remove unused data"},
}


def _group_help(group: str) -> str:
    short, verbs = GROUPS[group]
    seen: dict[tuple[str, str], str] = {}
    for verb, target in verbs.items():
        seen.setdefault(target, verb)
    own = _GROUP_SHORT.get(group, {})
    lines = [f"\nUsage:  {PROG} {group} COMMAND", "", short, "", "Commands:"]
    lines += [f"  {verb:<11} {own.get(verb) or _SHORT.get(verb, '')}" for verb in sorted(seen.values())]
    lines += ["", f"Run '{PROG} {group} COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


class GlobalOptions:
    __slots__ = ("api_version", "host", "tls", "tlscacert", "tlscert", "tlskey", "tlsverify")

    def __init__(self) -> None:
        self.host: str | None = None
        self.tls = False
        self.tlsverify = os.environ.get("DOCKYARD_TLS_VERIFY", "") not in ("", "0", "false")
        cert_path = os.environ.get("DOCKYARD_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".dockyard")
        self.tlscacert = os.path.join(cert_path, "ca.pem")
        self.tlscert = os.path.join(cert_path, "cert.pem")
        self.tlskey = os.path.join(cert_path, "key.pem")
        self.api_version = os.environ.get("DOCKYARD_API_VERSION") or None


def _global_error(message: str) -> UsageError:
    return UsageError(f"{message}\nSee '{PROG} --help'.", 125)


def parse_globals(argv: list[str]) -> tuple[GlobalOptions, list[str]]:
    """The options before the verb; returns the rest of argv (the verb first)."""
    g = GlobalOptions()
    values = {"-H": "host", "--host": "host", "--tlscacert": "tlscacert", "--tlscert": "tlscert",
              "--tlskey": "tlskey", "-l": "log", "--log-level": "log", "--config": "config", "-c": "context",
              "--context": "context"}
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            break
        i += 1
        if word == "--":
            break
        name, eq, inline = word.partition("=") if word.startswith("--") else (word[:2], "", word[2:])
        if name in ("-v", "--version"):
            raise UsageError(f"{PROG} version {__version__}", 0)
        if name in ("-h", "--help"):
            raise UsageError(_help(), 0)
        if name in ("-D", "--debug"):
            continue
        if name in ("--tls", "--tlsverify"):
            setattr(g, name[2:], True if not eq else inline not in ("false", "0"))
            continue
        if name not in values:
            if word.startswith("--"):
                raise _global_error(f"unknown flag: {name}")
            raise _global_error(f"unknown shorthand flag: '{word[1]}' in {word}")
        if eq or inline:
            value = inline
        elif i < len(argv):
            value = argv[i]
            i += 1
        else:
            raise _global_error(f"flag needs an argument: {name}")
        key = values[name]
        if key == "host":
            if g.host is not None:
                raise CLIError("Specify only one -H")
            g.host = value
        elif key == "context" and value not in ("default", ""):
            raise CLIError(f"context \"{value}\" does not exist: dockyard has no contexts; use -H or DOCKYARD_HOST")
        elif key in ("tlscacert", "tlscert", "tlskey"):
            setattr(g, key, value)
    return g, argv[i:]


def make_client(g: GlobalOptions) -> Client:
    from dockyard.cli.client import DEFAULT_HOST, Client, TLSOptions
    host = g.host or os.environ.get("DOCKYARD_HOST") or DEFAULT_HOST
    if "://" not in host:
        host = f"unix://{host}" if host.startswith("/") else f"tcp://{host}"
    tls: TLSOptions | None = None
    if (g.tls or g.tlsverify) and not host.startswith("unix://"):
        tls = TLSOptions(g.tlsverify, g.tlscacert if os.path.exists(g.tlscacert) or g.tlsverify else None,
                         g.tlscert if os.path.exists(g.tlscert) else None,
                         g.tlskey if os.path.exists(g.tlskey) else None)
    return Client(host, tls, g.api_version)


def dispatch(argv: list[str]) -> int:
    g, rest = parse_globals(argv)
    if not rest:
        raise UsageError(_help(), 0)
    verb = rest[0]
    prog = f"{PROG} {verb}"
    args = rest[1:]
    if verb in GROUPS:
        _, verbs = GROUPS[verb]
        if not args:
            sys.stderr.write(_group_help(verb).lstrip("\n"))  # docker: bare group usage on stderr, status 0
            return 0
        if args[0] in ("--help", "-h", "help"):
            raise UsageError(_group_help(verb), 0)
        sub = args[0]
        if sub not in verbs:
            use = f"{verb} COMMAND" if verb == "volume" else verb  # cobra's Use lines, as docker has them
            raise CLIError(f"{PROG}: unknown command: {PROG} {verb} {sub}\n\nUsage:  {PROG} {use}\n\n"
                           f"Run '{PROG} {verb} --help' for more information")
        target = verbs[sub]
        prog = f"{PROG} {verb} {sub}"
        args = args[1:]
    elif verb in TOP:
        target = TOP[verb]
    elif verb == "help":
        raise UsageError(_help(), 0)
    else:
        raise CLIError(f"{PROG}: unknown command: {PROG} {verb}\n\nRun '{PROG} --help' for more information")
    module = __import__(f"dockyard.cli.commands.{target[0]}", fromlist=[target[1]])
    client = make_client(g)
    try:
        return int(getattr(module, target[1])(client, prog, args))
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    try:
        return dispatch(sys.argv[1:] if argv is None else argv)
    except CLIError as e:
        stream = sys.stdout if e.status == 0 else sys.stderr
        if e.message:
            stream.write(e.message if e.message.endswith("\n") else e.message + "\n")
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`dockyard logs x | head`): stop quietly, as a killed writer would.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
