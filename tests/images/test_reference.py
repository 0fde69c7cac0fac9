"""Reference normalization as Docker 20.10 does it (docker/distribution's reference package)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.images.reference import parse, parse_docker_ref, parse_normalized, parse_tag_target

D64 = "sha256:" + "a" * 64

# input -> (normalized, familiar, ParseDockerRef)
NORMALIZED = {
    "busybox": ("docker.io/library/busybox", "busybox", "docker.io/library/busybox:latest"),
    "busybox:1.36": ("docker.io/library/busybox:1.36", "busybox:1.36", "docker.io/library/busybox:1.36"),
    "library/busybox": ("docker.io/library/busybox", "busybox", "docker.io/library/busybox:latest"),
    "docker.io/busybox": ("docker.io/library/busybox", "busybox", "docker.io/library/busybox:latest"),
    "index.docker.io/busybox": ("docker.io/library/busybox", "busybox", "docker.io/library/busybox:latest"),
    "index.docker.io/me/app:v1": ("docker.io/me/app:v1", "me/app:v1", "docker.io/me/app:v1"),
    "me/app": ("docker.io/me/app", "me/app", "docker.io/me/app:latest"),
    "me/app/sub": ("docker.io/me/app/sub", "me/app/sub", "docker.io/me/app/sub:latest"),
    "localhost/app": ("localhost/app", "localhost/app", "localhost/app:latest"),
    "localhost:5000/a/b:tag": ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    "registry.example.com/team/app": ("registry.example.com/team/app", "registry.example.com/team/app",
                                      "registry.example.com/team/app:latest"),
    "Registry.Example.com/app": ("Registry.Example.com/app", "Registry.Example.com/app", "Registry.Example.com/app:latest"),
    "a.b:9/c": ("a.b:9/c", "a.b:9/c", "a.b:9/c:latest"),
    "foo_bar/baz__qux": ("docker.io/foo_bar/baz__qux", "foo_bar/baz__qux", "docker.io/foo_bar/baz__qux:latest"),
    "foo-----bar": ("docker.io/library/foo-----bar", "foo-----bar", "docker.io/library/foo-----bar:latest"),
    "app:V1_x.y-z": ("docker.io/library/app:V1_x.y-z", "app:V1_x.y-z", "docker.io/library/app:V1_x.y-z"),
    f"busybox@{D64}": (f"docker.io/library/busybox@{D64}", f"busybox@{D64}", f"docker.io/library/busybox@{D64}"),
    f"busybox:1@{D64}": (f"docker.io/library/busybox:1@{D64}", f"busybox:1@{D64}", f"docker.io/library/busybox@{D64}"),
    f"localhost:5000/x@{D64}": (f"localhost:5000/x@{D64}", f"localhost:5000/x@{D64}", f"localhost:5000/x@{D64}"),
    "sha256": ("docker.io/library/sha256", "sha256", "docker.io/library/sha256:latest"),
    "5ee9fd52ae2a": ("docker.io/library/5ee9fd52ae2a", "5ee9fd52ae2a", "docker.io/library/5ee9fd52ae2a:latest"),
}


@pytest.mark.parametrize("text", list(NORMALIZED))
def test_normalized(text: str) -> None:
    normalized, familiar, docker_ref = NORMALIZED[text]
    ref = parse_normalized(text)
    assert str(ref) == normalized
    assert ref.familiar() == familiar
    assert str(parse_docker_ref(text)) == docker_ref
    assert str(parse_normalized(familiar)) == normalized  # familiar names normalize back


ERRORS = {
    "": "invalid reference format",
    "Busybox": "invalid reference format: repository name must be lowercase",
    "me/App:v1": "invalid reference format: repository name must be lowercase",
    "localhost:5000/Upper": "invalid reference format: repository name must be lowercase",
    "a" * 64: f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings",
    "-app": "invalid reference format",
    "app-": "invalid reference format",
    "a:b:c": "invalid reference format",
    "app:.tag": "invalid reference format",
    "app:" + "t" * 129: "invalid reference format",
    "app@sha256:abc": "invalid reference format",
    "a//b": "invalid reference format",
    "app/": "invalid reference format",
    "app:tag with space": "invalid reference format",
    "foo___bar": "invalid reference format",
    f"app@sha256:{'A' * 64}": "invalid checksum digest format",
    f"app@md5:{'a' * 32}": "unsupported digest algorithm",
    f"app@sha256:{'a' * 63}": "invalid checksum digest length",
    f"app@sha256:{'a' * 65}": "invalid checksum digest length",
    "x/" + "a" * 255: "repository name must not be more than 255 characters",
}


@pytest.mark.parametrize("text", list(ERRORS))
def test_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_normalized(text)
    assert str(info.value).startswith(ERRORS[text])


def test_parse_is_exact() -> None:
    ref = parse("localhost:5000/a/b:t")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "a/b", "t", "")
    assert str(parse("docker.io/library/busybox:latest")) == "docker.io/library/busybox:latest"
    with pytest.raises(InvalidArgument, match=r"^repository name must be lowercase$"):
        parse("docker.io/library/BusyBox")
    with pytest.raises(InvalidArgument, match=r"^repository name must have at least one component$"):
        parse("")


def test_tag_target() -> None:
    assert str(parse_tag_target("app")) == "docker.io/library/app:latest"
    assert str(parse_tag_target("app", "v2")) == "docker.io/library/app:v2"
    assert str(parse_tag_target("app:v1", "v2")) == "docker.io/library/app:v2"
    assert str(parse_tag_target(f"app@{D64}", "v2")) == "docker.io/library/app:v2"
    with pytest.raises(InvalidArgument, match="refusing to create a tag with a digest reference"):
        parse_tag_target(f"app@{D64}")
    with pytest.raises(InvalidArgument, match="refusing to create an ambiguous tag using digest algorithm as name"):
        parse_tag_target("sha256:abc")
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        parse_tag_target("app", "-bad")
