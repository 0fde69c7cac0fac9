"""`run`, `create`, `start` and `attach`: making containers and joining their streams.

`run` is docker's sequence: POST /containers/create (a missing image fails at once: dockyard never
pulls), then — unless -d — the attach connection (hijacked), the wait request (condition
next-exit, or removed with --rm), and only then POST /start, so no output is lost; it streams until
the container's output ends and exits with the container's status. Errors before the container
runs print as `dockyard: <error>` + the help hint and exit 125, or 126/127 when the daemon says
the command cannot be executed (docker's toStatusError).
"""

from __future__ import annotations

import sys

from dockyard.cli import containeropts, jsonio
from dockyard.cli.client import Response
from dockyard.cli.errors import APIError, CLIError
from dockyard.cli.flags import Command, bool_flag, str_flag
from dockyard.cli.stream import FORWARDED, Signals, parse_detach_keys, pump

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client, Connection
    from dockyard.cli.flags import Options

RUN = Command("run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", [
    *containeropts.container_flags(),
    bool_flag("detach", "d", "Run container in background and print container ID"),
    bool_flag("sig-proxy", "", "Proxy received signals to the process", default=True),
    str_flag("detach-keys", "", "Override the key sequence for detaching a container"),
], min_args=1, interspersed=False, aliases="dockyard container run, dockyard run")

CREATE = Command("create [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
                 containeropts.container_flags(), min_args=1, interspersed=False,
                 aliases="dockyard container create, dockyard create")

START = Command("start [OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", [
    bool_flag("attach", "a", "Attach STDOUT/STDERR and forward signals"),
    bool_flag("interactive", "i", "Attach container's STDIN"),
    str_flag("detach-keys", "", "Override the key sequence for detaching a container"),
], min_args=1, aliases="dockyard container start, dockyard start")

ATTACH = Command("attach [OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container", [
    bool_flag("no-stdin", "", "Do not attach STDIN"),
    bool_flag("sig-proxy", "", "Proxy all received signals to the process", default=True),
    str_flag("detach-keys", "", "Override the key sequence for detaching a container"),
], min_args=1, max_args=1, aliases="dockyard container attach, dockyard attach")


def status_error(err: CLIError, verb: str, prog_name: str = "dockyard") -> CLIError:
    """docker's toStatusError: 127 for a command that is not there, 126 for one that cannot run,
    125 for any other failure before the container ran."""
    text = err.message
    if "executable file not found" in text or "no such file or directory" in text \
            or "system cannot find the file specified" in text:
        status = 127
    elif "permission denied" in text or "is a directory" in text:
        status = 126
    else:
        status = 125
    return CLIError(f"{prog_name}: {text}\n\nRun '{prog_name} {verb} --help' for more information", status)


def _binary(prog: str) -> str:
    return prog.split(" ", 1)[0]


def create_container(client: Client, opts: Options, args: list[str], verb: str, prog: str,
                     console: tuple[int, int] = (0, 0)) -> tuple[str, dict[str, Any]]:
    """POST /containers/create for these flags; the id and the body sent."""
    binary = _binary(prog)
    image = args[0]
    try:
        body = containeropts.build(opts, image, args[1:], console)
    except ValueError as e:
        raise CLIError(f"{binary}: {e}\n\nRun '{binary} {verb} --help' for more information", 125) from None
    if opts.text("pull") == "always":
        raise CLIError(f"{binary}: --pull=always: dockyard never pulls from a registry (it works offline); "
                       f"load the image with `{binary} load`, `{binary} import` or `{binary} image bootstrap`\n\n"
                       f"Run '{binary} {verb} --help' for more information", 125)
    query: dict[str, str | int | bool | None] = {"name": opts.text("name") or None}
    if opts.text("platform"):
        query["platform"] = opts.text("platform")
    try:
        created = client.post_json("/containers/create", query, body)
    except APIError as e:
        if e.http_status == 404 and "image" in e.detail.lower() and opts.text("pull") != "never" \
                and not opts.on("quiet"):
            sys.stderr.write(f"Unable to find image '{containeropts.familiar_ref(image)}' locally\n")
        raise status_error(e, verb, binary) from None
    except CLIError as e:
        raise status_error(e, verb, binary) from None
    cid = str(created.get("Id", ""))
    for warning in created.get("Warnings") or ():
        sys.stderr.write(f"WARNING: {warning}\n")
    if opts.text("cidfile"):
        try:
            with open(opts.text("cidfile"), "x") as f:
                f.write(cid)
        except FileExistsError:
            raise CLIError(f"{binary}: container ID file found, make sure the other container isn't running or "
                           f"delete {opts.text('cidfile')}", 125) from None
    return cid, body


