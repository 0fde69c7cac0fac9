"""Docker's `mount.Mount` (an entry of HostConfig.Mounts, what `--mount` sends), as typed records.

Here rather than in engine/config.py so that volumes/ does not depend on the engine; engine/config.py
re-exports them.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = ["BindOptions", "MountSpec", "TmpfsOptions", "VolumeOptions", "parse_mount_flag"]


@dataclass
class BindOptions:
    propagation: str = ""
    non_recursive: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.propagation:
            out["Propagation"] = self.propagation
        if self.non_recursive:
            out["NonRecursive"] = True
        return out


@dataclass
class VolumeOptions:
    no_copy: bool = False
    labels: dict[str, str] | None = None
    driver_name: str = ""
    driver_options: dict[str, str] | None = None
    has_driver_config: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.no_copy:
            out["NoCopy"] = True
        if self.labels:
            out["Labels"] = dict(sorted(self.labels.items()))
        if self.has_driver_config:
            driver: dict[str, Any] = {}
            if self.driver_name:
                driver["Name"] = self.driver_name
            if self.driver_options:
                driver["Options"] = dict(sorted(self.driver_options.items()))
            out["DriverConfig"] = driver
        return out


@dataclass
class TmpfsOptions:
    size_bytes: int = 0
    mode: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.size_bytes:
            out["SizeBytes"] = self.size_bytes
        if self.mode:
            out["Mode"] = self.mode
        return out


@dataclass
class MountSpec:
    """One entry of HostConfig.Mounts (what `--mount type=...` sends): Docker's `mount.Mount`."""

    type: str = ""
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_options: BindOptions | None = None
    volume_options: VolumeOptions | None = None
    tmpfs_options: TmpfsOptions | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MountSpec:
        """Read back what `to_json` wrote (trusted: the engine's own records; the API's input goes
        through engine.config's checked decoder)."""
        bind = d.get("BindOptions")
        vol = d.get("VolumeOptions")
        tmp = d.get("TmpfsOptions")
        volume_options = None
        if vol is not None:
            driver = vol.get("DriverConfig")
            volume_options = VolumeOptions(no_copy=bool(vol.get("NoCopy")), labels=vol.get("Labels"),
                                           driver_name=(driver or {}).get("Name", ""),
                                           driver_options=(driver or {}).get("Options"),
                                           has_driver_config=driver is not None)
        return cls(
            type=d.get("Type", ""), source=d.get("Source", ""), target=d.get("Target", ""),
            read_only=bool(d.get("ReadOnly")), consistency=d.get("Consistency", ""),
            bind_options=None if bind is None else BindOptions(bind.get("Propagation", ""), bool(bind.get("NonRecursive"))),
            volume_options=volume_options,
            tmpfs_options=None if tmp is None else TmpfsOptions(int(tmp.get("SizeBytes", 0)), int(tmp.get("Mode", 0))),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (("Type", self.type), ("Source", self.source), ("Target", self.target)):
            if value:
                out[key] = value
        if self.read_only:
            out["ReadOnly"] = True
        if self.consistency:
            out["Consistency"] = self.consistency
        if self.bind_options is not None:
            out["BindOptions"] = self.bind_options.to_json()
        if self.volume_options is not None:
            out["VolumeOptions"] = self.volume_options.to_json()
        if self.tmpfs_options is not None:
            out["TmpfsOptions"] = self.tmpfs_options.to_json()
        return out


_RAM_SIZE = re.compile(r"^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _go_parse_bool(text: str) -> bool | None:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def parse_mount_flag(value: str) -> MountSpec:
    """One `--mount` flag value as the docker CLI reads it (docker/cli opts.MountOpt.Set): CSV fields
    `type=`, `source|src=`, `target|dst|destination=`, `readonly|ro[=bool]`, `consistency=`,
    `bind-propagation=`, `bind-nonrecursive[=bool]`, `volume-nocopy[=bool]`, `volume-label=`,
    `volume-driver=`, `volume-opt=`, `tmpfs-size=`, `tmpfs-mode=` (octal). The type defaults to volume.
    InvalidArgument with the CLI's words (`target is required`, `unexpected key 'x' in 'x=1'`, ...);
    the CLI prints them as `invalid argument "<value>" for "--mount" flag: <words>`."""
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as e:
        raise InvalidArgument(str(e)) from None
    m = MountSpec(type="volume")

    def volume_options() -> VolumeOptions:
        if m.volume_options is None:
            m.volume_options = VolumeOptions(labels={}, has_driver_config=True)
        return m.volume_options

    def bind_options() -> BindOptions:
        if m.bind_options is None:
            m.bind_options = BindOptions()
        return m.bind_options

    def tmpfs_options() -> TmpfsOptions:
        if m.tmpfs_options is None:
            m.tmpfs_options = TmpfsOptions()
        return m.tmpfs_options

    def as_bool(key: str, text: str) -> bool:
        parsed = _go_parse_bool(text)
        if parsed is None:
            raise InvalidArgument(f"invalid value for {key}: {text}" if key != "volume-nocopy"
                                  else f"invalid value for volume-nocopy: {text}")
        return parsed

    for f in fields:
        key, sep, val = f.partition("=")
        if not sep:
            if key in ("readonly", "ro"):
                m.read_only = True
            elif key == "volume-nocopy":
                volume_options().no_copy = True
            elif key == "bind-nonrecursive":
                bind_options().non_recursive = True
            else:
                raise InvalidArgument(f"invalid field '{f}' must be a key=value pair")
            continue
        if key == "type":
            m.type = val.lower()
        elif key in ("source", "src"):
            m.source = os.path.abspath(val) if val == "." or val.startswith("./") else val
        elif key in ("target", "dst", "destination"):
            m.target = val
        elif key in ("readonly", "ro"):
            m.read_only = as_bool(key, val)
        elif key == "consistency":
            m.consistency = val.lower()
        elif key == "bind-propagation":
            bind_options().propagation = val.lower()
        elif key == "bind-nonrecursive":
            bind_options().non_recursive = as_bool(key, val)
        elif key == "volume-nocopy":
            volume_options().no_copy = as_bool(key, val)
        elif key in ("volume-label", "volume-opt"):
            k, _, v = val.partition("=")
            opts = volume_options()
            if key == "volume-label":
                target = opts.labels if opts.labels is not None else {}
                opts.labels = target
            else:
                target = opts.driver_options if opts.driver_options is not None else {}
                opts.driver_options = target
            if k:
                target[k] = v
        elif key == "volume-driver":
            volume_options().driver_name = val
        elif key == "tmpfs-size":
            size = _RAM_SIZE.match(val)
            if not size:
                raise InvalidArgument(f"invalid value for {key}: {val}")
            tmpfs_options().size_bytes = int(float(size.group(1)) * _BINARY.get((size.group(3) or "").lower(), 1))
        elif key == "tmpfs-mode":
            if not re.fullmatch(r"[0-7]+", val) or int(val, 8) >= 1 << 32:
                raise InvalidArgument(f"invalid value for {key}: {val}")
            tmpfs_options().mode = int(val, 8)
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{f}'")
    if not m.type:
        raise InvalidArgument("type is required")
    if not m.target:
        raise InvalidArgument("target is required")
    if m.volume_options is not None and m.type != "volume":
        raise InvalidArgument(f"cannot mix 'volume-*' options with mount type '{m.type}'")
    if m.bind_options is not None and m.type != "bind":
        raise InvalidArgument(f"cannot mix 'bind-*' options with mount type '{m.type}'")
    if m.tmpfs_options is not None and m.type != "tmpfs":
        raise InvalidArgument(f"cannot mix 'tmpfs-*' options with mount type '{m.type}'")
    return m
