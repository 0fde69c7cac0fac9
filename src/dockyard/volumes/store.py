"""Named and anonymous volumes of the `local` driver, as Docker's volume service keeps them.

On disk, under the data root:

    volumes/<name>/_data        the volume's content (what containers mount)
    volumes/<name>/volume.json  its record: {"Name", "Driver", "CreatedAt" (ns), "Labels", "Options",
                                "Anonymous"}, written temp-then-rename (fsync'd) after `_data` exists

The metadata database (metadata/db.py) belongs to the images subsystem and has no volumes table; a
volume is a directory with its own small record instead, so a delete is one rename away from
complete (`volumes/<name>` -> `volumes/.rm-<name>-<random>`, then removed) and a crash mid-create
leaves a directory without `volume.json`, which the store ignores and `cleanup()` removes.

Which containers use a volume is the engine's knowledge: `acquire`/`release` keep references in
memory for the daemon's lifetime (the engine re-acquires for its containers when it starts), and the
optional `in_use(name) -> [container ids]` callback lets the engine answer from its own records. A
volume in use cannot be removed: `remove x: volume is in use - [<id>]` (Conflict).

Driver options of the local driver (`type`, `device`, `o`, as `docker volume create --opt`) make a
volume a mount: `mount_volume` mounts it on `_data` when its first user starts and
`unmount_volume` unmounts it when the last one stops.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.errors import Conflict, InvalidArgument, NotFound, SystemCallError
from dockyard.volumes.copy import copy_tree

__all__ = ["ANONYMOUS_LABEL", "PruneReport", "Volume", "VolumeStore"]

ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # Docker 23+ marks anonymous volumes with it
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
_LOCAL_OPTIONS = ("type", "device", "o", "size")
_RECORD = "volume.json"


def _rfc3339(ns: int) -> str:
    """Go's `time.Format(time.RFC3339)` in local time: seconds, `Z` for UTC."""
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@dataclass
class Volume:
    name: str
    mountpoint: Path
    driver: str = "local"
    created_ns: int = 0
    labels: dict[str, str] | None = None
    options: dict[str, str] | None = None
    anonymous: bool = False

    def to_json(self, usage: tuple[int, int] | None = None) -> dict[str, Any]:
        """Docker's inspect shape: CreatedAt, Driver, Labels, Mountpoint, Name, Options, Scope
        (and UsageData {RefCount, Size} when `usage` = (size, refcount) is given, for `system df`)."""
        out: dict[str, Any] = {
            "CreatedAt": _rfc3339(self.created_ns),
            "Driver": self.driver,
            "Labels": None if self.labels is None else dict(sorted(self.labels.items())),
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": None if self.options is None else dict(sorted(self.options.items())),
            "Scope": "local",
        }
        if usage is not None:
            out["UsageData"] = {"RefCount": usage[1], "Size": usage[0]}
        return out


@dataclass
class PruneReport:
    volumes_deleted: list[str] = field(default_factory=list)
    space_reclaimed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"VolumesDeleted": self.volumes_deleted or None, "SpaceReclaimed": self.space_reclaimed}


# moby/sys/mount's option table: name -> (clear, MS_ flag)
_MS = {
    "ro": (False, 1), "rw": (True, 1), "nosuid": (False, 2), "suid": (True, 2), "nodev": (False, 4),
    "dev": (True, 4), "noexec": (False, 8), "exec": (True, 8), "sync": (False, 16), "async": (True, 16),
    "remount": (False, 32), "mand": (False, 64), "nomand": (True, 64), "dirsync": (False, 128),
    "noatime": (False, 1024), "atime": (True, 1024), "nodiratime": (False, 2048), "diratime": (True, 2048),
    "bind": (False, 4096), "rbind": (False, 4096 | 16384), "relatime": (False, 1 << 21),
    "norelatime": (True, 1 << 21), "strictatime": (False, 1 << 24), "nostrictatime": (True, 1 << 24),
}


def _mount_flags(options: str) -> tuple[int, str]:
    """Split `o=` into mount(2) flags and filesystem data, as moby/sys/mount's parseOptions does."""
    flags = 0
    data = []
    for o in options.split(",") if options else []:
        if o in _MS:
            clear, bit = _MS[o]
            flags = flags & ~bit if clear else flags | bit
        else:
            data.append(o)
    return flags, ",".join(data)


def _filter_values(filters: Mapping[str, Any] | None, key: str) -> list[str]:
    """Docker's filters arrive as {"key": ["v"]} or the old {"key": {"v": true}}."""
    if not filters or key not in filters:
        return []
    value = filters[key]
    if isinstance(value, Mapping):
        return [k for k, v in value.items() if v]
    return list(value)


