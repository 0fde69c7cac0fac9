"""Image references, normalized as Docker does (docker/distribution's `reference` package, as
Docker 20.10 vendors it).

Grammar::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] path-component ['/' path-component]*
    domain           := domain-component ['.' domain-component]* [':' port-number]
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    port-number      := /[0-9]+/
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]*/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex     ; algorithm components [A-Za-z][A-Za-z0-9]*, hex >= 32

Normalization (`parse_normalized`, Go's ParseNormalizedNamed): the first path component is a domain
only when it contains `.` or `:` or is `localhost`; otherwise the domain is `docker.io`, and a
one-component path on docker.io gets `library/` (`busybox` -> `docker.io/library/busybox`);
`index.docker.io` is `docker.io`. `familiar()` undoes both for display. A 64-hex-character string
is refused as a name, since it is an image id.

Errors are `InvalidArgument` with Docker's wording: `invalid reference format`, `invalid reference
format: repository name must be lowercase`, `repository name must have at least one component`, ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from dockyard.errors import InvalidArgument
from dockyard.oci.image_spec import check_digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]*)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"

_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?\Z", re.ASCII)
_ANCHORED_NAME = re.compile(rf"(?:({_DOMAIN})/)?({_COMPONENT}(?:/{_COMPONENT})*)\Z", re.ASCII)
_ANCHORED_TAG = re.compile(rf"{_TAG}\Z", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}\Z")
SHORT_IDENTIFIER = re.compile(r"[a-f0-9]{1,64}\Z")


@dataclass(frozen=True)
class Reference:
    """A named reference: `domain/path`, with a tag, a digest, both or neither."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The full repository name: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def familiar_name(self) -> str:
        """The name as `docker images` shows it: `busybox`, `me/app`, `localhost:5000/a/b`."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_PREFIX)
        return self.name

    def familiar(self) -> str:
        """The whole reference as Docker shows it: `busybox:latest`, `me/app@sha256:...`."""
        out = self.familiar_name()
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def with_tag(self, tag: str) -> Reference:
        if not _ANCHORED_TAG.match(tag):
            raise InvalidArgument("invalid tag format")
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=check_digest(digest))

    def tag_name_only(self) -> Reference:
        """The reference with the default tag `latest` when it has neither tag nor digest."""
        return self if self.tag or self.digest else replace(self, tag=DEFAULT_TAG)

    def trim(self) -> Reference:
        """The repository alone: no tag, no digest."""
        return Reference(self.domain, self.path)


def parse(text: str) -> Reference:
    """A reference exactly as written, without normalization (Go's reference.Parse, named only)."""
    m = _REFERENCE.match(text)
    if m is None:
        if text == "":
            raise InvalidArgument("repository name must have at least one component")
        if _REFERENCE.match(text.lower()):
            raise InvalidArgument("repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest:
        check_digest(digest)
    nm = _ANCHORED_NAME.match(name)
    assert nm is not None  # the name matched as part of the whole reference
    return Reference(nm.group(1) or "", nm.group(2), tag, digest)


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (not any(c in first for c in ".:") and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> Reference:
    """Docker's ParseNormalizedNamed: `busybox` -> `docker.io/library/busybox` (no tag added)."""
    if _IDENTIFIER.match(text):
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(text)
    remote_name = remainder.split(":", 1)[0]
    if remote_name.lower() != remote_name:
        raise InvalidArgument("invalid reference format: repository name must be lowercase")
    return parse(f"{domain}/{remainder}")


def parse_docker_ref(text: str) -> Reference:
    """Docker's ParseDockerRef: normalized, `latest` added when there is neither tag nor digest,
    and the tag dropped when there is a digest too."""
    ref = parse_normalized(text)
    if ref.tag and ref.digest:
        return replace(ref, tag="")
    return ref.tag_name_only()


def parse_tag_target(repo: str, tag: str = "") -> Reference:
    """The reference to create for `docker tag SOURCE REPO[:TAG]` (the API's repo and tag): normalized,
    a separate `tag` replacing any in `repo`, `latest` when there is none, and never a digest."""
    ref = parse_normalized(repo)
    if tag:
        ref = ref.trim().with_tag(tag)
    if ref.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    if ref.familiar_name() == "sha256":
        raise InvalidArgument("refusing to create an ambiguous tag using digest algorithm as name")
    return ref.tag_name_only()


def is_full_id(text: str) -> bool:
    return _IDENTIFIER.match(text) is not None
