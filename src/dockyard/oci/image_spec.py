"""Typed OCI image records: descriptors, manifests, indexes and image configs (image-spec 1.1), which
also read Docker's image manifest v2 schema 2, manifest lists and Docker image configs.

Reading: `Manifest.from_bytes`, `Index.from_bytes`, `ImageConfig.from_bytes` are the only places
these documents are parsed. Unknown fields are ignored; present fields of the wrong type, bad
digests and missing required fields are `InvalidArgument` errors that name the field. Keys of
Docker's container config are matched case-insensitively, as Go's decoder does.

Writing: `to_bytes()` gives the canonical bytes dockyard stores and hashes: Go's encoding
(`oci.gojson`) with Docker's field orders, so an image config dockyard creates has the form of one
`docker commit` creates (top-level keys sorted, as moby's `Image.MarshalJSON` writes them; the
container config in `container.Config` field order). A document read from elsewhere is never
re-encoded: its digest is the digest of the bytes it came with, and callers keep those bytes.
"""

from __future__ import annotations

import copy
import json
import platform as _host
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument
from dockyard.oci import decode as d
from dockyard.oci import gojson
from dockyard.oci import media_types as mt

if TYPE_CHECKING:
    from dockyard.oci.decode import JSONObject

# --- digests ---------------------------------------------------------------------------------

_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_SHAPE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z")
_LOWER_HEX = re.compile(r"[a-f0-9]+\Z")


def check_digest(value: str) -> str:
    """`value` if it is a valid `algorithm:hex` digest; InvalidArgument in go-digest's words if not."""
    algorithm, sep, encoded = value.partition(":")
    if not sep or not algorithm or not encoded or not _DIGEST_SHAPE.match(value):
        raise InvalidArgument(f"invalid checksum digest format: {value!r}")
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        raise InvalidArgument(f"unsupported digest algorithm: {value!r}")
    if len(encoded) != length:
        raise InvalidArgument(f"invalid checksum digest length: {value!r}")
    if not _LOWER_HEX.match(encoded):
        raise InvalidArgument(f"invalid checksum digest format: {value!r}")
    return value


def _digest(j: JSONObject, key: str, at: str) -> str:
    value = d.required_string(j, key, at)
    try:
        return check_digest(value)
    except InvalidArgument as e:
        raise d.fail(f"{at}.{key}", str(e)) from None


def _digests(j: JSONObject, key: str, at: str) -> list[str]:
    values = d.strings(j, key, at)
    for i, value in enumerate(values):
        try:
            check_digest(value)
        except InvalidArgument as e:
            raise d.fail(f"{at}.{key}[{i}]", str(e)) from None
    return values


