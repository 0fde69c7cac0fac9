"""docker cp in and out of a rootfs, docker export, and changes of a real overlay upper."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.layers import (
    ChangeKind,
    archive_path,
    changes_between,
    changes_from_upper,
    export_rootfs,
    extract_archive,
    stat_path,
)
from tests.layers.treeutil import make_tar, overlay, ti, tree_state


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "hostname").write_bytes(b"box\n")
    (r / "data").mkdir()
    (r / "data" / "a").write_bytes(b"a")
    os.symlink("/etc", r / "etclink")
    os.symlink("../../../..", r / "up")
    return r


def test_stat_and_archive_a_file_and_a_dir(rootfs: Path) -> None:
    st = stat_path(rootfs, "/etc/hostname")
    assert st.name == "hostname" and st.size == 4 and st.mode == 0o644
    decoded = json.loads(base64.b64decode(st.header_value()))
    assert decoded["name"] == "hostname" and decoded["mtime"].endswith("Z")
    out = io.BytesIO()
    archive_path(rootfs, "/data", out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getnames() == ["data", "data/a"]
    out = io.BytesIO()
    archive_path(rootfs, "/data/.", out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getnames() == [".", "./a"]


def test_symlinks_resolve_inside_the_root(rootfs: Path) -> None:
    link = stat_path(rootfs, "/etclink")
    assert link.mode & (1 << 27) and link.link_target == "/etc"
    assert stat_path(rootfs, "/etclink/hostname").size == 4  # through the link, inside the root
    assert stat_path(rootfs, "/up/etc/hostname").size == 4  # ".." stops at the root
    with pytest.raises(NotFound):
        stat_path(rootfs, "/nope")


def test_extract_into_a_dir_through_a_symlink_stays_inside(rootfs: Path, tmp_path: Path) -> None:
    extract_archive(rootfs, "/up/data", io.BytesIO(make_tar([(ti("new", uid=5), b"n")])))
    assert (rootfs / "data" / "new").read_bytes() == b"n"
    assert os.stat(rootfs / "data" / "new").st_uid == 0  # docker: owned by the container's root
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("entries", [
    [(ti("ok"), b"x"), (ti("../../escape"), b"x")],
    [(ti("ok"), b"x"), (ti("/abs"), b"x")],
    [(ti("ok"), b"x"), (ti("s", tarfile.SYMTYPE, linkname="../../../.."), None)],
    [(ti("ok"), b"x"), (ti("s", tarfile.SYMTYPE, linkname="/"), None), (ti("s/etc/hostname"), b"pwn")],
])
def test_hostile_copy_in_changes_nothing(rootfs: Path, tmp_path: Path, entries: list) -> None:  # type: ignore[type-arg]
    before = tree_state(tmp_path)
    with pytest.raises(InvalidArgument):
        extract_archive(rootfs, "/data", io.BytesIO(make_tar(entries)))
    assert tree_state(tmp_path) == before


def test_copy_in_refuses_dir_over_file_when_asked(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument):
        extract_archive(rootfs, "/data", io.BytesIO(make_tar([(ti("a", tarfile.DIRTYPE), None)])),
                        no_overwrite_dir_non_dir=True)
    with pytest.raises(InvalidArgument, match="not a directory"):
        extract_archive(rootfs, "/etc/hostname", io.BytesIO(make_tar([(ti("x"), b"")])))


def test_export_is_the_whole_tree(rootfs: Path) -> None:
    out = io.BytesIO()
    export_rootfs(rootfs, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert tf.getnames() == ["data", "data/a", "etc", "etc/hostname", "etclink", "up"]


def test_changes_of_a_real_overlay(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_bytes(b"root")
    (lower / "etc" / "group").write_bytes(b"root")
    (lower / "var" / "cache").mkdir(parents=True)
    (lower / "var" / "cache" / "x").write_bytes(b"x")
    (lower / "opt").mkdir()
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    with overlay([lower], upper, work, tmp_path / "merged") as m:
        (m / "etc" / "passwd").write_bytes(b"changed")
        os.unlink(m / "etc" / "group")
        (m / "etc" / "new").write_bytes(b"new")
        import shutil

        shutil.rmtree(m / "var" / "cache")
        (m / "var" / "cache").mkdir()  # an opaque directory
        (m / "opt" / "d").mkdir()
        (m / "opt" / "d" / "f").write_bytes(b"f")
    changes = [str(c) for c in changes_from_upper(upper, [lower])]
    assert changes == ["C /etc", "D /etc/group", "A /etc/new", "C /etc/passwd", "C /opt", "A /opt/d",
                       "A /opt/d/f", "C /var", "C /var/cache", "D /var/cache/x"]


def test_changes_between_two_trees(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for t in (old, new):
        (t / "d").mkdir(parents=True)
        (t / "d" / "same").write_bytes(b"s")
        os.utime(t / "d" / "same", (1, 1))
    (old / "gone").mkdir()
    (old / "gone" / "x").write_bytes(b"x")
    (new / "d" / "added").write_bytes(b"a")
    kinds = {c.path: c.kind for c in changes_between(old, new)}
    assert kinds == {"/d": ChangeKind.MODIFY, "/d/added": ChangeKind.ADD, "/gone": ChangeKind.DELETE}
