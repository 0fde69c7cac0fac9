"""Applying layers: formats, metadata, whiteouts in both forms, and hostile input."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.errors import InvalidArgument
from dockyard.layers import Compression, Whiteouts, apply_layer, write_layer_from_upper
from tests.layers.treeutil import make_tar, overlay, ti, tree_state, xattrs


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    """A tree with every kind of entry a layer carries."""
    src = tmp_path / "src"
    (src / "dir" / "sub").mkdir(parents=True)
    (src / "dir" / "file").write_bytes(b"content\n" * 100)
    os.link(src / "dir" / "file", src / "dir" / "hardlink")
    os.symlink("../dir/file", src / "dir" / "relsym")
    os.symlink("/etc/passwd", src / "abssym")
    os.mkfifo(src / "fifo")
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (src / "setuid").write_bytes(b"#!/bin/sh\n")
    os.chown(src / "setuid", 1000, 1001)
    os.chmod(src / "setuid", 0o4755)
    os.setxattr(src / "dir" / "file", "user.note", b"hello")
    # file capability cap_net_raw+ep, VFS_CAP_REVISION_2
    cap = bytes.fromhex("01000002") + (1 << 13).to_bytes(4, "little") + bytes(4) + bytes(8)
    (src / "ping").write_bytes(b"\x7fELF")
    os.setxattr(src / "ping", "security.capability", cap)
    (src / "big").write_bytes(os.urandom(3 << 20))
    (src / "long" / ("d" * 120)).mkdir(parents=True)
    (src / "long" / ("d" * 120) / ("f" * 150)).write_bytes(b"long name")
    (src / "ünïcode").write_bytes(b"utf8 name")
    os.chown(src / "dir" / "sub", 123, 456)
    os.chmod(src / "dir" / "sub", 0o1777)
    for dirpath, dirnames, filenames in os.walk(src, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), ns=(1_500_000_000_000_000_000,) * 2, follow_symlinks=False)
    os.utime(src, ns=(1_500_000_000_000_000_000,) * 2)
    return src


def _gnu_tar(src: Path, out: Path, *extra: str) -> Path:
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", *extra, "-C", str(src),
                    "-cf", str(out), "."], check=True)
    return out


@pytest.mark.parametrize("compress", ["none", "gzip", "zstd"])
def test_gnu_tar_layer_round_trips_everything(sample_tree: Path, tmp_path: Path, compress: str) -> None:
    raw = _gnu_tar(sample_tree, tmp_path / "layer.tar").read_bytes()
    blob = {"none": raw, "gzip": gzip.compress(raw), "zstd": zstandard.ZstdCompressor().compress(raw)}[compress]
    dst = tmp_path / "dst"
    dst.mkdir()
    result = apply_layer(io.BytesIO(blob), dst)
    assert result.diff_id.hex == hashlib.sha256(raw).hexdigest()
    assert result.size == len(raw)
    assert tree_state(dst) == tree_state(sample_tree)
    assert os.stat(dst / "dir" / "file").st_ino == os.stat(dst / "dir" / "hardlink").st_ino
    assert "security.capability" in xattrs(str(dst / "ping"))


def test_own_layer_is_deterministic_and_round_trips(sample_tree: Path, tmp_path: Path) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    r1 = write_layer_from_upper(sample_tree, first, Compression.GZIP)
    r2 = write_layer_from_upper(sample_tree, second, Compression.GZIP)
    assert r1 == r2 and first.getvalue() == second.getvalue()
    assert r1.digest.hex == hashlib.sha256(first.getvalue()).hexdigest()
    assert r1.diff_id.hex == hashlib.sha256(gzip.decompress(first.getvalue())).hexdigest()
    dst = tmp_path / "dst"
    dst.mkdir()
    assert apply_layer(io.BytesIO(first.getvalue()), dst).diff_id == r1.diff_id
    assert {k: v for k, v in tree_state(dst).items() if k != "."} == {
        k: v for k, v in tree_state(sample_tree).items() if k != "."}
    # and GNU tar reads it back identically, xattrs and all
    gnu = tmp_path / "gnu"
    gnu.mkdir()
    (tmp_path / "l.tar").write_bytes(gzip.decompress(first.getvalue()))
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-C", str(gnu), "-xpf",
                    str(tmp_path / "l.tar")], check=True)
    assert {k: v for k, v in tree_state(gnu).items() if k != "."} == {
        k: v for k, v in tree_state(sample_tree).items() if k != "."}
    # Python's tarfile sees Go-style headers: USTAR unless PAX is needed, PaxHeaders.0 names
    with tarfile.open(tmp_path / "l.tar") as tf:
        names = tf.getnames()
    assert names[:3] == ["abssym", "big", "dir"]


def _whiteout_layer() -> bytes:
    return make_tar([
        (ti("a", tarfile.DIRTYPE, mode=0o755), None),
        (ti("a/.wh..wh..opq"), b""),
        (ti("a/new"), b"new in a"),
        (ti(".wh.gone"), b""),
        (ti("keep/.wh.x"), b""),
        (ti("added"), b"added"),
    ])


def _lower(tmp_path: Path) -> Path:
    lower = tmp_path / "lower"
    (lower / "a").mkdir(parents=True)
    (lower / "a" / "old").write_bytes(b"old")
    (lower / "gone").mkdir()
    (lower / "gone" / "inner").write_bytes(b"inner")
    (lower / "keep").mkdir()
    (lower / "keep" / "x").write_bytes(b"x")
    (lower / "keep" / "y").write_bytes(b"y")
    return lower


def test_whiteouts_in_overlay_form_seen_through_a_real_mount(tmp_path: Path) -> None:
    lower = _lower(tmp_path)
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    apply_layer(io.BytesIO(_whiteout_layer()), upper, whiteouts=Whiteouts.OVERLAY)
    st = os.lstat(upper / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(upper / "a", "trusted.overlay.opaque") == b"y"
    assert stat.S_ISCHR(os.lstat(upper / "keep" / "x").st_mode)
    with overlay([lower], upper, work, tmp_path / "merged") as merged:
        assert sorted(os.listdir(merged)) == ["a", "added", "keep"]
        assert os.listdir(merged / "a") == ["new"]
        assert sorted(os.listdir(merged / "keep")) == ["y"]
    # and back to the same tar form
    out = io.BytesIO()
    write_layer_from_upper(upper, out, Compression.NONE)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        names = tf.getnames()
    # in walk order of the names on disk (the whiteout of "gone" sorts as "gone")
    assert names == ["a", "a/.wh..wh..opq", "a/new", "added", ".wh.gone", "keep", "keep/.wh.x"]


def test_whiteouts_carried_out_on_a_full_tree(tmp_path: Path) -> None:
    tree = _lower(tmp_path)
    apply_layer(io.BytesIO(_whiteout_layer()), tree, whiteouts=Whiteouts.DELETE)
    assert sorted(os.listdir(tree)) == ["a", "added", "keep"]
    assert os.listdir(tree / "a") == ["new"]
    assert os.listdir(tree / "keep") == ["y"]


def test_whiteout_never_hides_its_own_layer(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    apply_layer(io.BytesIO(make_tar([(ti("f"), b"mine"), (ti(".wh.f"), b"")])), tree)
    assert (tree / "f").read_bytes() == b"mine"


def _populated(tmp_path: Path) -> Path:
    t = tmp_path / "target"
    (t / "etc").mkdir(parents=True)
    (t / "etc" / "passwd").write_bytes(b"root:x:0:0")
    (t / "etc" / "dir").mkdir()
    (t / "etc" / "dir" / "f").write_bytes(b"f")
    (t / "bin").mkdir()
    os.symlink("/bin", t / "usrbin")
    os.utime(t / "etc", ns=(1, 1))
    return t


def _good_prefix() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Valid entries that change the target before the hostile one comes."""
    return [
        (ti("etc", tarfile.DIRTYPE, mode=0o700), None),
        (ti("etc/passwd"), b"replaced"),
        (ti("etc/dir"), b"a file where a dir was"),
        (ti(".wh.bin"), b""),
        (ti("new", tarfile.DIRTYPE), None),
        (ti("new/file"), b"new"),
    ]


