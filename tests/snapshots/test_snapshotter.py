"""One suite for every snapshotter (containerd's testsuite shape), on real mounts."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, Conflict, NotFound
from dockyard.layers import (
    ChangeKind,
    Compression,
    apply_layer_to_mounts,
    changes_from_mounts,
    write_layer_from_mounts,
)
from dockyard.snapshots import (
    CopySnapshotter,
    Kind,
    Mount,
    OverlaySnapshotter,
    Snapshotter,
    mount_all,
    overlay_supported,
    unmount_all,
)


@pytest.fixture(params=["overlay", "copy"])
def snapshotter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Snapshotter]:
    root = tmp_path / "snapshots"
    if request.param == "overlay":
        if not overlay_supported(str(root)):
            pytest.skip("overlayfs cannot be mounted here")
        s: Snapshotter = OverlaySnapshotter(str(root))
    else:
        s = CopySnapshotter(str(root))
    yield s
    s.close()


@contextmanager
def mounted(mounts: list[Mount], where: Path) -> Iterator[Path]:
    where.mkdir(exist_ok=True)
    mount_all(mounts, str(where))
    try:
        yield where
    finally:
        unmount_all(str(where))


def _commit_tree(s: Snapshotter, name: str, parent: str | None, files: dict[str, bytes], tmp: Path) -> None:
    key = f"extract-{name}"
    with mounted(s.prepare(key, parent), tmp / f"m-{name}") as root:
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
    s.commit(name, key)


def test_lifecycle_and_errors(snapshotter: Snapshotter, tmp_path: Path) -> None:
    s = snapshotter
    _commit_tree(s, "base", None, {"etc/hostname": b"base\n"}, tmp_path)
    info = s.stat("base")
    assert info.kind is Kind.COMMITTED and info.parent is None
    s.prepare("active", "base", labels={"a": "1"})
    assert s.stat("active").kind is Kind.ACTIVE and s.stat("active").parent == "base"
    assert s.stat("active").labels == {"a": "1"}
    assert s.update_labels("active", {"b": "2"}).labels == {"b": "2"}
    with pytest.raises(AlreadyExists):
        s.prepare("active", "base")
    with pytest.raises(NotFound):
        s.prepare("x", "missing")
    with pytest.raises(Conflict):
        s.prepare("x", "active")  # parent must be committed
    with pytest.raises(Conflict):
        s.remove("base")  # has a child
    with pytest.raises(Conflict):
        s.commit("again", "base")
    s.commit("layer2", "active")
    with pytest.raises(NotFound):
        s.stat("active")
    assert s.parents("layer2") == ["base"]
    assert [i.key for i in s.walk()] == ["base", "layer2"]
    assert s.usage("layer2").inodes >= 0 and s.usage("base").size > 0
    s.remove("layer2")
    s.remove("base")
    assert list(s.walk()) == []
    with pytest.raises(NotFound):
        s.remove("base")
    s.cleanup()
    assert os.listdir(Path(s.root) / "snapshots") == []  # type: ignore[attr-defined]


def test_copy_on_write_isolation(snapshotter: Snapshotter, tmp_path: Path) -> None:
    s = snapshotter
    _commit_tree(s, "image", None, {"etc/passwd": b"root\n", "bin/sh": b"sh", "tmp/doomed": b"x"}, tmp_path)
    with mounted(s.prepare("c1", "image"), tmp_path / "c1") as c1, \
         mounted(s.prepare("c2", "image"), tmp_path / "c2") as c2:
        (c1 / "etc" / "passwd").write_bytes(b"changed by c1\n")
        (c1 / "new").write_bytes(b"c1 only")
        os.unlink(c1 / "tmp" / "doomed")
        assert (c2 / "etc" / "passwd").read_bytes() == b"root\n"
        assert not (c2 / "new").exists()
        assert (c2 / "tmp" / "doomed").exists()
        assert not (c1 / "tmp" / "doomed").exists()
    with mounted(s.view("look", "image"), tmp_path / "v") as v:
        assert (v / "etc" / "passwd").read_bytes() == b"root\n"  # the image never changes
        assert (v / "tmp" / "doomed").exists()
        with pytest.raises(OSError):
            (v / "x").write_bytes(b"read-only")
    lower = s.mounts("look")
    changes = {c.path: c.kind for c in changes_from_mounts(lower, s.mounts("c1"))}
    assert changes["/tmp/doomed"] is ChangeKind.DELETE
    assert changes["/etc/passwd"] is ChangeKind.MODIFY
    assert changes["/new"] is ChangeKind.ADD
    assert changes["/tmp"] is ChangeKind.MODIFY
    assert "/bin/sh" not in changes and "/bin" not in changes
    # the layer of c1's changes, applied on the image, gives c1's tree
    blob = io.BytesIO()
    result = write_layer_from_mounts(lower, s.mounts("c1"), blob, Compression.GZIP)
    s.prepare("rebuilt", "image")
    applied = apply_layer_to_mounts(io.BytesIO(blob.getvalue()), s.mounts("rebuilt"))
    assert applied.diff_id == result.diff_id
    s.commit("rebuilt-layer", "rebuilt")
    s.remove("c1")
    s.remove("c2")
    with mounted(s.view("check", "rebuilt-layer"), tmp_path / "check") as check:
        assert (check / "etc" / "passwd").read_bytes() == b"changed by c1\n"
        assert (check / "new").read_bytes() == b"c1 only"
        assert not (check / "tmp" / "doomed").exists()
        assert (check / "bin" / "sh").read_bytes() == b"sh"


def test_layer_of_a_change_is_deterministic(snapshotter: Snapshotter, tmp_path: Path) -> None:
    s = snapshotter
    _commit_tree(s, "image", None, {"a/b": b"b"}, tmp_path)
    s.view("lower", "image")
    digests = set()
    for i in range(2):
        s.prepare(f"c{i}", "image")
        with mounted(s.mounts(f"c{i}"), tmp_path / f"c{i}") as root:
            (root / "a" / "b").write_bytes(b"changed")
            os.utime(root / "a" / "b", (1_600_000_000, 1_600_000_000))
            os.utime(root / "a", (1_600_000_000, 1_600_000_000))
        digests.add(write_layer_from_mounts(s.mounts("lower"), s.mounts(f"c{i}"), io.BytesIO()).digest)
    assert len(digests) == 1


def test_long_chain_of_layers(snapshotter: Snapshotter, tmp_path: Path) -> None:
    """More layers than fit a page of absolute lowerdir paths: mounted with relative ones."""
    s = snapshotter
    parent = None
    count = 130
    for i in range(count):
        tar = io.BytesIO()
        import tarfile

        with tarfile.open(fileobj=tar, mode="w") as tf:
            info = tarfile.TarInfo(f"layer{i:03d}")
            data = f"{i}".encode()
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        key = f"k{i}"
        s.prepare(key, parent)
        apply_layer_to_mounts(io.BytesIO(tar.getvalue()), s.mounts(key))
        s.commit(f"l{i}", key)
        parent = f"l{i}"
    mounts = s.prepare("top", parent)
    if mounts[0].type == "overlay":
        assert len(",".join(mounts[0].options)) > os.sysconf("SC_PAGE_SIZE")
    with mounted(mounts, tmp_path / "top") as root:
        assert len([n for n in os.listdir(root) if n.startswith("layer")]) == count
        assert (root / "layer000").read_bytes() == b"0"
        (root / "written").write_bytes(b"ok")
    assert (Path(s.root) / "snapshots").exists()  # type: ignore[attr-defined]


def test_metadata_survives_reopen(tmp_path: Path) -> None:
    root = str(tmp_path / "s")
    s = CopySnapshotter(root)
    s.prepare("k", None)
    s.commit("n", "k", labels={"x": "y"})
    s.close()
    s2 = CopySnapshotter(root)
    assert s2.stat("n").labels == {"x": "y"} and s2.stat("n").kind is Kind.COMMITTED
    os.mkdir(Path(root) / "snapshots" / "new-crashed")
    os.mkdir(Path(root) / "snapshots" / "999")
    s2.cleanup()
    assert sorted(os.listdir(Path(root) / "snapshots")) == ["1"]
    s2.close()


def test_apply_into_bind_snapshot_direct(tmp_path: Path) -> None:
    """A base layer applied to a fresh snapshot's mounts lands in its fs dir."""
    s = CopySnapshotter(str(tmp_path / "s"))
    tar = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=tar, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("empty"))
    s.prepare("k")
    apply_layer_to_mounts(io.BytesIO(tar.getvalue()), s.mounts("k"))
    assert os.listdir(s.mounts("k")[0].source) == ["empty"]
    s.close()


def test_view_of_a_stack_is_read_only_and_merged(snapshotter: Snapshotter, tmp_path: Path) -> None:
    s = snapshotter
    _commit_tree(s, "l1", None, {"a": b"1", "shared": b"old"}, tmp_path)
    _commit_tree(s, "l2", "l1", {"b": b"2", "shared": b"new"}, tmp_path)
    mounts = s.view("v", "l2")
    assert all(m.readonly for m in mounts)
    with mounted(mounts, tmp_path / "v") as v:
        assert sorted(os.listdir(v)) == ["a", "b", "shared"]
        assert (v / "shared").read_bytes() == b"new"
        with pytest.raises(OSError):
            (v / "c").write_bytes(b"no")
    with pytest.raises(Conflict):
        s.commit("nope", "v")  # views cannot be committed
    s.remove("v")
    s.remove("l2")
    s.remove("l1")
