"""build: a Dockerfile and its context to an image, through the daemon's POST /build (the classic
builder's protocol, what `docker build` speaks with DOCKER_BUILDKIT=0)."""

from __future__ import annotations

import io
import os
import secrets
import sys
import tarfile
import tempfile

from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

    from dockyard.cli.client import Client

BUILD = Command("build [OPTIONS] PATH | -", "Build an image from a Dockerfile", [
    list_flag("add-host", "", "Add a custom host-to-IP mapping (host:ip)"),
    list_flag("build-arg", "", "Set build-time variables"),
    str_flag("file", "f", "Name of the Dockerfile (Default is 'PATH/Dockerfile')"),
    bool_flag("force-rm", "", "Always remove intermediate containers"),
    str_flag("iidfile", "", "Write the image ID to the file"),
    list_flag("label", "", "Set metadata for an image"),
    str_flag("network", "", "Set the networking mode for the RUN instructions during build", default="default"),
    bool_flag("no-cache", "", "Do not use cache when building the image"),
    bool_flag("pull", "", "Always attempt to pull a newer version of the image"),
    bool_flag("quiet", "q", "Suppress the build output and print image ID on success"),
    bool_flag("rm", "", "Remove intermediate containers after a successful build", default=True),
    list_flag("tag", "t", "Name and optionally a tag in the 'name:tag' format"),
    str_flag("target", "", "Set the target build stage to build."),
], min_args=1, max_args=1, aliases="dockyard image build, dockyard build")

_TAR_MAGIC_OFFSET = 257


def build(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = BUILD.parse(prog, argv)
    quiet = opts.on("quiet")
    context, dockerfile = _context(args[0], opts.text("file"))
    with context:
        size = _tar_length(context)
        if not quiet:
            from dockyard.cli.format import human_size

            # The bytes docker's progress writer leaves behind when not on a terminal: "\r\r\n".
            sys.stdout.write(f"Sending build context to dockyard daemon  {human_size(size, 4)}\r\r\n")
            sys.stdout.flush()
        resp = client.request("POST", "/build", _query(opts, dockerfile), context,
                              {"Content-Type": "application/x-tar"})
        image_id = _show(client, resp, quiet)
    if opts.text("iidfile"):
        with open(opts.text("iidfile"), "w") as f:
            f.write(image_id)
    if quiet:
        print(image_id)
    return 0


def _tar_length(tar: IO[bytes]) -> int:
    """The archive's length up to its end marker (Python pads archives to 10 KiB, Go's tar
    writer does not), with the file cut there and rewound."""
    total = tar.seek(0, os.SEEK_END)
    tail_start = max(0, total - tarfile.RECORDSIZE)
    tar.seek(tail_start)
    tail = tar.read()
    used = len(tail.rstrip(b"\0"))
    end = tail_start + -(-used // 512) * 512 + 1024 if used else min(total, 1024)
    if end < total:
        tar.truncate(end)
    tar.seek(0)
    return min(end, total)


def _query(opts: Any, dockerfile: str) -> list[tuple[str, str]]:
    from dockyard.cli import jsonio

    query: list[tuple[str, str]] = [("t", tag) for tag in opts.values("tag")]
    query.append(("dockerfile", dockerfile))
    args = dict(_pair(arg) for arg in opts.values("build-arg"))
    if args:
        query.append(("buildargs", jsonio.dumps(args)))
    labels = dict(_pair(label) for label in opts.values("label"))
    if labels:
        query.append(("labels", jsonio.dumps(labels)))
    for name, flag in (("target", "target"), ("networkmode", "network")):
        if opts.text(flag):
            query.append((name, opts.text(flag)))
    if opts.values("add-host"):
        query.append(("extrahosts", ",".join(opts.values("add-host"))))
    for name, flag in (("nocache", "no-cache"), ("pull", "pull"), ("q", "quiet"), ("forcerm", "force-rm")):
        if opts.on(flag):
            query.append((name, "1"))
    query.append(("rm", "1" if opts.on("rm") else "0"))
    return query


def _pair(text: str) -> tuple[str, str | None]:
    # --build-arg NAME without a value takes it from our environment, as docker does.
    name, eq, value = text.partition("=")
    return (name, value) if eq else (name, os.environ.get(name))


def _context(path: str, dockerfile: str) -> tuple[IO[bytes], str]:
    """The context tar (a temporary file) and the Dockerfile's name inside it."""
    spool = tempfile.TemporaryFile()
    try:
        if path == "-":
            return spool, _from_stdin(spool, dockerfile)
        if not os.path.isdir(path):
            raise CLIError(f'unable to prepare context: path "{path}" not found')
        from pathlib import Path

        from dockyard.build.context import write_context_tar

        name = dockerfile or "Dockerfile"
        full = name if os.path.isabs(name) else os.path.join(path, name)
        if not os.path.isfile(full):
            raise CLIError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                           f"lstat {os.path.abspath(full)}: no such file or directory")
        inside = os.path.relpath(os.path.abspath(full), os.path.abspath(path))
        if inside.startswith(".."):
            # A Dockerfile from outside the context travels in it under a name of its own.
            inside = f".dockerfile.{secrets.token_hex(10)}"
            write_context_tar(Path(path), spool, "Dockerfile")
            _append(spool, inside, Path(full).read_bytes())
        else:
            write_context_tar(Path(path), spool, inside)
        return spool, inside
    except BaseException:
        spool.close()
        raise


def _from_stdin(spool: IO[bytes], dockerfile: str) -> str:
    data = sys.stdin.buffer.read()
    if len(data) > _TAR_MAGIC_OFFSET + 5 and data[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar":
        spool.write(data)  # a whole context
        return dockerfile or "Dockerfile"
    with tarfile.open(fileobj=spool, mode="w") as tf:  # a Dockerfile alone, the context empty
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return "Dockerfile"


def _append(spool: IO[bytes], name: str, data: bytes) -> None:
    spool.seek(0)
    members = spool.read()
    spool.seek(0)
    spool.truncate()
    with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as out:
        with tarfile.open(fileobj=io.BytesIO(members), mode="r") as existing:
            for member in existing:
                out.addfile(member, existing.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))


def _show(client: Client, resp: Any, quiet: bool) -> str:
    """Print the stream as the classic builder's client does; the built image's id."""
    image_id = ""
    for message in client.stream_json(resp):
        if not isinstance(message, dict):
            continue
        detail: dict[str, Any] = message.get("errorDetail") or {}
        error = message.get("error") or detail.get("message")
        if error:
            sys.stdout.flush()
            # docker exits with the failed RUN's status (errorDetail.code), else 1.
            raise CLIError(str(error), status=int(detail.get("code") or 1))
        aux = message.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = str(aux["ID"])
        elif quiet and str(message.get("stream", "")).strip().startswith("sha256:"):
            image_id = str(message["stream"]).strip()  # with q=1 the id comes as the only stream line
        elif not quiet and "stream" in message:
            sys.stdout.write(str(message["stream"]))
            sys.stdout.flush()
    return image_id
