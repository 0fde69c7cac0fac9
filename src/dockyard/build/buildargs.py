"""Build arguments: `--build-arg` values, `ARG` declarations and what RUN sees (moby's BuildArgs).

    args = BuildArgs({"VERSION": "2", "UNUSED": "x"})
    args.add_meta_arg("BASE", "busybox")       # an ARG before the first FROM
    args.add_arg("VERSION", None)              # `ARG VERSION` in a stage: now allowed, value "2"
    args.allowed()                             # {"VERSION": "2"}: RUN's environment

An argument is usable in a stage only after an ARG declares it there; its value is the
`--build-arg` one, else the ARG's default, else the meta ARG's value. The proxy variables
(HTTP_PROXY, ...) are allowed without an ARG but stay out of the cache key and the image history
unless declared. Arguments given but never declared are reported after the build.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["BUILTIN_ARGS", "BuildArgs"]

BUILTIN_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                "NO_PROXY", "no_proxy")


class BuildArgs:
    def __init__(self, from_options: Mapping[str, str | None]) -> None:
        self.from_options = dict(from_options)
        self.allowed_args: dict[str, str | None] = {}
        self.meta_args: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    def clone(self) -> BuildArgs:
        out = BuildArgs(self.from_options)
        out.allowed_args = dict(self.allowed_args)
        out.meta_args = dict(self.meta_args)
        out.referenced = set(self.referenced)
        return out

    def reset_allowed(self) -> None:
        self.allowed_args = {}

    def merge_referenced(self, other: BuildArgs) -> None:
        self.referenced |= other.referenced

    def add_meta_arg(self, key: str, value: str | None) -> None:
        self.meta_args[key] = value

    def add_arg(self, key: str, value: str | None) -> None:
        self.allowed_args[key] = value
        self.referenced.add(key)

    def is_referenced_or_not_builtin(self, key: str) -> bool:
        return key in self.allowed_args or key not in BUILTIN_ARGS

    def _value(self, key: str, mapping: Mapping[str, str | None]) -> str | None:
        given = self.from_options.get(key)
        if given is not None:
            return given
        default = mapping.get(key)
        if default is None:
            return self.meta_args.get(key)
        return default

    def _all(self, mapping: Mapping[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in [*mapping, *(k for k in BUILTIN_ARGS if k not in mapping)]:
            value = self._value(key, mapping)
            if value is not None:
                out[key] = value
        return out

    def allowed(self) -> dict[str, str]:
        """The arguments declared in this stage (and the proxy ones given), with their values."""
        return self._all(self.allowed_args)

    def all_meta(self) -> dict[str, str]:
        """The meta ARGs (before FROM) with their values: what FROM lines may use."""
        return self._all(self.meta_args)

    def filter_allowed(self, env: list[str]) -> list[str]:
        """`K=V` for each allowed argument the environment does not set (ENV wins over ARG)."""
        names = {e.split("=", 1)[0] for e in env}
        return [f"{k}={v}" for k, v in self.allowed().items() if k not in names]

    def unused(self) -> list[str]:
        return [k for k in self.from_options if k not in self.referenced and k not in BUILTIN_ARGS]
