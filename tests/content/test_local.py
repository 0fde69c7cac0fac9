"""The local content store: digest-verified, atomic, safe under concurrent writers."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from dockyard.content import Digest, LocalStore
from dockyard.errors import InvalidArgument, NotFound


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_write_read_info_walk_delete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = b"hello, layers" * 1000
    expected = Digest.from_bytes(data)
    info = store.write_stream(io.BytesIO(data), expected, len(data))
    assert info.digest == expected and info.size == len(data)
    assert (tmp_path / "blobs" / "sha256" / expected.hex).read_bytes() == data
    assert store.exists(expected)
    assert store.info(expected).size == len(data)
    assert store.read_bytes(expected) == data
    with store.open(expected, verify=True) as f:
        assert f.read() == data
    assert [i.digest for i in store.walk()] == [expected]
    assert _leftovers(tmp_path / "ingest") == []
    store.delete(expected)
    assert not store.exists(expected)
    with pytest.raises(NotFound):
        store.info(expected)
    with pytest.raises(NotFound):
        store.delete(expected)


def test_writer_digest_without_expected_and_sha512(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with store.writer() as w:
        w.write(b"abc")
        w.write(memoryview(b"def"))
        assert w.offset == 6
        info = w.commit()
    assert info.digest == Digest("sha256", hashlib.sha256(b"abcdef").hexdigest())
    d512 = Digest("sha512", hashlib.sha512(b"abcdef").hexdigest())
    info = store.write_bytes(b"abcdef", d512)
    assert info.digest == d512
    assert (tmp_path / "blobs" / "sha512" / d512.hex).exists()


def test_digest_mismatch_names_both_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    wrong = Digest.from_bytes(b"something else")
    actual = Digest.from_bytes(b"payload")
    with pytest.raises(InvalidArgument) as err:
        store.write_stream(io.BytesIO(b"payload"), wrong)
    assert str(wrong) in str(err.value) and str(actual) in str(err.value)
    assert _leftovers(tmp_path) == []


def test_size_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(InvalidArgument, match="size"):
        store.write_stream(io.BytesIO(b"payload"), Digest.from_bytes(b"payload"), size=3)
    with pytest.raises(InvalidArgument, match="size"):
        store.write_stream(io.BytesIO(b"payload"), None, size=30)
    assert _leftovers(tmp_path) == []


def test_abandoned_writer_is_discarded(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(b"half")
        raise RuntimeError("source went away")
    assert _leftovers(tmp_path) == []


def test_concurrent_writers_of_one_blob_end_with_one_blob(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = os.urandom(1 << 20)
    expected = Digest.from_bytes(data)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with store.writer(expected, len(data)) as w:
                for i in range(0, len(data), 65536):
                    w.write(data[i:i + 65536])
                barrier.wait()
                w.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _leftovers(tmp_path) == [f"blobs/sha256/{expected.hex}"]
    assert store.read_bytes(expected) == data


def test_verifying_reader_detects_corruption(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    info = store.write_bytes(b"trusted bytes")
    path = store.path(info.digest)
    os.chmod(path, 0o644)
    Path(path).write_bytes(b"tampered byte")
    assert store.read_bytes(info.digest, verify=False) == b"tampered byte"
    with pytest.raises(InvalidArgument, match="corrupt"):
        store.read_bytes(info.digest)


def test_clean_ingest_removes_crash_leftovers(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "ingest" / "dead.part").write_bytes(b"x")
    assert store.clean_ingest() == 1
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("bad", [
    "sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256" + "0" * 64, "sha512:" + "0" * 64, "",
])
def test_digest_parse_rejects(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        Digest.parse(bad)


def test_digest_parse_roundtrip() -> None:
    s = "sha256:" + hashlib.sha256(b"").hexdigest()
    d = Digest.parse(s)
    assert str(d) == s and d.short == s[7:19] and d == Digest.from_bytes(b"")
