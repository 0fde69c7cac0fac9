"""`inspect` (any object, --type), `container inspect`, `image inspect`, `volume inspect`.

Without --format the daemon's own JSON bytes are re-indented (Go's json.Indent), so key order,
numbers and escapes are the daemon's, as with docker. With a template, each object is decoded and
rendered; `--format json` prints one compact JSON array.
"""

from __future__ import annotations

import sys

from dockyard.cli import jsonio
from dockyard.cli.client import quote
from dockyard.cli.errors import APIError, CLIError
from dockyard.cli.flags import Command, bool_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.cli.client import Client

_FORMAT_HELP = ("Format output using a custom template:\n'json':             Print in JSON format\n"
                "'TEMPLATE':         Print output using the given Go template")
INSPECT = Command("inspect [OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on dockyard objects", [
    str_flag("format", "f", _FORMAT_HELP),
    bool_flag("size", "s", "Display total file sizes if the type is container"),
    str_flag("type", "", "Only inspect objects of the given type"),
], min_args=1)
CONTAINER_INSPECT = Command("inspect [OPTIONS] CONTAINER [CONTAINER...]",
                            "Display detailed information on one or more containers", [
                                str_flag("format", "f", _FORMAT_HELP),
                                bool_flag("size", "s", "Display total file sizes"),
                            ], min_args=1)
IMAGE_INSPECT = Command("inspect [OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images", [
    str_flag("format", "f", _FORMAT_HELP),
    str_flag("platform", "", "Inspect a specific platform of the multi-platform image."),
], min_args=1)

_TYPES = ("config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume")


def getters(client: Client, size: bool) -> dict[str, Callable[[str], bytes]]:
    return {
        "container": lambda ref: client.raw_get(f"/containers/{quote(ref)}/json", {"size": 1 if size else None}),
        "image": lambda ref: client.raw_get(f"/images/{quote(ref, '/:@')}/json"),
        "network": lambda ref: client.raw_get(f"/networks/{quote(ref)}"),
        "volume": lambda ref: client.raw_get(f"/volumes/{quote(ref)}"),
    }


def show(refs: list[str], get: Callable[[str], bytes], template: str) -> int:
    """docker's inspect.Inspect: print what was found, then every error; exit 1 if any."""
    raws: list[bytes] = []
    errors: list[str] = []
    for ref in refs:
        try:
            raws.append(get(ref))
        except CLIError as e:
            errors.append(e.message)
    out = sys.stdout.write
    if template in ("", "json"):
        if not raws:
            out("[]\n")
        else:
            text = "[" + ",".join(r.decode("utf-8", "replace").strip() for r in raws) + "]"
            if template == "json":
                out(jsonio.dumps(jsonio.loads(text)) + "\n")
            else:
                out(jsonio.indent(text) + "\n")
    else:
        from dockyard.cli.template import TemplateError, parse
        try:
            tmpl = parse(template)
        except TemplateError as e:
            raise CLIError(f"template parsing error: {e}", 64) from None
        rendered: list[str] = []
        for raw in raws:
            try:
                rendered.append(tmpl.execute(jsonio.loads(raw)) + "\n")
            except TemplateError as e:
                errors.append(f"template parsing error: {e}")
            except ValueError as e:
                errors.append(f"unable to read inspect data: {e}")
        out("".join(rendered) if rendered else "\n")
    if errors:
        sys.stdout.flush()
        raise CLIError("\n".join(errors))
    return 0


def inspect(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = INSPECT.parse(prog, argv)
    kind = opts.text("type")
    if kind and kind not in _TYPES:
        raise CLIError(f'unknown type: "{kind}": must be one of ' + ", ".join(f'"{t}"' for t in _TYPES))
    table = getters(client, opts.on("size"))
    if kind:
        if kind not in table:
            raise CLIError(f'dockyard has no {kind} objects')
        return show(args, table[kind], opts.text("format"))

    def any_object(ref: str) -> bytes:
        for getter in table.values():
            try:
                return getter(ref)
            except APIError as e:
                if e.http_status not in (400, 404, 501):
                    raise
        raise CLIError(f"Error: No such object: {ref}")
    return show(args, any_object, opts.text("format"))


def container_inspect(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = CONTAINER_INSPECT.parse(prog, argv)
    return show(args, getters(client, opts.on("size"))["container"], opts.text("format"))


def image_inspect(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = IMAGE_INSPECT.parse(prog, argv)
    return show(args, getters(client, False)["image"], opts.text("format"))
