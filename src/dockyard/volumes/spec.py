"""Docker's `mount.Mount` (an entry of HostConfig.Mounts, what `--mount` sends), as typed records.

Here rather than in engine/config.py so that volumes/ does not depend on the engine; engine/config.py
re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BindOptions", "MountSpec", "TmpfsOptions", "VolumeOptions"]


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