def _load(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidArgument(f"{what}: not valid JSON: {e}") from None


# --- time -------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Timestamp:
    """A point in time with Go's precision (nanoseconds) and the UTC offset it was written with.

    `Timestamp.ZERO` is Go's zero time, which Docker shows for a config without `created`.
    """

    unix_ns: int
    offset_s: int = 0

    ZERO_UNIX_S = -62135596800  # 0001-01-01T00:00:00Z

    @classmethod
    def now(cls) -> Timestamp:
        import time

        return cls(time.time_ns())

    @classmethod
    def zero(cls) -> Timestamp:
        return cls(cls.ZERO_UNIX_S * 1_000_000_000)

    @classmethod
    def parse(cls, text: str, where: str = "time") -> Timestamp:
        m = _RFC3339.match(text)
        if not m:
            raise InvalidArgument(f"{where}: {text!r} is not an RFC 3339 time")
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        frac = (m.group(7) or "")[:9].ljust(9, "0")
        offset = 0 if m.group(8) or not m.group(9) else (int(m.group(10)) * 3600 + int(m.group(11)) * 60)
        if m.group(9) == "-":
            offset = -offset
        try:
            local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as e:
            raise InvalidArgument(f"{where}: {text!r}: {e}") from None
        delta = local - _EPOCH
        seconds = delta.days * 86400 + delta.seconds - offset
        return cls(seconds * 1_000_000_000 + int(frac), offset)

    def unix(self) -> int:
        """Whole seconds since the epoch, rounded down (Go's `Time.Unix`)."""
        return self.unix_ns // 1_000_000_000

    def is_zero(self) -> bool:
        return self.unix_ns == self.ZERO_UNIX_S * 1_000_000_000

    def rfc3339nano(self) -> str:
        """Go's `time.RFC3339Nano` form: trailing zeros of the fraction dropped, `Z` for UTC."""
        seconds, nanos = divmod(self.unix_ns, 1_000_000_000)
        local = _EPOCH + timedelta(seconds=seconds + self.offset_s)
        text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        if nanos:
            text += "." + f"{nanos:09d}".rstrip("0")
        if self.offset_s == 0:
            return text + "Z"
        sign = "+" if self.offset_s > 0 else "-"
        hours, minutes = divmod(abs(self.offset_s) // 60, 60)
        return f"{text}{sign}{hours:02d}:{minutes:02d}"


def _time(j: JSONObject, key: str, at: str) -> Timestamp | None:
    text = d.string(j, key, at)
    return Timestamp.parse(text, f"{at}.{key}") if text else None


# --- platforms --------------------------------------------------------------------------------

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "i386": "386", "i686": "386", "aarch64": "arm64",
                 "armhf": "arm", "armel": "arm", "armv7l": "arm", "armv6l": "arm", "ppc64el": "ppc64le"}


@dataclass(frozen=True)
class Platform:
    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Platform:
        return cls(
            architecture=d.required_string(j, "architecture", at),
            os=d.required_string(j, "os", at),
            variant=d.string(j, "variant", at),
            os_version=d.string(j, "os.version", at),
            os_features=tuple(d.strings(j, "os.features", at)),
        )

    def normalized(self) -> Platform:
        """The platform in containerd's normal form (`x86_64` -> `amd64`, `aarch64` -> `arm64`, ...)."""
        arch = _ARCH_ALIASES.get(self.architecture.lower(), self.architecture.lower())
        variant = self.variant.lower()
        if self.architecture.lower() == "armhf":
            variant = variant or "v7"
        elif self.architecture.lower() == "armel":
            variant = variant or "v6"
        if arch == "arm64" and variant in ("8", "v8"):
            variant = ""
        elif arch == "arm" and variant in ("", "7"):
            variant = "v7"
        elif arch == "arm" and variant in ("5", "6", "8"):
            variant = "v" + variant
        elif arch == "amd64" and variant == "v1":
            variant = ""
        os_ = self.os.lower()
        return replace(self, architecture=arch, os="darwin" if os_ == "macos" else os_, variant=variant)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    """This host's platform (linux/amd64 here), normalized."""
    return Platform(_host.machine() or "amd64", "linux").normalized()


# --- descriptors, manifests, indexes ------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    platform: Platform | None = None
    artifact_type: str = ""

    @classmethod
    def read(cls, j: JSONObject, at: str) -> Descriptor:
        size = d.required_integer(j, "size", at)
        if size < 0:
            raise d.fail(f"{at}.size", "must not be negative")
        return cls(
            media_type=d.required_string(j, "mediaType", at),
            digest=_digest(j, "digest", at),
            size=size,
            urls=tuple(d.strings(j, "urls", at)),
            annotations=d.string_map(j, "annotations", at),
            platform=d.record(j, "platform", at, Platform.read),
            artifact_type=d.string(j, "artifactType", at),
        )

    def to_json(self) -> dict[str, Any]:
        """Field order of the OCI Go types (mediaType, digest, size, ...)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = gojson.go_map(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def to_docker_json(self) -> dict[str, Any]:
        """Field order of docker/distribution's Descriptor (mediaType, size, digest, ...)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = gojson.go_map(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


def _schema_version(top: JSONObject, at: str) -> int:
    version = d.required_integer(top, "schemaVersion", at)
    if version != 2:
        raise d.fail(f"{at}.schemaVersion", f"unsupported schema version {version} (only 2 is)")
    return version


@dataclass
class Manifest:
    """An image manifest: OCI (`application/vnd.oci.image.manifest.v1+json`) or Docker schema 2."""

    config: Descriptor
    layers: list[Descriptor]
    media_type: str = mt.OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str = "", where: str = "manifest") -> Manifest:
        """Parse a manifest; `media_type` is the type the referring descriptor gave, if any."""
        top = d.obj(_load(data, where), where)
        _schema_version(top, where)
        declared = d.string(top, "mediaType", where)
        kind = declared or media_type or mt.OCI_MANIFEST
        if kind not in mt.MANIFESTS:
            raise d.fail(f"{where}.mediaType", f"{kind!r} is not an image manifest")
        if media_type and declared and media_type != declared:
            raise d.fail(f"{where}.mediaType", f"is {declared!r} but the descriptor says {media_type!r}")
        if "manifests" in top:
            raise d.fail(where, "has `manifests`: an index, not a manifest")
        config = d.record(top, "config", where, Descriptor.read)
        if config is None:
            raise d.fail(f"{where}.config", "is required")
        return cls(
            config=config,
            layers=d.records(top, "layers", where, Descriptor.read),
            media_type=kind,
            annotations=d.string_map(top, "annotations", where),
            subject=d.record(top, "subject", where, Descriptor.read),
            artifact_type=d.string(top, "artifactType", where),
        )

    def to_bytes(self) -> bytes:
        if self.media_type == mt.DOCKER_MANIFEST:
            return gojson.dumps({
                "schemaVersion": 2,
                "mediaType": self.media_type,
                "config": self.config.to_docker_json(),
                "layers": [layer.to_docker_json() for layer in self.layers],
            })
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json()
        out["layers"] = [layer.to_json() for layer in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = gojson.go_map(self.annotations)
        return gojson.dumps(out)


@dataclass
class Index:
    """An image index (OCI) or manifest list (Docker): manifests for several platforms."""

    manifests: list[Descriptor]
    media_type: str = mt.OCI_INDEX
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str = "", where: str = "index") -> Index:
        top = d.obj(_load(data, where), where)
        _schema_version(top, where)
        declared = d.string(top, "mediaType", where)
        kind = declared or media_type or mt.OCI_INDEX
        if kind not in mt.INDEXES:
            raise d.fail(f"{where}.mediaType", f"{kind!r} is not an image index")
        if media_type and declared and media_type != declared:
            raise d.fail(f"{where}.mediaType", f"is {declared!r} but the descriptor says {media_type!r}")
        if "manifests" not in top:
            raise d.fail(f"{where}.manifests", "is required")
        return cls(
            manifests=d.records(top, "manifests", where, Descriptor.read),
            media_type=kind,
            annotations=d.string_map(top, "annotations", where),
        )

    def to_bytes(self) -> bytes:
        if self.media_type == mt.DOCKER_MANIFEST_LIST:
            return gojson.dumps({"schemaVersion": 2, "mediaType": self.media_type,
                                 "manifests": [m.to_docker_json() for m in self.manifests]})
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type,
                               "manifests": [m.to_json() for m in self.manifests]}
        if self.annotations:
            out["annotations"] = gojson.go_map(self.annotations)
        return gojson.dumps(out)

    def select(self, want: Platform) -> Descriptor | None:
        """The manifest for `want`: an exact variant match first, then one with no variant, then any
        variant of the same os and architecture. None when the index has nothing for this platform."""
        candidates = [m for m in self.manifests if m.media_type in mt.MANIFESTS or not m.media_type]
        w = want.normalized()
        ranked: list[tuple[int, int, Descriptor]] = []
        for position, m in enumerate(candidates):
            if m.platform is None:
                continue
            h = m.platform.normalized()
            if h.os != w.os or h.architecture != w.architecture:
                continue
            rank = 0 if h.variant == w.variant else 1 if not h.variant else 2
            ranked.append((rank, position, m))
        return min(ranked, key=lambda r: (r[0], r[1]))[2] if ranked else None


