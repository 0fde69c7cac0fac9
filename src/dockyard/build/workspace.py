"""The filesystem side of a build: snapshots, mounts, layers and scratch directories, all of
them pinned by the build's lease while they exist and removed when the step (or the build) that
made them ends.

    ws = Workspace(images, work_root, build_stack)
    with ExitStack() as step:
        key, mounts = ws.snapshot(step, chain_id, init=True)   # Docker's init layer under it
        ws.mount(step, mounts, rootfs)
        ... change rootfs ...
        layer = ws.layer(step, key, parent, ingest)            # None: nothing changed
    ws.image_rootfs(image_id)                                  # read-only, for COPY --from

The lease is taken at the first snapshot (a build served from the cache writes nothing) and
dropped with the build.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any, BinaryIO, cast

from dockyard.build.commit import Layer
from dockyard.build.run import prepare_init_layer
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.fsutil.mount import mount_all, unmount_all
from dockyard.fsutil.paths import resolve_in_root
from dockyard.images import ImageService
from dockyard.images.ingest import Ingest
from dockyard.images.store import EMPTY_LAYER_DIFF_ID
from dockyard.layers import Compression, write_layer_from_mounts
from dockyard.metadata import SNAPSHOT
from dockyard.oci import runtime_spec as rs

__all__ = ["Workspace", "mkdir_in_root", "recover", "volume_copies"]


class Workspace:
    def __init__(self, images: ImageService, work_root: Path, cleanup: ExitStack) -> None:
        self.images = images
        self.store = images.store
        self.snapshotter = images.snapshotter
        self.work_root = Path(work_root)
        self.cleanup = cleanup
        self.lease_id = ""
        self.views: dict[str, str] = {}  # image id -> its mounted read-only rootfs

    def pin(self, kind: str, *keys: str) -> None:
        """Keep what the build makes safe from a garbage collection until the build ends (one
        transaction for all of `keys`; the lease is made at the first pin)."""
        if not self.lease_id:
            lease = self.store.leases.create({"dockyard.build": "1"}, ttl=24 * 3600.0)
            self.lease_id = lease.id
            self.cleanup.callback(self.store.leases.delete, lease.id)
        with self.store.db.transaction("pin build resources") as conn:
            for key in keys:
                self.store.leases.add(self.lease_id, kind, key, conn)

    def step_dir(self, stack: ExitStack, prefix: str = "step-") -> Path:
        """A private directory under the work root, removed when `stack` closes."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.work_root))
        stack.callback(shutil.rmtree, path, True)
        return path

    def snapshot(self, stack: ExitStack, parent: str | None, init: bool = False) -> tuple[str, list[Any]]:
        """A writable snapshot on `parent` (a chain id, or None), with Docker's init layer under it
        when `init`; removed when `stack` closes. (key, mounts)."""
        key = f"build-{secrets.token_hex(8)}"
        if init:
            init_key = f"build-init-{secrets.token_hex(8)}"
            self.pin(SNAPSHOT, init_key, init_key + "-prep", key)
            mounts = self.snapshotter.prepare(init_key + "-prep", parent)
            try:
                prepare_init_layer(self._writable_dir(mounts, stack))
                self.snapshotter.commit(init_key, init_key + "-prep")
            except BaseException:
                with suppress(DockyardError):
                    self.snapshotter.remove(init_key + "-prep")
                raise
            stack.callback(_quiet_remove, self.snapshotter, init_key)
            parent = init_key
        else:
            self.pin(SNAPSHOT, key)
        mounts = self.snapshotter.prepare(key, parent)
        stack.callback(_quiet_remove, self.snapshotter, key)
        return key, mounts

    def mount(self, stack: ExitStack, mounts: list[Any], target: str, readonly: bool = False) -> str:
        os.makedirs(target, exist_ok=True)
        if readonly:
            from dockyard.snapshots import Mount

            mounts = [Mount(m.type, m.source, (*[o for o in m.options if o != "rw"], "ro")) for m in mounts]
        mount_all(mounts, target)
        stack.callback(unmount_all, target)
        return target

    def layer(self, stack: ExitStack, key: str, lower_parent: str | None, ingest: Ingest) -> Layer | None:
        """The layer of snapshot `key` against `lower_parent` (its parent), in the content store
        through `ingest`; None when nothing changed."""
        lower: list[Any] = []
        if lower_parent is not None:
            view_key = f"build-view-{secrets.token_hex(8)}"
            self.pin(SNAPSHOT, view_key)
            lower = self.snapshotter.view(view_key, lower_parent)
            stack.callback(_quiet_remove, self.snapshotter, view_key)
        spool = tempfile.SpooledTemporaryFile(max_size=16 << 20, dir=str(self.work_root))
        stack.callback(spool.close)
        result = write_layer_from_mounts(lower, self.snapshotter.mounts(key), spool, Compression.NONE)
        diff_id = str(result.diff_id)
        if diff_id == EMPTY_LAYER_DIFF_ID:
            return None
        spool.seek(0)
        digest, size = ingest.write_stream(cast(BinaryIO, spool), diff_id, result.size)
        return Layer(digest, size)

    def image_rootfs(self, image_id: str) -> str:
        """An image's root filesystem, mounted read-only until the build ends (once per image)."""
        if image_id in self.views:
            return self.views[image_id]
        target = tempfile.mkdtemp(prefix="from-", dir=self.work_root)
        self.cleanup.callback(shutil.rmtree, target, True)
        top = self.store.top_layer(image_id)
        if top is not None:
            self.images.rootfs_parent(image_id)
            key = f"build-view-{secrets.token_hex(8)}"
            self.pin(SNAPSHOT, key)
            mounts = self.snapshotter.view(key, top)
            self.cleanup.callback(_quiet_remove, self.snapshotter, key)
            self.mount(self.cleanup, mounts, target, readonly=True)
        self.views[image_id] = target
        return target

    def _writable_dir(self, mounts: list[Any], stack: ExitStack) -> str:
        """The directory a fresh snapshot's mounts write to (overlay upperdir or a bind source)."""
        if len(mounts) == 1 and mounts[0].type == "overlay":
            upper = mounts[0].option("upperdir")
            if upper:
                return str(upper)
        if len(mounts) == 1 and mounts[0].type == "bind":
            return str(mounts[0].source)
        target = str(self.step_dir(stack, "init-"))
        mount_all(mounts, target)
        stack.callback(unmount_all, target)
        return target