def _console(tty: bool) -> tuple[int, int]:
    if not tty:
        return 0, 0
    from dockyard.cli import terminal
    return terminal.size(1)


def _resize(client: Client, path: str, fd: int = 1) -> None:
    from dockyard.cli import terminal
    rows, cols = terminal.size(fd)
    if rows or cols:
        try:
            client.post(path, {"h": rows, "w": cols})
        except CLIError:
            pass


def _detach_keys(opts: Options) -> bytes | None:
    spec = opts.text("detach-keys")
    if not spec:
        return None
    try:
        return parse_detach_keys(spec)
    except CLIError as e:
        raise CLIError(f"invalid detach keys ({spec}): {e.message}") from None


def _wait_status(conn: Connection) -> int:
    """The answer of a wait request sent with `open_request`: the container's exit status."""
    try:
        resp = Response(None, conn, "POST")
        data = resp.read()
    except (CLIError, OSError) as e:
        sys.stderr.write(f"error waiting for container: {e}\n")
        return 125
    finally:
        conn.close()
    if resp.status >= 400:
        from dockyard.cli.client import error_message
        sys.stderr.write(f"error waiting for container: {error_message(resp.status, data, 'wait')}\n")
        return 125
    try:
        result = jsonio.loads(data)
    except ValueError:
        return 125
    error = result.get("Error") if isinstance(result, dict) else None
    if isinstance(error, dict) and error.get("Message"):
        sys.stderr.write(f"Error waiting for container: {error['Message']}\n")
        return 125
    return int(result.get("StatusCode", 125)) if isinstance(result, dict) else 125


_WINCH = 28  # SIGWINCH on Linux


def _forwarder(client: Client, cid: str, resize_path: str | None, proxy: bool = True) -> Signals:
    """Signals for a stream: with `proxy`, docker's sig-proxy (POST kill with the number); with a
    `resize_path`, SIGWINCH resizes the container's (or exec's) tty."""
    def handle(number: int) -> None:
        if number == _WINCH:
            if resize_path is not None:
                _resize(client, resize_path)
            return
        try:
            client.post(f"/containers/{cid}/kill", {"signal": str(number)})
        except CLIError:
            pass
    numbers = (FORWARDED if proxy else ()) + ((_WINCH,) if resize_path is not None else ())
    return Signals(numbers, handle)


def _stream(client: Client, conn: Connection, cid: str, *, tty: bool, stdin: bool, stdout: bool, stderr: bool,
            keys: bytes | None, proxy: bool, resize: bool, resize_path: str | None = None) -> bool:
    """Pump `conn` with signal forwarding and, for a tty, raw mode and resizes. True if detached."""
    path = (resize_path or f"/containers/{cid}/resize") if resize else None
    with _forwarder(client, cid, path, proxy) as signals:
        if tty and stdin:
            from dockyard.cli.terminal import RawMode
            with RawMode(0):
                return pump(conn, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr, detach_keys=keys,
                            signals=signals)
        return pump(conn, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr, detach_keys=keys, signals=signals)


