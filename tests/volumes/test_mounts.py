"""Mount specs: parsing, Docker's messages, the stored plan, OCI options. (What Docker itself makes of
the same flags is compared in tests/engine/test_spec_vs_docker.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import Mount
from dockyard.volumes import (
    MountPoint,
    MountSpec,
    TmpfsOptions,
    VolumeStore,
    parse_bind,
    parse_mount,
    plan_mounts,
    setup_mounts,
)
from dockyard.volumes.mounts import convert_tmpfs_options, merge_tmpfs_options
from dockyard.volumes.spec import BindOptions, VolumeOptions
from tests.engine.conftest import RefDocker


@pytest.mark.parametrize(("spec", "message"), [
    ("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'"),
    (":/x", "invalid volume specification: ':/x'"),
    ("/a:ro", "invalid volume specification: '/a:ro'"),
    ("/a:/b:zz", "invalid mode: zz"),
    ("/a:/b:ro,rw", "invalid mode: ro,rw"),
    ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: "
               "'rel' mount path must be absolute"),
    ("/", "invalid volume specification: '/': invalid mount config for type \"volume\": invalid specification: "
          "destination can't be '/'"),
])
def test_bind_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_bind(spec)
    assert str(err.value) == message


def test_bind_forms() -> None:
    b = parse_bind("/host/dir/:/in/ctr/:ro,rslave")
    assert (b.type, b.source, b.destination, b.rw, b.propagation, b.mode) == ("bind", "/host/dir", "/in/ctr", False,
                                                                             "rslave", "ro,rslave")
    v = parse_bind("name:/data:nocopy", volume_driver="local")
    assert (v.type, v.name, v.copy_data, v.driver) == ("volume", "name", False, "local")
    a = parse_bind("/only/dest")
    assert a.type == "volume" and a.anonymous and len(a.name) == 64


def test_mount_spec_errors(tmp_path: Path) -> None:
    cases = [
        (MountSpec(type="bind", source=str(tmp_path / "nope"), target="/x"),
         f'invalid mount config for type "bind": bind source path does not exist: {tmp_path / "nope"}'),
        (MountSpec(type="volume"), 'invalid mount config for type "volume": field Target must not be empty'),
        (MountSpec(type="tmpfs", target="/x", bind_options=BindOptions()),
         'invalid mount config for type "tmpfs": field BindOptions must not be specified'),
        (MountSpec(type="bind", source=str(tmp_path), target="/x", volume_options=VolumeOptions()),
         'invalid mount config for type "bind": field VolumeOptions must not be specified'),
        (MountSpec(type="npipe", target="/x"), 'invalid mount config for type "npipe": mount type unknown'),
    ]
    for spec, message in cases:
        with pytest.raises(InvalidArgument) as err:
            parse_mount(spec)
        assert str(err.value) == message


def test_tmpfs_options() -> None:
    assert convert_tmpfs_options(TmpfsOptions(size_bytes=3 << 20, mode=0o1777), True) == "ro,mode=1777,size=3m"
    assert convert_tmpfs_options(TmpfsOptions(size_bytes=1000), False) == "size=1000"
    assert merge_tmpfs_options(["noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m", "size=2m", "rshared"]) == [
        "nosuid", "nodev", "exec", "size=2m", "rshared"]
    with pytest.raises(InvalidArgument, match=r'invalid tmpfs option \["foo"\]'):
        merge_tmpfs_options(["foo"])


def test_plan_duplicates_and_order(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /data"):
        plan_mounts(binds=["/a:/data", "v:/data"])
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /t"):
        plan_mounts(binds=["/a:/t"], tmpfs={"/t": ""})
    points = plan_mounts(binds=[f"{tmp_path}:/b"], mounts=[MountSpec(type="volume", source="n", target="/n")],
                         tmpfs={"/run": "size=1m"}, image_volumes=["/b", "/img"])
    assert [(p.type, p.destination) for p in points] == [("bind", "/b"), ("volume", "/n"), ("volume", "/img"),
                                                          ("tmpfs", "/run")]
    assert points[1].mode == "z" and points[2].mode == "" and points[2].anonymous


def test_stored_plan_gives_the_same_mounts(tmp_path: Path) -> None:
    """The plan made at create, stored and read back, sets up the same mounts (and volumes) at start."""
    specs = [MountSpec(type="volume", target="/v", volume_options=VolumeOptions(no_copy=True, labels={"a": "b"},
                                                                                has_driver_config=True,
                                                                                driver_name="local")),
             MountSpec(type="bind", source=str(tmp_path), target="/b", read_only=True,
                       bind_options=BindOptions(non_recursive=True)),
             MountSpec(type="tmpfs", target="/t", tmpfs_options=TmpfsOptions(size_bytes=4096))]
    plan = plan_mounts(mounts=specs, binds=["/anon"])
    stored = [MountPoint.from_dict(p.to_dict()) for p in plan]
    assert stored == plan
    store = VolumeStore(tmp_path / "root")
    first = setup_mounts(plan, store, "c" * 64, None)
    again = setup_mounts(stored, store, "c" * 64, None)
    assert first == again
    assert [m.destination for m in first] == ["/anon", "/v", "/b", "/t"]  # Binds first, as Docker registers them
    assert first[2] == Mount("/b", "bind", str(tmp_path), ["bind", "ro", "rprivate"])
    assert first[3] == Mount("/t", "tmpfs", "tmpfs", ["noexec", "nosuid", "nodev", "rprivate", "size=4k"])
    assert len(store.list_volumes()) == 2
    assert store.get(plan[1].name).labels == {"a": "b", "com.docker.volume.anonymous": ""}


def test_plan_with_container_id_is_stable() -> None:
    args = {"binds": ["/a1"], "mounts": [MountSpec(type="volume", target="/a2")], "image_volumes": ["/a3"]}
    first = plan_mounts(**args, container_id="c" * 64)  # type: ignore[arg-type]
    assert first == plan_mounts(**args, container_id="c" * 64)  # type: ignore[arg-type]
    assert len({p.name for p in first}) == 3 and all(len(p.name) == 64 for p in first)
    assert {p.name for p in first}.isdisjoint(p.name for p in plan_mounts(**args, container_id="d" * 64))  # type: ignore[arg-type]
    assert plan_mounts(**args)[0].name != plan_mounts(**args)[0].name  # type: ignore[arg-type]


MOUNT_FLAGS = [
    "type=bind,src=/tmp,dst=/b,readonly",
    "type=bind,source=/tmp,target=/b,ro=false,bind-propagation=RSLAVE,bind-nonrecursive",
    "type=bind,src=/tmp,destination=/b,bind-nonrecursive=true,consistency=Cached",
    "type=volume,src=v1,dst=/v,volume-nocopy",
    "src=v1,dst=/v,volume-label=a=b,volume-label=c,volume-driver=local,volume-opt=type=tmpfs,volume-opt=o=size=1m",
    "dst=/anon",
    "type=tmpfs,dst=/t,tmpfs-size=1000,tmpfs-mode=1770",
    "type=tmpfs,dst=/t,tmpfs-size=64m,readonly=1",
    '"type=bind","src=/tmp","dst=/quoted"',
]
BAD_MOUNT_FLAGS = ["type=bind,src=/tmp", "dst=/x,bogus=1", "dst=/x,weird", "type=tmpfs,dst=/t,tmpfs-size=lots",
                   "type=tmpfs,dst=/t,tmpfs-mode=999", "type=bind,src=/tmp,dst=/x,volume-nocopy",
                   "type=volume,dst=/x,bind-propagation=shared", "dst=/x,tmpfs-size=1m", "type=,dst=/x",
                   "dst=/x,ro=maybe", "dst=/x,volume-nocopy=perhaps"]


@pytest.mark.docker
@pytest.mark.parametrize("flag", MOUNT_FLAGS + BAD_MOUNT_FLAGS)
def test_mount_flag_like_the_docker_cli(flag: str, ref_docker: RefDocker) -> None:
    """What `--mount <flag>` becomes in the body the docker CLI posts, or the CLI's complaint."""
    from dockyard.volumes import parse_mount_flag

    ref_docker.recorder.clear()
    made = ref_docker.docker("create", "--mount", flag, "busybox", "true")
    if made.returncode == 0:
        ref_docker.docker("rm", "-f", made.stdout.decode().strip())
    bodies = ref_docker.recorder.create_bodies()
    if flag in BAD_MOUNT_FLAGS:
        assert not bodies
        expected = made.stderr.decode().split('for "--mount" flag: ', 1)[1].splitlines()[0]
        with pytest.raises(InvalidArgument) as err:
            parse_mount_flag(flag)
        assert str(err.value) == expected
        return
    assert bodies, made.stderr.decode()
    sent = json.loads(bodies[-1])["HostConfig"]["Mounts"][0]
    assert parse_mount_flag(flag).to_json() == sent
