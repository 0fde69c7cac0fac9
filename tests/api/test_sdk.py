"""The Docker SDK for Python (the `docker` package) against dockyardd: the same core calls."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.dockyardd import Dockyardd

docker = pytest.importorskip("docker")


@pytest.fixture(scope="module")
def client(dockyardd: Dockyardd) -> Iterator[Any]:
    c = docker.DockerClient(base_url=dockyardd.host, version="auto")
    yield c
    c.close()


def test_version_and_ping(client: Any) -> None:
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.43" and version["MinAPIVersion"] == "1.24"
    assert client.info()["OSType"] == "linux"


def test_run_and_output(client: Any) -> None:
    assert client.containers.run("busybox", ["echo", "from", "sdk"], remove=True) == b"from sdk\n"
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 4"], remove=True, stderr=True)
    assert err.value.exit_status == 4


def test_detached_lifecycle(client: Any) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 300"], detach=True, name="sdk-life",
                              labels={"k": "v"})
    try:
        deadline = time.monotonic() + 10
        while b"started" not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        c.reload()
        assert c.status == "running" and c.name == "sdk-life" and c.labels == {"k": "v"}
        assert [x.id for x in client.containers.list(filters={"label": "k=v"})] == [c.id]
        code, output = c.exec_run(["sh", "-c", "echo $((6*7))"])
        assert (code, output) == (0, b"42\n")
        top = c.top()
        assert "PID" in top["Titles"]
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
        c.start()
        c.kill()
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("sdk-life")


def test_archive_and_commit(client: Any) -> None:
    c = client.containers.create("busybox", ["cat", "/in/file.txt"])
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            data = b"sdk payload\n"
            info = tarfile.TarInfo("file.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        c.exec_run  # noqa: B018 - attribute exists on the model
        assert client.api.put_archive(c.id, "/tmp", buf.getvalue())
        stream, stat = c.get_archive("/tmp/file.txt")
        assert stat["name"] == "file.txt" and stat["size"] == len(b"sdk payload\n")
        got = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        member = got.extractfile("file.txt")
        assert member is not None and member.read() == b"sdk payload\n"
        image = c.commit(repository="sdk-commit", tag="v1")
        assert "sdk-commit:v1" in image.tags
        out = client.containers.run("sdk-commit:v1", ["cat", "/tmp/file.txt"], remove=True)
        assert out == b"sdk payload\n"
        client.images.remove("sdk-commit:v1")
    finally:
        c.remove(force=True)


def test_errors(client: Any) -> None:
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("no-such-container")
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("no-such-image")
    first = client.containers.create("busybox", name="sdk-dup")
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.containers.create("busybox", name="sdk-dup")
        assert err.value.status_code == 409
        assert "is already in use by container" in str(err.value.explanation)
    finally:
        first.remove()


def test_images(client: Any) -> None:
    image = client.images.get("busybox")
    assert "busybox:latest" in image.tags
    image.tag("sdk-tag", "t1")
    assert "sdk-tag:t1" in client.images.get("busybox").tags
    client.images.remove("sdk-tag:t1")
    assert image.history()[0]["Id"] == image.id
