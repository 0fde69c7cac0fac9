"""User resolution against a real rootfs (the busybox one, and copies with their own passwd/group),
and the ids a container really gets under Docker for the same `-u` (checked with `id` in busybox)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dockyard.engine.user import ExecUser, resolve_user
from dockyard.errors import InvalidArgument, NotFound
from tests.engine.conftest import RefDocker


@pytest.mark.parametrize(("spec", "groups", "expected"), [
    ("", [], ExecUser(0, 0, (10,), "/root")),
    ("root", [], ExecUser(0, 0, (10,), "/root")),
    ("0", [], ExecUser(0, 0, (10,), "/root")),
    ("www-data", [], ExecUser(33, 33, (), "/var/www")),
    ("33", [], ExecUser(33, 33, (), "/var/www")),
    ("4242", [], ExecUser(4242, 0, (), "/")),
    ("4242:4343", [], ExecUser(4242, 4343, (), "/")),
    ("daemon:staff", [], ExecUser(1, 50, (), "/usr/sbin")),
    ("nobody:100", [], ExecUser(65534, 100, (), "/home")),
    ("sync", [], ExecUser(4, 100, (), "/bin")),
    ("1000:100", ["wheel", "50"], ExecUser(1000, 100, (10, 50), "/")),
    ("root", ["9999", "wheel"], ExecUser(0, 0, (10, 9999, 10), "/root")),  # Docker keeps the repeat
])
def test_busybox(busybox_rootfs: Path, spec: str, groups: list[str], expected: ExecUser) -> None:
    got = resolve_user(busybox_rootfs, spec, groups)
    assert got == expected
    assert got.additional_gids == (expected.gid, *expected.sgids)


@pytest.mark.parametrize(("spec", "groups", "message"), [
    ("nobody2", [], "unable to find user nobody2: no matching entries in passwd file"),
    ("root:nogrp", [], "unable to find group nogrp: no matching entries in group file"),
    ("root", ["nogrp"], "Unable to find group nogrp: no matching entries in group file"),
])
def test_errors(busybox_rootfs: Path, spec: str, groups: list[str], message: str) -> None:
    with pytest.raises(NotFound) as err:
        resolve_user(busybox_rootfs, spec, groups)
    assert str(err.value) == message


def test_out_of_range(busybox_rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="uids and gids must be in range 0-2147483647"):
        resolve_user(busybox_rootfs, "-5")
    with pytest.raises(InvalidArgument):
        resolve_user(busybox_rootfs, "0:2147483648")


def test_files_are_read_inside_the_root(rootfs_copy: Path) -> None:
    """Symlinked passwd/group files resolve inside the rootfs (an absolute link to /etc/passwd is the
    rootfs's own), missing files are fine for numeric ids, and malformed lines do not stop the reader."""
    etc = rootfs_copy / "etc"
    (etc / "real").mkdir()
    (etc / "real" / "passwd").write_text("\n  \nbroken-line\nalice:x:1500:1600:Alice:/home/alice:/bin/sh\nbob:x:notanumber:7::/b:\n")
    (etc / "real" / "group").write_text("team:x:1600:\nextra:x:1700:alice,bob\n")
    for name in ("passwd", "group"):
        (etc / name).unlink()
        os.symlink(f"/etc/real/{name}", etc / name)
    assert resolve_user(rootfs_copy, "alice") == ExecUser(1500, 1600, (1700,), "/home/alice")
    assert resolve_user(rootfs_copy, "bob") == ExecUser(0, 7, (1700,), "/b")
    with pytest.raises(NotFound):
        resolve_user(rootfs_copy, "root")  # the host has root; the rootfs (through its links) does not
    for name in ("passwd", "group"):
        (etc / name).unlink()
    assert resolve_user(rootfs_copy, "1234:5678") == ExecUser(1234, 5678, (), "/")
    assert resolve_user(rootfs_copy, "") == ExecUser(0, 0, (), "/")
    with pytest.raises(NotFound, match="unable to find user alice"):
        resolve_user(rootfs_copy, "alice")
    os.symlink("../../../../../../etc/shadow", etc / "passwd")  # escapes would be the host's: not here
    assert resolve_user(rootfs_copy, "42") == ExecUser(42, 0, (), "/")


@pytest.mark.docker
@pytest.mark.parametrize("args", [[], ["-u", "www-data"], ["-u", "1000:100", "--group-add", "wheel", "--group-add", "50"],
                                  ["-u", "daemon:staff"], ["-u", "4242"], ["-u", "sync"]])
def test_ids_like_docker(ref_docker: RefDocker, busybox_rootfs: Path, args: list[str]) -> None:
    """The uid, gid and groups a process really has under Docker are the ones we resolve."""
    out = ref_docker.docker("run", "--rm", *args, "busybox", "sh", "-c", "id -u; id -g; id -G; echo $HOME")
    assert out.returncode == 0, out.stderr.decode()
    uid, gid, groups, home = out.stdout.decode().splitlines()
    user = args[args.index("-u") + 1] if "-u" in args else ""
    adds = [args[i + 1] for i, a in enumerate(args) if a == "--group-add"]
    ours = resolve_user(busybox_rootfs, user, adds)
    assert (ours.uid, ours.gid) == (int(uid), int(gid))
    assert sorted(set(ours.additional_gids)) == sorted({int(g) for g in groups.split()})
    assert ours.home == home


def test_group_file_with_long_member_list(rootfs_copy: Path) -> None:
    members = ",".join(f"user{i}" for i in range(5000)) + ",zed"
    (rootfs_copy / "etc" / "group").write_text(f"big:x:4000:{members}\n")
    (rootfs_copy / "etc" / "passwd").write_text("zed:x:3000:3000::/z:/bin/sh\n")
    assert resolve_user(rootfs_copy, "zed").sgids == (4000,)
    subprocess.run(["true"], check=True)
