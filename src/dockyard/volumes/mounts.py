"""A container's mounts: `-v`, `--mount`, `--tmpfs` and the image's VOLUMEs, checked as Docker checks them.

`parse_bind`, `parse_mount` and `parse_tmpfs` turn one user spec into a `MountPoint` and raise
InvalidArgument with Docker's messages (moby's volume/mounts linux parser):

    invalid mount config for type "bind": bind source path does not exist: /nope
    invalid volume specification: '/a:/b:/c:/d'
    invalid mode: zz
    Duplicate mount point: /data

`plan_mounts` does a whole container as dockerd's `registerMountPoints` and
`createContainerOSSpecificSettings` do (Binds, then Mounts, then the image's Volumes not already
covered, as anonymous volumes). A plan is decided once, at create: anonymous volumes get their random
names there, so the engine stores the plan (`MountPoint.to_dict`/`from_dict`) with the container and
hands the same plan to `setup_mounts` at every start. `setup_mounts` creates the volumes a plan names
(and takes a reference for the container), populates a new, empty volume from the image's content at
its destination, creates a missing `-v` bind source directory, and returns the OCI mounts with
Docker's options (`rbind`, `ro`, the bind's propagation; tmpfs with `noexec,nosuid,nodev,rprivate`
merged with the user's data).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import Mount
from dockyard.volumes.spec import BindOptions, MountSpec, TmpfsOptions, VolumeOptions

if TYPE_CHECKING:
    from dockyard.volumes.store import VolumeStore

__all__ = [
    "MountPoint",
    "convert_tmpfs_options",
    "merge_tmpfs_options",
    "parse_bind",
    "parse_mount",
    "parse_tmpfs",
    "plan_mounts",
    "setup_mounts",
    "validate_mount_spec",
]

_PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
_CONSISTENCY = ("consistent", "cached", "delegated")
_DEFAULT_PROPAGATION = "rprivate"


@dataclass
class MountPoint:
    """Docker's `MountPoint` (what inspect shows under `Mounts`, and what the container keeps)."""

    type: str  # "bind" | "volume" | "tmpfs"
    destination: str
    source: str = ""  # host path for bind; the volume's mountpoint once created
    name: str = ""  # volume name
    driver: str = ""
    rw: bool = True
    mode: str = ""  # the options as the user wrote them ("ro,z"); "z" for local volumes
    propagation: str = ""
    copy_data: bool = True  # populate a new volume from the image (nocopy / volume-nocopy turn it off)
    spec: MountSpec = field(default_factory=MountSpec)
    skip_mountpoint_creation: bool = False  # `--mount type=bind`: the source must exist
    anonymous: bool = False

    def to_json(self) -> dict[str, Any]:
        """Docker's inspect `Mounts[]` entry."""
        out: dict[str, Any] = {"Type": self.type}
        if self.name:
            out["Name"] = self.name
        out["Source"] = self.source
        out["Destination"] = self.destination
        if self.driver:
            out["Driver"] = self.driver
        out.update({"Mode": self.mode, "RW": self.rw, "Propagation": self.propagation})
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, for the engine's own records (read back by `from_dict`)."""
        return {"Type": self.type, "Destination": self.destination, "Source": self.source, "Name": self.name,
                "Driver": self.driver, "RW": self.rw, "Mode": self.mode, "Propagation": self.propagation,
                "CopyData": self.copy_data, "Spec": self.spec.to_json(),
                "SkipMountpointCreation": self.skip_mountpoint_creation, "Anonymous": self.anonymous}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MountPoint:
        return cls(type=d["Type"], destination=d["Destination"], source=d.get("Source", ""), name=d.get("Name", ""),
                   driver=d.get("Driver", ""), rw=bool(d.get("RW", True)), mode=d.get("Mode", ""),
                   propagation=d.get("Propagation", ""), copy_data=bool(d.get("CopyData", True)),
                   spec=MountSpec.from_json(d.get("Spec") or {}),
                   skip_mountpoint_creation=bool(d.get("SkipMountpointCreation", False)),
                   anonymous=bool(d.get("Anonymous", False)))


class _MountConfigError(InvalidArgument):
    pass


def _config_error(spec: MountSpec, what: str) -> InvalidArgument:
    return _MountConfigError(f'invalid mount config for type "{spec.type}": {what}')


def _abs(p: str) -> bool:
    return p.replace("\\", "/").startswith("/")


def _is_root(p: str) -> bool:
    return posixpath.normpath(p.replace("\\", "/")) == "/"


