"""The local volume store: lifecycle, Docker's shapes and messages (checked against the reference
dockerd), references, prune, crash leftovers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.fsutil.mount import unmount
from dockyard.volumes import VolumeStore
from dockyard.volumes.store import ANONYMOUS_LABEL
from tests.engine.conftest import RefDocker


def test_create_get_list_remove(clean_tmp: Path) -> None:
    store = VolumeStore(clean_tmp)
    v = store.create("data", labels={"a": "b"})
    assert v.mountpoint == clean_tmp / "volumes" / "data" / "_data" and v.mountpoint.is_dir()
    assert oct((clean_tmp / "volumes" / "data").stat().st_mode & 0o777) == "0o701"
    assert store.create("data", labels={"other": "x"}).labels == {"a": "b"}  # idempotent: the first one stays
    again = VolumeStore(clean_tmp).get("data")  # survives a new store (a daemon restart)
    assert again.labels == {"a": "b"} and again.created_ns == v.created_ns
    anon = store.create()
    assert len(anon.name) == 64 and anon.anonymous and anon.labels == {ANONYMOUS_LABEL: ""}
    assert [x.name for x in store.list_volumes()] == sorted(["data", anon.name])
    assert [x.name for x in store.list_volumes({"label": ["a=b"]})] == ["data"]
    assert [x.name for x in store.list_volumes({"name": ["dat"]})] == ["data"]
    store.remove("data")
    assert not (clean_tmp / "volumes" / "data").exists()
    with pytest.raises(NotFound, match="get data: no such volume"):
        store.get("data")
    store.remove("data", force=True)


def test_in_use(clean_tmp: Path) -> None:
    users = {"cb": ["c" * 64]}
    store = VolumeStore(clean_tmp, in_use=lambda name: users.get(name, []))
    store.create("ref")
    store.create("cb")
    store.acquire("ref", "a" * 64)
    store.acquire("ref", "b" * 64)
    with pytest.raises(Conflict, match=rf"remove ref: volume is in use - \[{'a' * 64}, {'b' * 64}\]"):
        store.remove("ref", force=True)
    with pytest.raises(Conflict, match="remove cb: volume is in use"):
        store.remove("cb")
    assert [v.name for v in store.list_volumes({"dangling": ["true"]})] == []
    store.release("ref", "a" * 64)
    store.release("ref", "b" * 64)
    assert [v.name for v in store.list_volumes({"dangling": ["1"]})] == ["ref"]
    assert [v.name for v in store.list_volumes({"dangling": {"false": True}})] == ["cb"]
    store.remove("ref")


def test_prune(clean_tmp: Path) -> None:
    store = VolumeStore(clean_tmp)
    named = store.create("named")
    (named.mountpoint / "f").write_bytes(b"x" * 100)
    anon = store.create(labels={"keep": "yes"})
    anon2 = store.create()
    (anon2.mountpoint / "g").write_bytes(b"y" * 50)
    used = store.create()
    store.acquire(used.name, "c" * 64)
    report = store.prune({"label!": ["keep"]})
    assert report.volumes_deleted == [anon2.name] and report.space_reclaimed == 50
    report = store.prune({"all": ["true"]})
    assert sorted(report.volumes_deleted) == sorted([anon.name, "named"]) and report.space_reclaimed == 100
    assert [v.name for v in store.list_volumes()] == [used.name]
    assert report.to_json() == {"VolumesDeleted": report.volumes_deleted, "SpaceReclaimed": 100}
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling'"):
        store.prune({"dangling": ["true"]})


def test_crash_leftovers(clean_tmp: Path) -> None:
    store = VolumeStore(clean_tmp)
    (clean_tmp / "volumes" / "half" / "_data").mkdir(parents=True)  # made, record never written
    (clean_tmp / "volumes" / ".rm-gone-1234").mkdir()  # being removed
    assert store.list_volumes() == []
    assert store.create("half").name == "half"  # a leftover does not block the name
    store.cleanup()
    assert sorted(os.listdir(clean_tmp / "volumes")) == ["half"]


def _mounted(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if f" {path} " in line]


def test_mount_options(clean_tmp: Path) -> None:
    """A volume with driver options is a mount: made when the first user starts, gone after the last."""
    store = VolumeStore(clean_tmp)
    v = store.create("ram", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"})
    try:
        path = store.mount_volume("ram")
        store.mount_volume("ram")
        (line,) = _mounted(path)
        assert " - tmpfs tmpfs " in line and "size=1024k" in line and "uid=1000" in line
        store.unmount_volume("ram")
        assert _mounted(path)
        store.unmount_volume("ram")
        assert not _mounted(path)
    finally:
        if _mounted(v.mountpoint):
            unmount(str(v.mountpoint), 2)  # MNT_DETACH


@pytest.mark.docker
@pytest.mark.parametrize("args", [["volume", "create", "a/b"], ["volume", "create", "--driver", "foo", "z"],
                                  ["volume", "create", "--opt", "bogus=1", "z2"], ["volume", "inspect", "nope"],
                                  ["volume", "rm", "nope"], ["volume", "create", "-"]])
def test_messages_like_docker(ref_docker: RefDocker, clean_tmp: Path, args: list[str]) -> None:
    done = ref_docker.docker(*args)
    assert done.returncode != 0
    expected = done.stderr.decode().split("Error response from daemon: ", 1)[1].strip()
    store = VolumeStore(clean_tmp)
    with pytest.raises((InvalidArgument, NotFound)) as err:
        if args[1] == "create":
            opts = dict(a.split("=", 1) for a in args[args.index("--opt") + 1:args.index("--opt") + 2]) if "--opt" in args else None
            store.create(args[-1], driver=args[args.index("--driver") + 1] if "--driver" in args else "local", driver_opts=opts)
        elif args[1] == "inspect":
            store.inspect(args[-1])
        else:
            store.remove(args[-1])
    assert str(err.value) == expected


@pytest.mark.docker
def test_in_use_message_and_shape_like_docker(ref_docker: RefDocker, clean_tmp: Path) -> None:
    made = ref_docker.docker("create", "--name", "vol-user", "-v", "shape:/x", "busybox", "true")
    assert made.returncode == 0, made.stderr.decode()
    cid = made.stdout.decode().strip()
    try:
        refused = ref_docker.docker("volume", "rm", "shape")
        created = ref_docker.docker("volume", "create", "--label", "k=v", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
                                    "labelled")
        assert created.returncode == 0
        theirs = {name: json.loads(ref_docker.docker("volume", "inspect", name).stdout)[0] for name in ("shape", "labelled")}
    finally:
        ref_docker.docker("rm", "-f", "vol-user")
        ref_docker.docker("volume", "rm", "-f", "shape", "labelled")
    store = VolumeStore(clean_tmp)
    store.create("shape")
    store.create("labelled", labels={"k": "v"}, driver_opts={"type": "tmpfs", "device": "tmpfs"})
    store.acquire("shape", cid)
    with pytest.raises(Conflict) as err:
        store.remove("shape")
    assert str(err.value) == refused.stderr.decode().split("Error response from daemon: ", 1)[1].strip()
    for name, doc in theirs.items():
        ours = store.inspect(name)
        assert list(ours) == list(doc)
        for key in ("Mountpoint", "CreatedAt"):
            ours.pop(key), doc.pop(key)
        assert ours == doc
