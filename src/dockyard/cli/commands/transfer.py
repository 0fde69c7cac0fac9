"""save, load, import: images as tar streams (never through a registry)."""

from __future__ import annotations

import os
import sys

from dockyard.cli.commands.files import refuse_terminal, write_stream
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from dockyard.cli.client import Client, Response

SAVE = Command("save [OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by "
               "default)", [
                   str_flag("output", "o", "Write to a file, instead of STDOUT"),
                   list_flag("platform", "", "Save only the given platform(s)", hidden=True),
               ], min_args=1, aliases="dockyard image save, dockyard save")
LOAD = Command("load [OPTIONS]", "Load an image from a tar archive or STDIN", [
    str_flag("input", "i", "Read from tar archive file, instead of STDIN"),
    bool_flag("quiet", "q", "Suppress the load output"),
    list_flag("platform", "", "Load only the given platform(s)", hidden=True),
], max_args=0, aliases="dockyard image load, dockyard load")
IMPORT = Command("import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a "
                 "filesystem image", [
                     list_flag("change", "c", "Apply Dockerfile instruction to the created image"),
                     str_flag("message", "m", "Set commit message for imported image"),
                     str_flag("platform", "", "Set platform if server is multi-platform capable"),
                 ], min_args=1, max_args=2, aliases="dockyard image import, dockyard import")


def save(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = SAVE.parse(prog, argv)
    output = opts.text("output")
    if not output:
        refuse_terminal()
    resp = client.request("GET", "/images/get", [("names", name) for name in args])
    write_stream(resp, output)
    return 0


def print_messages(client: Client, resp: Response, quiet: bool = False) -> str:
    """docker's jsonmessage display, for the plain (non-terminal) case: `stream` text as is,
    `status` lines, and an `error`/`errorDetail` ends the command. Returns the last status."""
    last = ""
    for message in client.stream_json(resp):
        if not isinstance(message, dict):
            continue
        detail: Any = message.get("errorDetail") or {}
        error = message.get("error") or (detail.get("message") if isinstance(detail, dict) else None)
        if error:
            raise CLIError(str(error))
        if quiet:
            continue
        progress = message.get("progressDetail") or {}
        if message.get("progress") or (isinstance(progress, dict) and (progress.get("current") or progress.get("total"))):
            continue  # progress bars are for terminals (jsonmessage.Display)
        if "stream" in message:
            sys.stdout.write(str(message["stream"]))
        elif "status" in message:
            status = str(message["status"])
            ident = message.get("id")
            last = status
            sys.stdout.write(f"{ident}: {status}\n" if ident else status + "\n")
        sys.stdout.flush()
    return last


def load(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = LOAD.parse(prog, argv)
    source: BinaryIO
    path = opts.text("input")
    if path:
        try:
            source = open(path, "rb")
        except OSError as e:
            raise CLIError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    else:
        if os.isatty(0):
            raise CLIError("requested load from stdin, but stdin is empty")
        source = sys.stdin.buffer
    try:
        quiet = opts.on("quiet") or not os.isatty(1)  # docker asks for quiet output unless on a terminal
        resp = client.request("POST", "/images/load", {"quiet": 1 if quiet else 0}, source,
                              {"Content-Type": "application/x-tar"})
        if resp.headers.get("content-type", "").startswith("application/json"):
            print_messages(client, resp)
        else:
            sys.stdout.write(resp.read().decode("utf-8", "replace"))
    finally:
        if path:
            source.close()
    return 0


def import_(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = IMPORT.parse(prog, argv)
    from dockyard.cli.commands.images import split_tag
    source = args[0]
    repo, tag = split_tag(args[1]) if len(args) > 1 else ("", "")
    query: list[tuple[str, str]] = [("repo", repo), ("tag", tag), ("message", opts.text("message"))]
    query += [("changes", change) for change in opts.values("change")]
    if opts.text("platform"):
        query.append(("platform", opts.text("platform")))
    body: BinaryIO | None = None
    if source == "-":
        query.insert(0, ("fromSrc", "-"))
        body = sys.stdin.buffer
    elif "://" in source:
        query.insert(0, ("fromSrc", source))
    else:
        try:
            body = open(source, "rb")
        except OSError as e:
            raise CLIError(f"open {source}: {(e.strerror or str(e)).lower()}") from None
        query.insert(0, ("fromSrc", "-"))
    try:
        resp = client.request("POST", "/images/create", query, body, {"Content-Type": "application/x-tar"})
        print_messages(client, resp)
    finally:
        if body is not None and source != "-":
            body.close()
    return 0