def _valid_mode(mode: str) -> bool:
    if mode == "":
        return True
    counts = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "consistency": 0}
    for o in mode.split(","):
        if o in ("rw", "ro"):
            counts["rw"] += 1
        elif o in ("z", "Z"):
            counts["label"] += 1
        elif o in _PROPAGATIONS:
            counts["prop"] += 1
        elif o == "nocopy":
            counts["copy"] += 1
        elif o in _CONSISTENCY:
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def convert_tmpfs_options(opt: TmpfsOptions | None, read_only: bool) -> str:
    """moby's ConvertTmpfsOptions: `ro`, `mode=<octal>`, `size=<n>[gmk]`."""
    raw = []
    if read_only:
        raw.append("ro")
    if opt is not None and opt.mode:
        raw.append(f"mode={opt.mode:o}")
    if opt is not None and opt.size_bytes:
        size, suffix = opt.size_bytes, ""
        for s, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, s
                break
        raw.append(f"size={size}{suffix}")
    return ",".join(raw)


# moby/sys/mount's flag table: option -> (flag key, is a propagation flag)
_FLAGS = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
    "remount": "remount", "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime", "bind": "bind", "rbind": "rbind",
    "unbindable": "propagation", "runbindable": "propagation", "private": "propagation",
    "rprivate": "propagation", "shared": "propagation", "rshared": "propagation", "slave": "propagation",
    "rslave": "propagation", "relatime": "relatime", "norelatime": "relatime", "strictatime": "strictatime",
    "nostrictatime": "strictatime",
}
_TMPFS_DATA = {"", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """moby/sys/mount's MergeTmpfsOptions: later options win, one per flag or data key."""
    flags_seen: set[str] = set()
    data_seen: set[str] = set()
    out: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        if option in _FLAGS:
            key = _FLAGS[option]
            if key not in flags_seen:
                out.insert(0, option)
                flags_seen.add(key)
            continue
        parts = option.split("=", 1)
        if len(parts) != 2 or parts[0] not in _TMPFS_DATA:
            quoted = "[" + " ".join(f'"{p}"' for p in parts) + "]"
            raise InvalidArgument(f"invalid tmpfs option {quoted}")
        if parts[0] not in data_seen:
            out.insert(0, option)
            data_seen.add(parts[0])
    return out


def validate_mount_spec(spec: MountSpec, *, check_source: bool = True) -> None:
    """moby's ValidateMountConfig for one HostConfig.Mounts entry."""
    if not spec.target:
        raise _config_error(spec, "field Target must not be empty")
    if _is_root(spec.target):
        raise _config_error(spec, "invalid specification: destination can't be '/'")
    if not _abs(spec.target):
        raise _config_error(spec, f"invalid mount path: '{spec.target}' mount path must be absolute")
    if spec.type == "bind":
        if not spec.source:
            raise _config_error(spec, "field Source must not be empty")
        if spec.bind_options is not None and spec.bind_options.propagation:
            if spec.bind_options.propagation not in _PROPAGATIONS:
                raise _config_error(spec, f"invalid propagation mode: {spec.bind_options.propagation}")
        if spec.volume_options is not None:
            raise _config_error(spec, "field VolumeOptions must not be specified")
        if not _abs(spec.source):
            raise _config_error(spec, f"invalid mount path: '{spec.source}' mount path must be absolute")
        if check_source:
            try:
                os.stat(spec.source)
            except FileNotFoundError:
                raise _config_error(spec, f"bind source path does not exist: {spec.source}") from None
            except OSError as err:
                raise _config_error(spec, f"stat {spec.source}: {os.strerror(err.errno or 0).lower()}") from None
    elif spec.type == "volume":
        if spec.bind_options is not None:
            raise _config_error(spec, "field BindOptions must not be specified")
        if not spec.source and spec.read_only:
            raise _config_error(spec, "must not set ReadOnly mode when using anonymous volumes")
    elif spec.type == "tmpfs":
        if spec.bind_options is not None:
            raise _config_error(spec, "field BindOptions must not be specified")
        if spec.source:
            raise _config_error(spec, "field Source must not be specified")
        convert_tmpfs_options(spec.tmpfs_options, spec.read_only)
    else:
        raise _config_error(spec, "mount type unknown")


def _new_anonymous_name(container_id: str = "", destination: str = "") -> str:
    """64 hex digits: random (Docker's), or derived from the container and the mount point when a
    container id is given, so a plan made again at start names the same volumes."""
    if container_id:
        return hashlib.sha256(f"dockyard-anonymous-volume\0{container_id}\0{destination}".encode()).hexdigest()
    return secrets.token_hex(32)


def _from_spec(spec: MountSpec, check_source: bool) -> MountPoint:
    validate_mount_spec(spec, check_source=check_source)
    mp = MountPoint(type=spec.type, destination=posixpath.normpath(spec.target), rw=not spec.read_only, spec=spec)
    if spec.type == "volume":
        if spec.source:
            mp.name = spec.source
        else:
            mp.name = _new_anonymous_name()
            mp.anonymous = True
        if spec.volume_options is not None:
            if spec.volume_options.has_driver_config:
                mp.driver = spec.volume_options.driver_name
            if spec.volume_options.no_copy:
                mp.copy_data = False
    elif spec.type == "bind":
        mp.source = posixpath.normpath(spec.source)
        mp.propagation = (spec.bind_options.propagation if spec.bind_options is not None and spec.bind_options.propagation
                          else _DEFAULT_PROPAGATION)
    return mp


def parse_bind(spec: str, volume_driver: str = "") -> MountPoint:
    """One `HostConfig.Binds` entry: `src:dst[:opts]` (src a host path or a volume name) or `dst`."""
    invalid = InvalidArgument(f"invalid volume specification: '{spec}'")
    if spec.count(":") > 2:
        raise invalid
    arr = spec.split(":", 2)
    if arr[0] == "":
        raise invalid
    m = MountSpec()
    mode = ""
    if len(arr) == 1:
        m.target = arr[0]
    elif len(arr) == 2:
        if _valid_mode(arr[1]):
            raise invalid
        m.source, m.target = arr
    else:
        m.source, m.target, mode = arr
    if not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    m.type = "bind" if m.source.startswith("/") else "volume"
    m.read_only = "ro" in mode.split(",")
    if volume_driver and m.type == "volume":
        m.volume_options = VolumeOptions(has_driver_config=True, driver_name=volume_driver)
    if "nocopy" in mode.split(","):
        if m.volume_options is None:
            m.volume_options = VolumeOptions()
        m.volume_options.no_copy = True
    props = [o for o in mode.split(",") if o in _PROPAGATIONS]
    if props:
        m.bind_options = BindOptions(propagation=props[0])
    try:
        mp = _from_spec(m, check_source=False)
    except _MountConfigError as err:
        raise InvalidArgument(f"invalid volume specification: '{spec}': {err}") from None
    mp.mode = mode
    return mp


def parse_mount(spec: MountSpec) -> MountPoint:
    """One `HostConfig.Mounts` entry."""
    mp = _from_spec(spec, check_source=True)
    if mp.type == "bind":
        mp.skip_mountpoint_creation = True
    return mp


def parse_tmpfs(destination: str, options: str) -> MountPoint:
    """One `HostConfig.Tmpfs` entry (`--tmpfs /run:size=1m,mode=755`)."""
    if _is_root(destination):
        raise InvalidArgument("invalid specification: destination can't be '/'")
    if not _abs(destination):
        raise InvalidArgument(f"invalid mount path: '{destination}' mount path must be absolute")
    merge_tmpfs_options(["noexec", "nosuid", "nodev", _DEFAULT_PROPAGATION, *(options.split(",") if options else [])])
    return MountPoint(type="tmpfs", destination=posixpath.normpath(destination), source="tmpfs", mode=options,
                      spec=MountSpec(type="tmpfs", target=destination), skip_mountpoint_creation=True)


def _needs_slave(spec: MountSpec, daemon_root: str) -> bool:
    """moby's validateBindDaemonRoot: a bind source within the daemon root (or containing it) gets
    rslave propagation unless the user chose rslave or rshared."""
    if spec.type != "bind" or not daemon_root:
        return False
    if not spec.source.startswith(daemon_root) and not daemon_root.startswith(spec.source):
        return False
    propagation = spec.bind_options.propagation if spec.bind_options is not None else ""
    if propagation in ("rslave", "rshared", ""):
        return propagation == ""
    raise InvalidArgument('invalid mount config: must use either propagation mode "rslave" or "rshared" when mount '
                          f'source is within the daemon root, daemon root: "{daemon_root}", bind mount source: '
                          f'"{spec.source}", propagation: "{propagation}"')


def plan_mounts(*, binds: Sequence[str] | None = (), mounts: Sequence[MountSpec] | None = (),
                tmpfs: Mapping[str, str] | None = None, image_volumes: Sequence[str] | None = (),
                volume_driver: str = "", daemon_root: str = "", container_id: str = "") -> list[MountPoint]:
    """Every mount of a container (HostConfig.Binds, .Mounts, .Tmpfs, .VolumeDriver and the merged
    Config.Volumes), checked; duplicates refused (`Duplicate mount point: /data`). HostConfig.Tmpfs
    entries come last (inspect does not show them; `setup_mounts` mounts them). With `container_id`,
    anonymous volumes get names derived from it and the destination, so planning again at start gives
    the same plan; without, random names (then keep the plan: `MountPoint.to_dict`)."""
    points: dict[str, MountPoint] = {}
    tmpfs = dict(tmpfs or {})
    claimed: set[str] = set()
    for raw in binds or ():
        mp = parse_bind(raw, volume_driver)
        if mp.anonymous and container_id:
            mp.name = _new_anonymous_name(container_id, mp.destination)
        if _needs_slave(mp.spec, daemon_root):
            mp.propagation = "rslave"
        if mp.destination in claimed or mp.destination in tmpfs or posixpath.normpath(mp.destination) in {
                posixpath.normpath(t) for t in tmpfs}:
            raise InvalidArgument(f"Duplicate mount point: {mp.destination}")
        if mp.type == "volume" and not mp.driver:
            mp.driver = "local"
        if mp.type == "volume" and mp.driver == "local" and not mp.mode:
            mp.mode = "z"
        claimed.add(mp.destination)
        points[mp.destination] = mp
    for spec in mounts or ():
        mp = parse_mount(spec)
        if mp.anonymous and container_id:
            mp.name = _new_anonymous_name(container_id, mp.destination)
        if _needs_slave(spec, daemon_root):
            mp.propagation = "rslave"
        if mp.destination in claimed:
            raise InvalidArgument(f"Duplicate mount point: {spec.target}")
        if mp.type == "volume" and not mp.driver:
            mp.driver = "local"
        if mp.type == "volume" and mp.driver == "local" and not mp.mode:
            mp.mode = "z"
        claimed.add(mp.destination)
        points[mp.destination] = mp
    for volume in image_volumes or ():
        destination = posixpath.normpath(volume)
        if destination in points:
            continue
        points[destination] = MountPoint(type="volume", destination=destination,
                                         name=_new_anonymous_name(container_id, destination),
                                         driver=volume_driver or "local", mode="", anonymous=True,
                                         spec=MountSpec(type="volume", target=destination))
    out = list(points.values())
    for destination, options in tmpfs.items():
        out.append(parse_tmpfs(destination, options))
    return out


def _resolve_in(rootfs: Path, destination: str) -> Path | None:
    from dockyard.fsutil.paths import resolve_in_root

    try:
        return Path(resolve_in_root(str(rootfs), destination))
    except InvalidArgument:
        return None


def setup_mounts(points: Sequence[MountPoint], store: VolumeStore, container_id: str, rootfs: Path | None) -> list[Mount]:
    """Create (or find) the volumes of `points`, take a reference for `container_id`, populate new, empty
    volumes from `rootfs` (the container's mounted root; None skips populating), create missing `-v`
    bind sources, and return the OCI mounts. Fills `source` (and `driver`) of volume points in place."""
    out: list[Mount] = []
    for mp in points:
        if mp.type == "tmpfs":
            # HostConfig.Tmpfs entries carry their data as written; --mount ones have TmpfsOptions
            data = mp.mode if mp.source == "tmpfs" else convert_tmpfs_options(mp.spec.tmpfs_options, mp.spec.read_only)
            options = merge_tmpfs_options(["noexec", "nosuid", "nodev", _DEFAULT_PROPAGATION,
                                           *(data.split(",") if data else [])])
            out.append(Mount(mp.destination, "tmpfs", "tmpfs", options))
            continue
        if mp.type == "volume":
            opts = mp.spec.volume_options
            volume = store.create(mp.name, driver=mp.driver or "local",
                                  driver_opts=(opts.driver_options if opts is not None else None),
                                  labels=(opts.labels if opts is not None else None), anonymous=mp.anonymous)
            store.acquire(volume.name, container_id)
            mp.source = str(volume.mountpoint)
            mp.driver = volume.driver
            if mp.copy_data and rootfs is not None:
                src = _resolve_in(rootfs, mp.destination)
                if src is not None and src.exists():
                    if not src.is_dir():
                        raise InvalidArgument(f"cannot mount volume over existing file, file exists {src}")
                    store.populate(volume, src)
            options = ["rbind"] + ([] if mp.rw else ["ro"])
            if mp.propagation:
                options.append(mp.propagation)
            out.append(Mount(mp.destination, "bind", mp.source, options))
            continue
        # bind
        if not mp.skip_mountpoint_creation:
            try:
                os.makedirs(mp.source, mode=0o755, exist_ok=True)
            except FileExistsError:
                pass  # a file: bind-mounting a file is fine
            except NotADirectoryError:
                pass
            except OSError as err:
                raise SystemCallError.from_oserror(f"error while creating mount source path '{mp.source}'", err) from None
        elif not os.path.lexists(mp.source):
            raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: {mp.source}')
        non_recursive = mp.spec.bind_options is not None and mp.spec.bind_options.non_recursive
        options = ["bind" if non_recursive else "rbind"] + ([] if mp.rw else ["ro"])
        if mp.propagation:
            options.append(mp.propagation)
        out.append(Mount(mp.destination, "bind", mp.source, options))
    return out