# --- image config -------------------------------------------------------------------------------


@dataclass
class HealthConfig:
    test: list[str] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @classmethod
    def read(cls, j: JSONObject, at: str) -> HealthConfig:
        j = _canonical_keys(j, ("Test", "Interval", "Timeout", "StartPeriod", "Retries"))
        return cls(
            test=_opt_strings(j, "Test", at),
            interval=d.integer(j, "Interval", at) or 0,
            timeout=d.integer(j, "Timeout", at) or 0,
            start_period=d.integer(j, "StartPeriod", at) or 0,
            retries=d.integer(j, "Retries", at) or 0,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.test:
            out["Test"] = self.test
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out


_CONTAINER_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty",
    "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
    "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
)


def _canonical_keys(j: JSONObject, keys: tuple[str, ...]) -> JSONObject:
    """Go matches JSON keys to struct fields case-insensitively; an exact match wins."""
    by_lower = {k.lower(): k for k in keys}
    out: JSONObject = {}
    for key, value in j.items():
        canonical = by_lower.get(key.lower(), key)
        if canonical in out and key != canonical:
            continue
        out[canonical] = value
    return out


def _opt_strings(j: JSONObject, key: str, at: str) -> list[str] | None:
    """A list of strings that keeps null apart from []; a lone string is a one-item list (strslice)."""
    value = j.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return d.strings(j, key, at)


