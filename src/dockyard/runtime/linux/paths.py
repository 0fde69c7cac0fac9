"""Resolve paths inside a container's root filesystem without letting them escape it.

Facts:
- Mount destinations, device paths and cwd come from config.json and may run through symlinks
  that the image controls ("/etc -> /"), or "..". Every such path is resolved component by
  component with the rootfs as "/": a symlink's absolute target restarts at the rootfs, ".." stops
  at it. This is the lexical walk runc does with securejoin; it is done before the container runs,
  when nothing inside the rootfs can race it.
- The walk gives up after 255 symlinks (Linux's own limit is 40), which also stops loops.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument

_MAX_SYMLINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """`root` joined with `unsafe`, symlinks in `unsafe` resolved as if `root` were "/".

    Components that do not exist yet are kept as written (so the result can be created).
    """
    root = os.path.abspath(root)
    pending = [c for c in unsafe.split("/") if c]
    pending.reverse()
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            # Not a symlink, or not there yet: either way it is taken as a plain name.
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise InvalidArgument(f"too many symlinks resolving {unsafe!r} in {root}")
        if target.startswith("/"):
            resolved = []
        pending.extend(reversed([c for c in target.split("/") if c]))
    return os.path.join(root, *resolved)


def mkdir_all(path: str, mode: int = 0o755) -> None:
    """mkdir -p with `mode` for every directory it makes (os.makedirs gives the parents 0o777 less
    the umask, and the init runs with umask 0)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        mkdir_all(parent, mode)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
