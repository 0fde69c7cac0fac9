"""The context tar reader against what Python's tarfile (and Go's archive/tar) write."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from collections.abc import Callable

import pytest

from dockyard.build.tarread import TarStream
from dockyard.errors import InvalidArgument


def _archive(fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        long = "d/" + "x" * 150 + "/file"
        for name, data in (("a.txt", b"hello"), (long, b"long name"), ("big-ids", b"")):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o640, 1_600_000_000
            if name == "big-ids":
                info.uid, info.gid = (1 << 22, 7) if fmt != tarfile.USTAR_FORMAT else (5, 7)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "a.txt"
        tf.addfile(link)
        d = tarfile.TarInfo("dir")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
    return out.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_formats(fmt: int) -> None:
    big = 5 if fmt == tarfile.USTAR_FORMAT else 1 << 22  # PAX record or GNU base-256
    members = [(m.name, m.type, m.mode, m.uid, m.size, m.linkname, m.read() if m.type == "0" else b"")
               for m in TarStream(io.BytesIO(_archive(fmt)))]
    assert members == [
        ("a.txt", "0", 0o640, 0, 5, "", b"hello"),
        ("d/" + "x" * 150 + "/file", "0", 0o640, 0, 9, "", b"long name"),
        ("big-ids", "0", 0o640, big, 0, "", b""),
        ("link", "2", 0o644, 0, 0, "a.txt", b""),
        ("dir/", "5", 0o755, 0, 0, "", b""),
    ]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed(compress: Callable[[bytes], bytes]) -> None:
    data = compress(_archive(tarfile.PAX_FORMAT))
    assert [m.name for m in TarStream(io.BytesIO(data))] == ["a.txt", "d/" + "x" * 150 + "/file", "big-ids", "link",
                                                             "dir/"]


def test_no_end_blocks_is_fine_and_bad_headers_are_not() -> None:
    data = _archive(tarfile.PAX_FORMAT)
    names = [m.name for m in TarStream(io.BytesIO(data.rstrip(b"\0") + b"\0" * (-len(data.rstrip(b"\0")) % 512)))]
    assert names[-1] == "dir/"
    broken = bytearray(data)
    broken[0] ^= 0xFF
    with pytest.raises(InvalidArgument, match="invalid tar header"):
        list(TarStream(io.BytesIO(bytes(broken))))
    with pytest.raises(InvalidArgument, match="unexpected EOF"):
        for m in TarStream(io.BytesIO(data[:1100])):
            m.read()
    # the end of the last file's data, without padding or end blocks, ends the archive (docker -f -)
    first = next(iter(TarStream(io.BytesIO(data))))
    cut = data[:data.index(b"hello") + 5]
    assert [(m.name, m.read()) for m in TarStream(io.BytesIO(cut))] == [(first.name, b"hello")]
    with pytest.raises(InvalidArgument, match="unexpected EOF"):
        list(TarStream(io.BytesIO(cut + b"\0" * 10)))
