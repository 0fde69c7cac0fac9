"""`exec`: POST /containers/{id}/exec, then POST /exec/{id}/start (hijacked unless -d); the exit
status comes from GET /exec/{id}/json."""

from __future__ import annotations

from dockyard.cli import containeropts
from dockyard.cli.client import quote
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

EXEC = Command("exec [OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", [
    bool_flag("detach", "d", "Detached mode: run command in the background"),
    str_flag("detach-keys", "", "Override the key sequence for detaching a container"),
    list_flag("env", "e", "Set environment variables", containeropts.check_env),
    list_flag("env-file", "", "Read in a file of environment variables"),
    bool_flag("interactive", "i", "Keep STDIN open even if not attached"),
    bool_flag("privileged", "", "Give extended privileges to the command"),
    bool_flag("tty", "t", "Allocate a pseudo-TTY"),
    str_flag("user", "u", 'Username or UID (format: "<name|uid>[:<group|gid>]")'),
    str_flag("workdir", "w", "Working directory inside the container"),
], min_args=2, interspersed=False, aliases="dockyard container exec, dockyard exec")


def exec_(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = EXEC.parse(prog, argv)
    from dockyard.cli.commands.run import _detach_keys, _stream
    keys = _detach_keys(opts)
    env: list[str] = []
    try:
        for path in opts.values("env-file"):
            env.extend(containeropts.read_kv_file(path, lookup=True))
    except ValueError as e:
        raise CLIError(str(e)) from None
    env.extend(opts.values("env"))
    detach = opts.on("detach")
    tty = opts.on("tty")
    stdin = opts.on("interactive") and not detach
    name = quote(args[0])
    client.get(f"/containers/{name}/json")  # a missing container is the first error, as in docker
    stdout_tty = False
    if tty:
        from dockyard.cli import terminal
        if stdin and not terminal.is_terminal(0):
            raise CLIError("the input device is not a TTY", 1)
        stdout_tty = terminal.is_terminal(1)
    body: dict[str, Any] = {
        "User": opts.text("user"), "Privileged": opts.on("privileged"), "Tty": tty, "AttachStdin": stdin,
        "AttachStderr": not detach, "AttachStdout": not detach, "Detach": detach, "DetachKeys": opts.text("detach-keys"),
        "Env": env or None, "WorkingDir": opts.text("workdir"), "Cmd": args[1:],
    }
    if stdout_tty:
        from dockyard.cli import terminal
        body["ConsoleSize"] = list(terminal.size(1))
    created = client.post_json(f"/containers/{name}/exec", None, body)
    exec_id = str(created.get("Id", ""))
    if not exec_id:
        raise CLIError("exec ID empty")
    start: dict[str, Any] = {"Detach": detach, "Tty": tty}
    if "ConsoleSize" in body:
        start["ConsoleSize"] = body["ConsoleSize"]
    if detach:
        client.post(f"/exec/{exec_id}/start", None, start)
        return 0
    conn = client.hijack(f"/exec/{exec_id}/start", None, start)
    try:
        if stdout_tty:
            from dockyard.cli.commands.run import _resize
            _resize(client, f"/exec/{exec_id}/resize")
        detached = _stream(client, conn, exec_id, tty=tty, stdin=stdin, stdout=True, stderr=True, keys=keys,
                           proxy=False, resize=stdout_tty, resize_path=f"/exec/{exec_id}/resize")
    finally:
        conn.close()
    if detached:
        raise CLIError("read escape sequence")
    info = client.get(f"/exec/{exec_id}/json")
    code = info.get("ExitCode")
    return int(code) if code is not None else 0