HOSTILE: dict[str, list[tuple[tarfile.TarInfo, bytes | None]]] = {
    "dotdot": [(ti("../escaped"), b"x")],
    "dotdot-inside": [(ti("etc/../../escaped"), b"x")],
    "absolute": [(ti("/etc/escaped"), b"x")],
    "symlink-escape": [(ti("evil", tarfile.SYMTYPE, linkname="../../../../etc"), None)],
    "symlink-escape-deep": [(ti("a/b/evil", tarfile.SYMTYPE, linkname="../../../x"), None)],
    "hardlink-escape": [(ti("evil", tarfile.LNKTYPE, linkname="../../etc/passwd"), None)],
    "hardlink-absolute": [(ti("evil", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
    "hardlink-missing": [(ti("evil", tarfile.LNKTYPE, linkname="nope"), None)],
    "beneath-own-symlink": [(ti("evil", tarfile.SYMTYPE, linkname="/"), None), (ti("evil/etc/x"), b"x")],
    "beneath-existing-symlink": [(ti("usrbin/x"), b"x")],
    "hardlink-through-symlink": [(ti("evil", tarfile.SYMTYPE, linkname="/etc"), None),
                                 (ti("h", tarfile.LNKTYPE, linkname="evil/passwd"), None)],
    "whiteout-dotdot": [(ti("../.wh.target"), b"")],
    "whiteout-of-dotdot": [(ti("etc/.wh..."), b"")],
    "whiteout-beneath-symlink": [(ti("usrbin/.wh.sh"), b"")],
}


def _hostile_tar(case: str) -> bytes:
    return make_tar(_good_prefix() + HOSTILE[case] + [(ti("after"), b"never")])


@pytest.mark.parametrize("whiteouts", [Whiteouts.DELETE, Whiteouts.OVERLAY])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused_and_undone(tmp_path: Path, case: str, whiteouts: Whiteouts) -> None:
    target = _populated(tmp_path)
    (tmp_path / "etc").mkdir()  # what an escape would reach from the target: ../etc
    before = tree_state(target)
    outside = tree_state(tmp_path, times=False)
    with pytest.raises(InvalidArgument):
        apply_layer(io.BytesIO(_hostile_tar(case)), target, whiteouts=whiteouts)
    assert tree_state(target) == before
    assert tree_state(tmp_path, times=False) == outside


@pytest.mark.parametrize("cut", ["gzip-middle", "gzip-trailer", "tar-data", "tar-end", "zstd"])
def test_truncated_layers_are_refused_and_undone(tmp_path: Path, cut: str) -> None:
    target = _populated(tmp_path)
    before = tree_state(target)
    raw = make_tar([*_good_prefix(), (ti("big"), os.urandom(200_000))])
    blob = {
        "gzip-middle": lambda: gzip.compress(raw)[: len(gzip.compress(raw)) // 2],
        "gzip-trailer": lambda: gzip.compress(raw)[:-4],
        "tar-data": lambda: raw[: len(raw) - 150_000],
        "tar-end": lambda: raw[: len(raw) - 10240],  # cut at a header boundary: no end-of-archive
        "zstd": lambda: zstandard.ZstdCompressor().compress(raw)[:-100],
    }[cut]()
    with pytest.raises(InvalidArgument, match=r"truncated|corrupt"):
        apply_layer(io.BytesIO(blob), target)
    assert tree_state(target) == before


def test_bad_checksum_is_refused(tmp_path: Path) -> None:
    target = _populated(tmp_path)
    before = tree_state(target)
    raw = bytearray(make_tar([*_good_prefix(), (ti("x"), b"x")]))
    header = next(off for off in range(0, len(raw), 512) if raw[off:off + 2] == b"x\0")
    raw[header + 101] ^= 0x01  # the mode field changes, the checksum does not
    with pytest.raises(InvalidArgument):
        apply_layer(io.BytesIO(bytes(raw)), target)
    assert tree_state(target) == before


def test_overlay_xattrs_in_a_layer_are_dropped(tmp_path: Path) -> None:
    info = ti("d", tarfile.DIRTYPE)
    info.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.ok": "1"}
    target = tmp_path / "t"
    target.mkdir()
    apply_layer(io.BytesIO(make_tar([(info, None)])), target, whiteouts=Whiteouts.OVERLAY)
    assert xattrs(str(target / "d")) == {"user.ok": b"1"}


def test_zstd_layer_created_and_applied(sample_tree: Path, tmp_path: Path) -> None:
    blob = io.BytesIO()
    result = write_layer_from_upper(sample_tree, blob, Compression.ZSTD)
    assert blob.getvalue().startswith(b"\x28\xb5\x2f\xfd")
    assert result.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"
    dst = tmp_path / "z"
    dst.mkdir()
    assert apply_layer(io.BytesIO(blob.getvalue()), dst).diff_id == result.diff_id


def test_outward_symlinks_from_a_containers_own_changes(tmp_path: Path) -> None:
    # A RUN step may leave `ln -s ../../../../tmp /x`: inert here (nothing follows it), and docker
    # commits it, so layers the engine makes from a container accept it; layers from outside do not.
    target = tmp_path / "t"
    target.mkdir()
    layer = make_tar([(ti("a/b/up", tarfile.SYMTYPE, linkname="../../../../tmp"), None)])
    with pytest.raises(InvalidArgument, match="escapes the root"):
        apply_layer(io.BytesIO(layer), target)
    apply_layer(io.BytesIO(layer), target, outward_symlinks=True)
    assert os.readlink(target / "a" / "b" / "up") == "../../../../tmp"