def _opt_string_map(j: JSONObject, key: str, at: str) -> dict[str, str] | None:
    return None if j.get(key) is None else d.string_map(j, key, at)


def _opt_set(j: JSONObject, key: str, at: str) -> list[str] | None:
    """A Go `map[string]struct{}` (ExposedPorts, Volumes) as its sorted keys."""
    value = j.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise d.fail(f"{at}.{key}", "expected an object")
    return sorted(value)


@dataclass
class ContainerConfig:
    """Docker's `container.Config` (the `config` and `container_config` of an image config).

    None and [] are kept apart: Docker shows `"Env": null` for one and `"Env": []` for the other.
    """

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: list[str] | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: HealthConfig | None = None
    args_escaped: bool = False
    image: str = ""
    volumes: list[str] | None = None
    working_dir: str = ""
    entrypoint: list[str] | None = None
    network_disabled: bool = False
    mac_address: str = ""
    on_build: list[str] | None = None
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: list[str] | None = None

    @classmethod
    def read(cls, j: JSONObject, at: str) -> ContainerConfig:
        j = _canonical_keys(j, _CONTAINER_CONFIG_KEYS)
        return cls(
            hostname=d.string(j, "Hostname", at),
            domainname=d.string(j, "Domainname", at),
            user=d.string(j, "User", at),
            attach_stdin=d.boolean(j, "AttachStdin", at),
            attach_stdout=d.boolean(j, "AttachStdout", at),
            attach_stderr=d.boolean(j, "AttachStderr", at),
            exposed_ports=_opt_set(j, "ExposedPorts", at),
            tty=d.boolean(j, "Tty", at),
            open_stdin=d.boolean(j, "OpenStdin", at),
            stdin_once=d.boolean(j, "StdinOnce", at),
            env=_opt_strings(j, "Env", at),
            cmd=_opt_strings(j, "Cmd", at),
            healthcheck=d.record(j, "Healthcheck", at, HealthConfig.read),
            args_escaped=d.boolean(j, "ArgsEscaped", at),
            image=d.string(j, "Image", at),
            volumes=_opt_set(j, "Volumes", at),
            working_dir=d.string(j, "WorkingDir", at),
            entrypoint=_opt_strings(j, "Entrypoint", at),
            network_disabled=d.boolean(j, "NetworkDisabled", at),
            mac_address=d.string(j, "MacAddress", at),
            on_build=_opt_strings(j, "OnBuild", at),
            labels=_opt_string_map(j, "Labels", at),
            stop_signal=d.string(j, "StopSignal", at),
            stop_timeout=d.integer(j, "StopTimeout", at),
            shell=_opt_strings(j, "Shell", at),
        )

    def to_json(self) -> dict[str, Any]:
        """Docker's JSON form, fields in `container.Config` order, `omitempty` ones left out when empty."""
        out: dict[str, Any] = {
            "Hostname": self.hostname, "Domainname": self.domainname, "User": self.user,
            "AttachStdin": self.attach_stdin, "AttachStdout": self.attach_stdout, "AttachStderr": self.attach_stderr,
        }
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in sorted(self.exposed_ports)}
        out.update({"Tty": self.tty, "OpenStdin": self.open_stdin, "StdinOnce": self.stdin_once,
                    "Env": self.env, "Cmd": self.cmd})
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.args_escaped:
            out["ArgsEscaped"] = True
        out["Image"] = self.image
        out["Volumes"] = None if self.volumes is None else {v: {} for v in sorted(self.volumes)}
        out["WorkingDir"] = self.working_dir
        out["Entrypoint"] = self.entrypoint
        if self.network_disabled:
            out["NetworkDisabled"] = True
        if self.mac_address:
            out["MacAddress"] = self.mac_address
        out["OnBuild"] = self.on_build
        out["Labels"] = None if self.labels is None else gojson.go_map(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.stop_timeout is not None:
            out["StopTimeout"] = self.stop_timeout
        if self.shell:
            out["Shell"] = self.shell
        return out

    def copy(self) -> ContainerConfig:
        return copy.deepcopy(self)


@dataclass
class RootFS:
    type: str = "layers"
    diff_ids: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, j: JSONObject, at: str) -> RootFS:
        kind = d.required_string(j, "type", at)
        if kind != "layers":
            raise d.fail(f"{at}.type", f"{kind!r} is not supported (only \"layers\" is)")
        return cls(kind, _digests(j, "diff_ids", at))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.diff_ids:
            out["diff_ids"] = list(self.diff_ids)
        return out