def _match_labels(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    for w in wanted:
        key, sep, value = w.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _parse_bool(text: str, what: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise InvalidArgument(f"invalid filter '{what}={text}'")


class VolumeStore:
    def __init__(self, data_root: Path, *, in_use: Callable[[str], list[str]] | None = None) -> None:
        self.root = Path(data_root) / "volumes"
        self._in_use = in_use
        self._refs: dict[str, dict[str, None]] = {}
        self._mounted: dict[str, int] = {}
        self._lock = threading.RLock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o701)
        except OSError as err:
            raise SystemCallError.from_oserror(f"mkdir {self.root}", err) from None

    # --- records -----------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        return self.root / name

    def _read(self, name: str) -> Volume | None:
        if not _NAME.match(name):
            return None
        try:
            doc = json.loads((self._dir(name) / _RECORD).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise SystemCallError(f"read volume {name}: {err}", getattr(err, "errno", 0) or 0) from None
        return Volume(name=doc["Name"], mountpoint=self._dir(name) / "_data", driver=doc.get("Driver", "local"),
                      created_ns=int(doc.get("CreatedAt", 0)), labels=doc.get("Labels"), options=doc.get("Options"),
                      anonymous=bool(doc.get("Anonymous", False)))

    def _write(self, volume: Volume) -> None:
        directory = self._dir(volume.name)
        doc = {"Name": volume.name, "Driver": volume.driver, "CreatedAt": volume.created_ns, "Labels": volume.labels,
               "Options": volume.options, "Anonymous": volume.anonymous}
        fd, tmp = tempfile.mkstemp(prefix=".volume.", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, directory / _RECORD)
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as err:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise SystemCallError.from_oserror(f"write {directory / _RECORD}", err) from None

    # --- API ---------------------------------------------------------------------------------

    def create(self, name: str | None = None, *, driver: str = "local", driver_opts: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None, anonymous: bool | None = None) -> Volume:
        """Create a volume, or return the existing one of that name (Docker's create is idempotent).
        No name: an anonymous volume with 64 random hex digits (labelled as Docker 23+ does).
        InvalidArgument for a bad name, an unknown driver or option."""
        if name is None or name == "":
            name = secrets.token_hex(32)
            anonymous = True if anonymous is None else anonymous
        driver = driver or "local"
        if driver != "local":
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        if len(name) == 1:
            raise InvalidArgument(f"create {name}: volume name is too short, names should be at least two "
                                  "alphanumeric characters")
        if not _NAME.match(name):
            raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume name, only '
                                  '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                                  "use absolute path")
        for key in driver_opts or {}:
            if key not in _LOCAL_OPTIONS:
                raise InvalidArgument(f'create {name}: invalid option: "{key}"')
        if driver_opts and "size" in driver_opts:
            raise InvalidArgument(f"create {name}: quota size requested but no quota support")
        with self._lock:
            existing = self._read(name)
            if existing is not None:
                return existing
            directory = self._dir(name)
            try:
                if directory.exists():
                    shutil.rmtree(directory)  # a crash's leftover: no record, not a volume
                directory.mkdir(mode=0o701)
                os.chmod(directory, 0o701)
                (directory / "_data").mkdir(mode=0o755)
            except OSError as err:
                raise SystemCallError.from_oserror(f"create {name}: mkdir {directory}", err) from None
            all_labels = dict(labels) if labels else None
            if anonymous:
                all_labels = {**(all_labels or {}), ANONYMOUS_LABEL: ""}
            volume = Volume(name=name, mountpoint=directory / "_data", driver=driver, created_ns=time.time_ns(),
                            labels=all_labels, options=dict(driver_opts) if driver_opts else None,
                            anonymous=bool(anonymous))
            try:
                self._write(volume)
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            return volume

    def get(self, name: str) -> Volume:
        """NotFound `get x: no such volume`."""
        volume = self._read(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    def _all(self) -> list[Volume]:
        out = []
        try:
            names = sorted(os.listdir(self.root))
        except OSError as err:
            raise SystemCallError.from_oserror(f"list {self.root}", err) from None
        for name in names:
            volume = self._read(name)
            if volume is not None:
                out.append(volume)
        return out

    def list_volumes(self, filters: Mapping[str, Any] | None = None) -> list[Volume]:
        """Filters: name (substring), driver, label (`k` or `k=v`), dangling (true/false)."""
        for key in filters or {}:
            if key not in ("name", "driver", "label", "dangling"):
                raise InvalidArgument(f"invalid filter '{key}'")
        names = _filter_values(filters, "name")
        drivers = _filter_values(filters, "driver")
        labels = _filter_values(filters, "label")
        dangling_values = _filter_values(filters, "dangling")
        dangling = None if not dangling_values else _parse_bool(dangling_values[-1], "dangling")
        out = []
        for v in self._all():
            if names and not any(n in v.name for n in names):
                continue
            if drivers and v.driver not in drivers:
                continue
            if labels and not _match_labels(v.labels or {}, labels):
                continue
            if dangling is not None and (not self.users(v.name)) != dangling:
                continue
            out.append(v)
        return out

    def inspect(self, name: str) -> dict[str, Any]:
        return self.get(name).to_json()

    def users(self, name: str) -> list[str]:
        """The ids of containers using the volume (references and the `in_use` callback)."""
        with self._lock:
            users = dict(self._refs.get(name, {}))
        if self._in_use is not None:
            for cid in self._in_use(name):
                users.setdefault(cid, None)
        return list(users)

    def remove(self, name: str, *, force: bool = False) -> None:
        """Conflict `remove x: volume is in use - [<id>, ...]` while used; with force a missing volume
        is not an error (but one in use still is)."""
        with self._lock:
            volume = self._read(name)
            if volume is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self.users(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            if self._mounted.get(name):
                self._unmount_now(volume)
            directory = self._dir(name)
            doomed = self.root / f".rm-{name}-{secrets.token_hex(4)}"
            try:
                os.rename(directory, doomed)
            except OSError as err:
                raise SystemCallError.from_oserror(f"remove {name}", err) from None
            self._refs.pop(name, None)
        shutil.rmtree(doomed, ignore_errors=True)

    def prune(self, filters: Mapping[str, Any] | None = None) -> PruneReport:
        """Remove unused volumes: only anonymous ones unless filter `all=true` (Docker 23+), narrowed
        by `label` / `label!`."""
        for key in filters or {}:
            if key not in ("label", "label!", "all"):
                raise InvalidArgument(f"invalid filter '{key}'")
        all_values = _filter_values(filters, "all")
        prune_all = bool(all_values) and _parse_bool(all_values[-1], "all")
        want = _filter_values(filters, "label")
        reject = _filter_values(filters, "label!")
        report = PruneReport()
        for v in self._all():
            if not prune_all and not v.anonymous:
                continue
            labels = v.labels or {}
            if want and not _match_labels(labels, want):
                continue
            if reject and any(_match_labels(labels, [r]) for r in reject):
                continue
            if self.users(v.name):
                continue
            size = self.size(v.name)
            try:
                self.remove(v.name)
            except Conflict:
                continue
            report.volumes_deleted.append(v.name)
            report.space_reclaimed += size
        return report

    def acquire(self, name: str, container_id: str) -> None:
        with self._lock:
            self._refs.setdefault(name, {})[container_id] = None

    def release(self, name: str, container_id: str) -> None:
        with self._lock:
            refs = self._refs.get(name)
            if refs is not None:
                refs.pop(container_id, None)
                if not refs:
                    del self._refs[name]

    def size(self, name: str) -> int:
        """Bytes used by the volume's content (for `system df`): the sum of its files' sizes, each
        inode counted once."""
        total = 0
        seen: set[tuple[int, int]] = set()
        for dirpath, dirnames, filenames in os.walk(self._dir(name) / "_data"):
            for entry in (*dirnames, *filenames):
                try:
                    st = os.lstat(os.path.join(dirpath, entry))
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                if not os.path.isdir(os.path.join(dirpath, entry)) or os.path.islink(os.path.join(dirpath, entry)):
                    total += st.st_size
        return total

    def populate(self, volume: Volume, source: Path) -> bool:
        """Copy `source` (the image's content at the mount path) into the volume if the volume is empty
        (Docker's copyExistingContents); returns whether it copied. Ownership, modes, xattrs, times
        and special files are kept."""
        target = volume.mountpoint
        with self._lock:
            try:
                with os.scandir(target) as entries:
                    if any(entries):
                        return False
            except OSError as err:
                raise SystemCallError.from_oserror(f"read {target}", err) from None
            copy_tree(source, target)
            return True

    # --- volumes with mount options --------------------------------------------------------------

    def mount_volume(self, name: str) -> Path:
        """Mount a volume that has driver options (`type`/`device`/`o`) on its `_data`, the first time;
        count the users. Plain volumes need nothing. Returns the mountpoint."""
        volume = self.get(name)
        if not volume.options:
            return volume.mountpoint
        with self._lock:
            count = self._mounted.get(name, 0)
            if count == 0:
                from dockyard.fsutil.mount import mount

                opts = volume.options
                flags, data = _mount_flags(opts.get("o", ""))
                fstype = opts.get("type", "")
                try:
                    mount(opts.get("device", ""), str(volume.mountpoint), fstype if fstype and fstype != "none" else None,
                          flags, data or None)
                except SystemCallError as err:
                    raise SystemCallError(f"error while mounting volume '{volume.mountpoint}': {err.what}", err.errno) from None
            self._mounted[name] = count + 1
        return volume.mountpoint

    def unmount_volume(self, name: str) -> None:
        with self._lock:
            count = self._mounted.get(name, 0)
            if count <= 0:
                return
            if count == 1:
                volume = self._read(name)
                if volume is not None:
                    self._unmount_now(volume)
                self._mounted.pop(name, None)
            else:
                self._mounted[name] = count - 1

    def _unmount_now(self, volume: Volume) -> None:
        from dockyard.fsutil.mount import unmount

        try:
            unmount(str(volume.mountpoint), 2)  # MNT_DETACH
        except OSError:
            pass
        self._mounted.pop(volume.name, None)

    def cleanup(self) -> None:
        """Remove what a crash left: half-made volume directories and half-removed ones."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return
        for name in names:
            path = self.root / name
            if name.startswith(".rm-") or (path.is_dir() and not (path / _RECORD).exists()):
                shutil.rmtree(path, ignore_errors=True)
