"""A container's filesystem from outside: top, diff, export, cp (archive), commit."""

from __future__ import annotations

import contextlib
import subprocess
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.errors import Conflict, DockyardError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.engine import Engine


def top(engine: Engine, ref: str, ps_args: str = "-ef") -> dict[str, Any]:
    """`docker top`: the host's `ps` output, filtered to the container's processes (as dockerd does)."""
    c = engine.get(ref)
    if c.state.status not in ("running", "paused"):
        raise Conflict(f"Container {c.id} is not running")
    pids = set(engine.runtime.pids(c.id))
    args = ps_args.split() if ps_args else ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise InvalidArgument(f"Error running ps: {err}") from None
    lines = out.splitlines()
    if not lines:
        return {"Titles": [], "Processes": []}
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    processes = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pid_index and fields[pid_index].isdigit() and int(fields[pid_index]) in pids:
            processes.append(fields)
    engine.container_event(c, "top")
    return {"Titles": titles, "Processes": processes}


def changes(engine: Engine, ref: str) -> list[dict[str, Any]]:
    from dockyard.layers import changes_from_mounts

    c = engine.get(ref)
    upper = engine.images.snapshotter.mounts(c.snapshot_key)
    kinds = {"C": 0, "A": 1, "D": 2}
    result = []
    for change in changes_from_mounts([], upper):
        kind = change.kind.value if hasattr(change.kind, "value") else str(change.kind)
        result.append({"Path": change.path, "Kind": kinds.get(str(kind), kind)})
    return result


def export(engine: Engine, ref: str, out: BinaryIO) -> None:
    from dockyard.layers import export_rootfs

    c = engine.get(ref)
    with engine.mounted(c) as root:
        export_rootfs(root, out)
    engine.container_event(c, "export")


def _check_path(path: str) -> None:
    if not path:
        raise InvalidArgument("path must not be empty")


def archive_stat(engine: Engine, ref: str, path: str) -> Any:
    from dockyard.layers import stat_path

    _check_path(path)
    c = engine.get(ref)
    with engine.mounted(c) as root:
        return stat_path(root, path)


def archive_get(engine: Engine, ref: str, path: str, out: BinaryIO) -> Any:
    from dockyard.layers import archive_path

    _check_path(path)
    c = engine.get(ref)
    with engine.mounted(c) as root:
        st = archive_path(root, path, out)
    engine.container_event(c, "archive-path")
    return st


def archive_put(engine: Engine, ref: str, path: str, stream: BinaryIO, *, no_overwrite_dir_non_dir: bool = False,
                copy_uid_gid: bool = False) -> None:
    from dockyard.layers import extract_archive

    _check_path(path)
    c = engine.get(ref)
    if c.host_config.get("ReadonlyRootfs"):
        raise Conflict("container rootfs is marked read-only")
    with engine.mounted(c) as root:
        extract_archive(root, path, stream, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)
    engine.container_event(c, "extract-to-dir")


def commit(engine: Engine, ref: str, *, repo: str = "", tag: str = "", comment: str = "", author: str = "",
           changes_: list[str] | None = None, pause: bool = True, config: dict[str, Any] | None = None) -> str:
    from dockyard.engine.config import Config

    c = engine.get(ref)
    paused_here = False
    if pause and c.state.status == "running":
        with contextlib.suppress(DockyardError):
            engine.runtime.pause(c.id)
            paused_here = True
    try:
        container_config = Config.read(c.config, "Config")
        override = Config.read(config, "Config") if config else None
        image_id = engine.images.commit(container_id=c.id, snapshot_key=c.snapshot_key, image=c.image_id,
                                        container_config=container_config, config=override,
                                        changes=changes_ or [], author=author, comment=comment, repo=repo, tag=tag)
    finally:
        if paused_here:
            with contextlib.suppress(DockyardError):
                engine.runtime.resume(c.id)
    engine.container_event(c, "commit", {"comment": comment} if comment else None)
    return image_id