@dataclass
class History:
    created: Timestamp | None = None
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def read(cls, j: JSONObject, at: str) -> History:
        return cls(
            created=_time(j, "created", at),
            created_by=d.string(j, "created_by", at),
            author=d.string(j, "author", at),
            comment=d.string(j, "comment", at),
            empty_layer=d.boolean(j, "empty_layer", at),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"created": (self.created or Timestamp.zero()).rfc3339nano()}
        for key, value in (("author", self.author), ("created_by", self.created_by), ("comment", self.comment)):
            if value:
                out[key] = value
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass
class ImageConfig:
    """An image configuration: OCI's `application/vnd.oci.image.config.v1+json` or Docker's
    `application/vnd.docker.container.image.v1+json` (a superset with container, container_config,
    docker_version)."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: list[str] = field(default_factory=list)
    created: Timestamp | None = None
    author: str = ""
    comment: str = ""
    container: str = ""
    docker_version: str = ""
    config: ContainerConfig | None = None
    container_config: ContainerConfig | None = None
    rootfs: RootFS = field(default_factory=RootFS)
    history: list[History] = field(default_factory=list)
    parent: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "image config") -> ImageConfig:
        top = d.obj(_load(data, where), where)
        rootfs = d.record(top, "rootfs", where, RootFS.read)
        if rootfs is None:
            raise d.fail(f"{where}.rootfs", "is required")
        config = cls(
            architecture=d.string(top, "architecture", where),
            os=d.string(top, "os", where),
            variant=d.string(top, "variant", where),
            os_version=d.string(top, "os.version", where),
            os_features=d.strings(top, "os.features", where),
            created=_time(top, "created", where),
            author=d.string(top, "author", where),
            comment=d.string(top, "comment", where),
            container=d.string(top, "container", where),
            docker_version=d.string(top, "docker_version", where),
            config=d.record(top, "config", where, ContainerConfig.read),
            container_config=d.record(top, "container_config", where, ContainerConfig.read),
            rootfs=rootfs,
            history=d.records(top, "history", where, History.read),
            parent=d.string(top, "parent", where),
        )
        non_empty = sum(1 for h in config.history if not h.empty_layer)
        if config.history and non_empty > len(rootfs.diff_ids):
            raise d.fail(f"{where}.history", f"names {non_empty} layers but rootfs has {len(rootfs.diff_ids)}")
        return config

    def platform(self) -> Platform:
        return Platform(self.architecture, self.os, self.variant, self.os_version, tuple(self.os_features))

    def to_bytes(self) -> bytes:
        """Docker's form of an image config: the top-level keys sorted (moby writes the image
        through a map), nested records in their Go field order."""
        top: dict[str, Any] = {
            "architecture": self.architecture or None,
            "author": self.author or None,
            "comment": self.comment or None,
            "config": None if self.config is None else self.config.to_json(),
            "container": self.container or None,
            "container_config": (self.container_config or ContainerConfig()).to_json(),
            "created": (self.created or Timestamp.zero()).rfc3339nano(),
            "docker_version": self.docker_version or None,
            "history": [h.to_json() for h in self.history] or None,
            "os": self.os or None,
            "os.features": self.os_features or None,
            "os.version": self.os_version or None,
            "parent": self.parent or None,
            "rootfs": self.rootfs.to_json(),
            "variant": self.variant or None,
        }
        return gojson.dumps(gojson.go_map({k: v for k, v in top.items() if v is not None}))


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The chain id of every prefix of `diff_ids` (image-spec: ChainID(L0|...|Ln) =
    sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln)), ChainID(L0) = DiffID(L0))."""
    import hashlib

    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


