"""The process `exec` runs: from `--process process.json`, or the container's own process with
the command line and the exec flags laid over it (runc's getProcess)."""

from __future__ import annotations

import json

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.runtime_spec import Capabilities, Process, Spec, User
from dockyard.records import replace

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path

if TYPE_CHECKING:
    from typing import Any

    from dockyard.runtime.container import Runtime


def process_from_flags(runtime: Runtime, container_id: str, flags: dict[str, Any], args: list[str]) -> Process:
    path = flags.get("process")
    if path:
        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"open {path}: no such file or directory") from None
        except ValueError as err:
            raise InvalidArgument(f"{path}: invalid JSON: {err}") from None
        return Process.from_json(doc)
    if not args:
        raise InvalidArgument("exec args cannot be empty")
    base = Spec.from_json(runtime.load(container_id).config).process or Process()
    process = replace(base, args=args, terminal=bool(flags.get("tty")), console_size=None)
    if flags.get("cwd"):
        process.cwd = flags["cwd"]
    if flags.get("env"):
        process.env = [*base.env, *flags["env"]]
    if flags.get("user"):
        process.user = _user(flags["user"], base.user)
    if flags.get("additional-gids"):
        try:
            gids = [int(g) for g in flags["additional-gids"]]
        except ValueError:
            raise InvalidArgument("invalid additional-gids value") from None
        process.user = replace(process.user, additional_gids=gids)
    if flags.get("cap"):
        caps = base.capabilities or Capabilities()
        extra = list(flags["cap"])
        process.capabilities = Capabilities(
            bounding=[*caps.bounding, *extra], effective=[*caps.effective, *extra],
            inheritable=list(caps.inheritable), permitted=[*caps.permitted, *extra], ambient=[*caps.ambient, *extra])
    if flags.get("no-new-privs"):
        process.no_new_privileges = True
    if flags.get("apparmor"):
        process.apparmor_profile = flags["apparmor"]
    if flags.get("process-label"):
        process.selinux_label = flags["process-label"]
    return process


def _user(text: str, base: User) -> User:
    uid_text, _, gid_text = text.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if gid_text else 0
    except ValueError:
        raise InvalidArgument(f"parsing {text} as uid[:gid]: a number is expected") from None
    return replace(base, uid=uid, gid=gid)