def _quiet_remove(snapshotter: Any, key: str) -> None:
    with suppress(DockyardError):
        snapshotter.remove(key)


def mkdir_in_root(rootfs: str, path: str) -> None:
    """Docker's SetupWorkingDirectory: make the directory (and its parents) 0755, owned by root."""
    host = resolve_in_root(rootfs, os.path.normpath("/" + path))
    if os.path.isdir(host):
        return
    if os.path.lexists(host):
        raise InvalidArgument(f"Cannot mkdir: {path} is not a directory")
    missing = []
    p = host
    while not os.path.lexists(p):
        missing.append(p)
        p = os.path.dirname(p)
    if not os.path.isdir(p):
        raise InvalidArgument(f"Cannot mkdir: {path} is not a directory")
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        os.chmod(d, 0o755)
        os.lchown(d, 0, 0)


def volume_copies(volumes: Sequence[str], rootfs: str, bundle: Path) -> list[rs.Mount]:
    """Docker gives a RUN after VOLUME an anonymous volume at each path, filled from the image:
    what the RUN writes there does not reach the image. Here: a copy under `bundle`, bound over
    the path (its mount point made as runc makes one, 0755)."""
    from dockyard.fsutil.copy import copy_tree

    mounts: list[rs.Mount] = []
    for i, volume in enumerate(sorted(volumes)):
        dest = os.path.normpath("/" + volume)
        source = bundle / f"volume-{i}"
        host = resolve_in_root(rootfs, dest)
        if os.path.lexists(host) and not os.path.isdir(host):
            raise InvalidArgument(f"cannot mount volume over existing file, file exists {os.path.join(rootfs, dest.lstrip('/'))}")
        source.mkdir()
        if os.path.isdir(host):
            copy_tree(host, str(source))
        else:
            mkdir_in_root(rootfs, dest)
        mounts.append(rs.Mount(dest, "bind", str(source), ["rbind", "rprivate"]))
    return mounts


def recover(images: ImageService, work_root: Path, runtime_root: str) -> list[str]:
    """Remove what crashed builds left: RUN containers (those whose bundle is under `work_root`),
    mounts and directories under `work_root`, snapshots whose key starts with `build-` (children
    first) and the leases builds take. Only for a time when no build runs (the daemon's start)."""
    import signal

    from dockyard.runtime.container import Runtime

    removed: list[str] = []
    work_root = Path(work_root)
    runtime = Runtime(runtime_root)
    for state in runtime.containers():
        if str(state.get("bundle", "")).startswith(f"{work_root}/"):
            with suppress(DockyardError, OSError):
                runtime.kill(state["id"], signal.SIGKILL, all_processes=True)
            with suppress(DockyardError, OSError):
                runtime.delete(state["id"], force=True)
                removed.append(f"container {state['id']}")
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        points = []
    for point in sorted((p for p in points if p.startswith(f"{work_root}/")), key=len, reverse=True):
        with suppress(DockyardError):
            unmount_all(point)
            removed.append(f"mount {point}")
    if work_root.is_dir():
        for entry in sorted(work_root.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(f"path {entry}")
    leftovers = [i for i in images.snapshotter.walk() if i.key.startswith("build-")]
    for _ in range(len(leftovers) + 1):  # children before parents
        progress = False
        for info in list(leftovers):
            try:
                images.snapshotter.remove(info.key)
            except DockyardError:
                continue
            leftovers.remove(info)
            removed.append(f"snapshot {info.key}")
            progress = True
        if not progress:
            break
    for lease in images.store.leases.all():
        if lease.labels.get("dockyard.build"):
            images.store.leases.delete(lease.id)
            removed.append(f"lease {lease.id}")
    return removed