def merge_config(user: ContainerConfig, image: ContainerConfig) -> ContainerConfig:
    """Docker's `merge` (daemon/commit.go), which commit, container create and the classic builder
    all use: fields `user` leaves empty are taken from `image` (User, WorkingDir, StopSignal,
    Healthcheck fields, Volumes and ExposedPorts as unions, image Env names not set by the user
    appended, Labels with the user's winning, and Cmd with ArgsEscaped / Entrypoint when the user
    gave no Entrypoint). A new record, sharing nothing with either argument."""
    out = user.copy()
    image = image.copy()
    if not out.user:
        out.user = image.user
    if not out.exposed_ports:
        out.exposed_ports = image.exposed_ports
    elif image.exposed_ports:
        out.exposed_ports = sorted(set(out.exposed_ports) | set(image.exposed_ports))
    if not out.env:
        out.env = image.env
    else:
        keys = {e.split("=", 1)[0] for e in out.env}
        out.env = [*out.env, *(e for e in image.env or [] if e.split("=", 1)[0] not in keys)]
    labels = dict(out.labels or {})
    for key, value in (image.labels or {}).items():
        labels.setdefault(key, value)
    out.labels = labels
    if not out.entrypoint:
        if not out.cmd:
            out.cmd, out.args_escaped = image.cmd, image.args_escaped
        if out.entrypoint is None:
            out.entrypoint = image.entrypoint
    if image.healthcheck is not None:
        if out.healthcheck is None:
            out.healthcheck = image.healthcheck
        else:
            h, base = out.healthcheck, image.healthcheck
            out.healthcheck = replace(h, test=h.test or base.test, interval=h.interval or base.interval,
                                      timeout=h.timeout or base.timeout, start_period=h.start_period or base.start_period,
                                      retries=h.retries or base.retries)
    if not out.working_dir:
        out.working_dir = image.working_dir
    if not out.volumes:
        out.volumes = image.volumes
    elif image.volumes:
        out.volumes = sorted(set(out.volumes) | set(image.volumes))
    if not out.stop_signal:
        out.stop_signal = image.stop_signal
    return out