def run(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = RUN.parse(prog, argv)
    binary = _binary(prog)
    detach = opts.on("detach")
    tty = opts.on("tty")
    if detach and opts.values("attach"):
        raise CLIError("conflicting options: cannot specify both --attach and --detach")
    attach_stdin = not detach and ("stdin" in opts.values("attach") or opts.on("interactive"))
    if not detach and tty and attach_stdin:
        from dockyard.cli import terminal
        if not terminal.is_terminal(0):
            raise CLIError("the input device is not a TTY", 1)
    keys = _detach_keys(opts)
    stdout_tty = False
    if tty:
        from dockyard.cli import terminal
        stdout_tty = terminal.is_terminal(1)
    if detach:
        opts.set("attach", [])
    cid, body = create_container(client, opts, args, "run", prog, _console(tty) if stdout_tty else (0, 0))
    if detach:
        try:
            client.post(f"/containers/{cid}/start")
        except CLIError as e:
            raise status_error(e, "run", binary) from None
        sys.stdout.write(cid + "\n")
        return 0

    attach_stdout = bool(body["AttachStdout"])
    attach_stderr = bool(body["AttachStderr"])
    auto_remove = opts.on("rm")
    conn = None
    if attach_stdin or attach_stdout or attach_stderr:
        query: dict[str, str | int | bool | None] = {"stream": 1, "stdin": 1 if attach_stdin else None,
                                                     "stdout": 1 if attach_stdout else None,
                                                     "stderr": 1 if attach_stderr else None}
        if opts.text("detach-keys"):
            query["detachKeys"] = opts.text("detach-keys")
        try:
            conn = client.hijack(f"/containers/{cid}/attach", query)
        except CLIError as e:
            raise status_error(e, "run", binary) from None
    waiter = client.open_request("POST", f"/containers/{cid}/wait",
                                 {"condition": "removed" if auto_remove else "next-exit"})
    try:
        client.post(f"/containers/{cid}/start")
    except CLIError as e:
        if conn is not None:
            conn.close()
        if auto_remove:
            _wait_status(waiter)
        else:
            waiter.close()
        raise status_error(e, "run", binary) from None
    if conn is None:
        # Nothing attached: docker prints the id and waits for the exit.
        sys.stdout.write(cid + "\n")
        sys.stdout.flush()
        return _wait_with_signals(client, cid, waiter, opts.on("sig-proxy"))
    if tty and stdout_tty:
        _resize(client, f"/containers/{cid}/resize")
    try:
        detached = _stream(client, conn, cid, tty=tty, stdin=attach_stdin, stdout=attach_stdout, stderr=attach_stderr,
                           keys=keys, proxy=opts.on("sig-proxy"), resize=tty and stdout_tty)
    finally:
        conn.close()
    if detached:
        waiter.close()
        return 0
    return _wait_with_signals(client, cid, waiter, opts.on("sig-proxy"))


def _wait_with_signals(client: Client, cid: str, waiter: Connection, proxy: bool) -> int:
    if not proxy:
        return _wait_status(waiter)
    import select
    with _forwarder(client, cid, None) as signals:
        poller = select.poll()
        poller.register(waiter.fileno(), select.POLLIN)
        if signals.read_fd >= 0:
            poller.register(signals.read_fd, select.POLLIN)
        while not waiter.pending():
            ready = [fd for fd, _ in poller.poll()]
            if signals.read_fd in ready:
                signals.drain()
            if waiter.fileno() in ready:
                break
    return _wait_status(waiter)


def create(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = CREATE.parse(prog, argv)
    stdout_tty = False
    if opts.on("tty"):
        from dockyard.cli import terminal
        stdout_tty = terminal.is_terminal(1)
    cid, _ = create_container(client, opts, args, "create", prog, _console(True) if stdout_tty else (0, 0))
    sys.stdout.write(cid + "\n")
    return 0


def start(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = START.parse(prog, argv)
    keys = _detach_keys(opts)
    if not (opts.on("attach") or opts.on("interactive")):
        failed = []
        for name in args:
            try:
                client.post(f"/containers/{client_quote(name)}/start")
            except CLIError as e:
                sys.stderr.write(e.message + "\n")
                failed.append(name)
                continue
            sys.stdout.write(name + "\n")
            sys.stdout.flush()
        if failed:
            raise CLIError(f"Error: failed to start containers: {', '.join(failed)}")
        return 0
    if len(args) > 1:
        raise CLIError("you cannot start and attach multiple containers at once")
    info = client.get(f"/containers/{client_quote(args[0])}/json")
    cid = str(info["Id"])
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = opts.on("interactive") and bool(config.get("OpenStdin"))
    if tty and stdin:
        from dockyard.cli import terminal
        if not terminal.is_terminal(0):
            raise CLIError("the input device is not a TTY", 1)
    query: dict[str, str | int | bool | None] = {"stream": 1, "stdin": 1 if stdin else None, "stdout": 1, "stderr": 1}
    if opts.text("detach-keys"):
        query["detachKeys"] = opts.text("detach-keys")
    conn = client.hijack(f"/containers/{cid}/attach", query)
    auto_remove = bool((info.get("HostConfig") or {}).get("AutoRemove"))
    waiter = client.open_request("POST", f"/containers/{cid}/wait",
                                 {"condition": "removed" if auto_remove else "next-exit"})
    try:
        client.post(f"/containers/{cid}/start")
    except CLIError:
        conn.close()
        if auto_remove:
            _wait_status(waiter)
        else:
            waiter.close()
        raise
    stdout_tty = False
    if tty:
        from dockyard.cli import terminal
        stdout_tty = terminal.is_terminal(1)
        if stdout_tty:
            _resize(client, f"/containers/{cid}/resize")
    try:
        detached = _stream(client, conn, cid, tty=tty, stdin=stdin, stdout=True, stderr=True, keys=keys,
                           proxy=not tty, resize=stdout_tty)
    finally:
        conn.close()
    if detached:
        waiter.close()
        return 0
    return _wait_status(waiter)


def _check_state(info: dict[str, Any]) -> None:
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CLIError("You cannot attach to a restarting container, wait until it is running")


def attach(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = ATTACH.parse(prog, argv)
    keys = _detach_keys(opts)
    name = client_quote(args[0])
    waiter = client.open_request("POST", f"/containers/{name}/wait")
    try:
        info = client.get(f"/containers/{name}/json")
        _check_state(info)
        cid = str(info["Id"])
        tty = bool((info.get("Config") or {}).get("Tty"))
        stdin = not opts.on("no-stdin") and bool((info.get("Config") or {}).get("OpenStdin"))
        if tty and not opts.on("no-stdin"):
            from dockyard.cli import terminal
            if not terminal.is_terminal(0):
                raise CLIError("the input device is not a TTY", 1)
        query: dict[str, str | int | bool | None] = {"stream": 1, "stdin": 1 if stdin else None, "stdout": 1,
                                                     "stderr": 1}
        if opts.text("detach-keys"):
            query["detachKeys"] = opts.text("detach-keys")
        conn = client.hijack(f"/containers/{cid}/attach", query)
        _check_state(client.get(f"/containers/{cid}/json"))
    except CLIError:
        waiter.close()
        raise
    stdout_tty = False
    if tty:
        from dockyard.cli import terminal
        stdout_tty = terminal.is_terminal(1)
        if stdout_tty:
            rows, cols = terminal.size(1)
            try:
                client.post(f"/containers/{cid}/resize", {"h": rows + 1, "w": cols + 1})
            except CLIError:
                pass
            _resize(client, f"/containers/{cid}/resize")
    try:
        detached = _stream(client, conn, cid, tty=tty, stdin=stdin, stdout=True, stderr=True, keys=keys,
                           proxy=opts.on("sig-proxy") and not tty, resize=stdout_tty)
    finally:
        conn.close()
    if detached:
        waiter.close()
        raise CLIError("read escape sequence")
    return _wait_status(waiter)


def client_quote(name: str) -> str:
    from dockyard.cli.client import quote
    return quote(name)

