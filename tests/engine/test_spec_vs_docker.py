"""dockyard's create path against Docker's own, request by request.

Each case runs `docker run -d --runtime capture <args>` against the reference dockerd (through the
recorder, so the CLI's create body is kept) and then feeds the very same body to dockyard's
building blocks, as the engine does:

    parse_create_request -> validate -> merge_image_config -> container_hostname -> apply_defaults
    -> plan_mounts -> setup_mounts -> build_spec

and compares, field by field:
- Config and HostConfig with `docker inspect`'s (and the Mounts list);
- the OCI spec with the config.json dockerd handed the runtime;
- for requests Docker refuses, the error message.

What necessarily differs is normalized, and only that: the rootfs path, volume directories (under
each daemon's own data root; anonymous volumes have random names), the libnetwork prestart hook,
and the namespace path of `--network host` (Docker joins its default sandbox, dockyard shares the
host's namespace by not making one). Mounts at the same depth are compared as a set: Docker takes
them from a Go map, in random order.
"""

from __future__ import annotations

import copy
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine import config as C
from dockyard.engine import spec as S
from dockyard.engine.hostfiles import HostFiles
from dockyard.errors import DockyardError
from dockyard.oci.runtime_spec import Spec
from dockyard.volumes import VolumeStore, plan_mounts, setup_mounts
from tests.engine.conftest import RefDocker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BIND = "/tmp/dockyard-spec-test-bind"

# id -> docker run arguments (after `run -d --runtime capture`)
CASES: dict[str, str] = {
    "default": "busybox sleep 300",
    "user-name": "-u www-data busybox sleep 300",
    "user-uid-gid-groups": "-u 1000:100 --group-add wheel --group-add 50 busybox sleep 300",
    "user-uid-no-entry": "-u 4242 busybox sleep 300",
    "user-name-group": "-u daemon:staff busybox sleep 300",
    "resources": "-m 64m --cpus 1.5 --pids-limit 10 --oom-kill-disable --memory-reservation 32m "
                 "--cpu-shares 512 --cpuset-cpus 0-1 --cpuset-mems 0 busybox sleep 300",
    "memory-swap": "-m 32m --memory-swap -1 --memory-swappiness 10 busybox sleep 300",
    "cpu-quota": "--cpu-period 50000 --cpu-quota 25000 busybox sleep 300",
    "blkio": "--blkio-weight 300 --device-read-bps /dev/vda:1mb --device-write-iops /dev/vda:100 busybox sleep 300",
    "ulimits": "--ulimit nofile=100:200 --ulimit nproc=50 --ulimit core=-1 busybox sleep 300",
    "caps": "--cap-add NET_ADMIN --cap-add sys_ptrace --cap-drop CHOWN busybox sleep 300",
    "caps-all": "--cap-add ALL --cap-drop MKNOD busybox sleep 300",
    "caps-drop-all": "--cap-drop ALL --cap-add KILL busybox sleep 300",
    "caps-nonroot": "-u 1000 --cap-add NET_ADMIN busybox sleep 300",
    "read-only-tmpfs": "--read-only --tmpfs /run:size=1m,mode=700 --tmpfs /scratch busybox sleep 300",
    "tty-env-workdir": "-t -i -e FOO=bar -e PATH=/x -e UNSET -w /tmp/new --hostname boxy --domainname example.com "
                       "busybox sleep 300",
    "binds-volumes": f"-v {BIND}:/data -v {BIND}/sub:/data/sub:ro -v named1:/vol -v /anon -v newdir-volume:/nv:nocopy "
                     "busybox sleep 300",
    "bind-creates-source": f"-v {BIND}/made-by-run:/made busybox sleep 300",
    "mounts": f"--mount type=bind,src={BIND},dst=/b,readonly --mount type=volume,src=named2,dst=/v2,volume-nocopy "
              "--mount type=tmpfs,dst=/t,tmpfs-size=1000,tmpfs-mode=1770 --mount type=volume,dst=/anon2 "
              f"--mount type=bind,src={BIND},dst=/nr,bind-nonrecursive busybox sleep 300",
    "devices": "--device /dev/fuse --device /dev/null:/dev/mynull:r --device-cgroup-rule 'c 1:3 mr' "
               "--device-cgroup-rule 'b *:* m' busybox sleep 300",
    "privileged": "--privileged busybox sleep 300",
    "network-none": "--network none busybox sleep 300",
    "network-host": "--network host busybox sleep 300",
    "host-namespaces": "--ipc host --pid host --uts host busybox sleep 300",
    "ipc-none": "--ipc none busybox sleep 300",
    "shm-oom-sysctl-init": "--shm-size 1g --oom-score-adj 500 --sysctl net.ipv4.ip_forward=1 --init busybox sleep 300",
    "init-read-only": "--init --read-only busybox sleep 300",
    "security-opts": "--security-opt no-new-privileges --security-opt seccomp=unconfined busybox sleep 300",
    "no-new-privileges-false": "--security-opt no-new-privileges=false busybox sleep 300",
    "cgroup-parent-ns": "--cgroup-parent /dockyard-spec-test --cgroupns private busybox sleep 300",
    "entrypoint": "--entrypoint /bin/echo busybox hi there",
    "seccomp-custom": "--security-opt seccomp={profile} --cap-add SYS_ADMIN busybox sleep 300",
    "seccomp-default-sys-admin": "--cap-add SYS_ADMIN --cap-add SYS_PTRACE busybox sleep 300",
    "join-network": "--network container:spec-base busybox sleep 300",
    "join-ipc-pid": "--ipc container:spec-base --pid container:spec-base busybox sleep 300",
    "bind-in-daemon-root": "-v {data_root}/x:/inroot busybox sleep 300",
    "image-config": "dyimage",
    "image-config-overrides": "-u root -w / -e APP=mine --entrypoint sleep -l mine=yes --stop-signal TERM dyimage 300",
    "image-cmd-only": "dyimage 'sleep 1000'",
    "add-host-dns": "--add-host db:10.0.0.5 --dns 1.1.1.1 --dns-search example.com --dns-option ndots:2 busybox sleep 300",
    "labels-healthcheck": "-l a=b --label-file /dev/null --health-cmd true --health-interval 5s --health-retries 2 "
                          "--stop-timeout 7 busybox sleep 300",
    "restart-log": "--restart on-failure:3 --log-opt max-size=1m --log-opt max-file=2 busybox sleep 300",
    "expose-publish-ish": "--expose 80 --expose 90/udp busybox sleep 300",
    # refused by Docker: the message must match
    "bad-user": "-u nobody2 busybox true",
    "bad-group": "-u root:nogrp busybox true",
    "bad-group-add": "--group-add nogrp busybox true",
    "bad-device": "--device /dev/nope busybox true",
    "bad-bind-mode": "-v /a:/b:zz busybox true",
    "bad-bind-spec": "-v /x:/ busybox true",
    "bad-mount-source": "--mount type=bind,src=/nope,dst=/x busybox true",
    "bad-mount-anon-ro": "--mount type=volume,dst=/x,readonly busybox true",
    "bad-mount-tmpfs-source": "--mount type=tmpfs,src=/a,dst=/x busybox true",
    "bad-memory": "-m 1k busybox true",
    "bad-memory-swap": "--memory-swap 10m -m 20m busybox true",
    "bad-cap": "--cap-add FOO busybox true",
    "bad-tmpfs-option": "--tmpfs /x:foo busybox true",
    "bad-tmpfs-path": "--tmpfs relative busybox true",
    "bad-cpus": "--cpus 99 busybox true",
    "bad-cpuset": "--cpuset-cpus 5-9 busybox true",
    "bad-cpuset-format": "--cpuset-cpus x busybox true",
    "bad-oom-score": "--oom-score-adj 2000 busybox true",
    "bad-ipc": "--ipc bogus busybox true",
    "bad-stop-signal": "--stop-signal FOO busybox true",
    "bad-workdir": "-w rel busybox true",
    "bad-cpu-period": "--cpu-period 10 busybox true",
    "bad-shared-propagation": f"-v {BIND}:/x:rshared busybox true",
    "bad-seccomp-json": "--security-opt seccomp={bad_profile} busybox true",
    "no-command": "--entrypoint '' busybox",
}

_DEFAULT_DESTS = {"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm", "/sbin/docker-init"}


PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_PTRACE"]},
         "args": [{"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"], "minKernel": "4.8"}},
        {"names": ["s390_thing"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
        {"names": ["future_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
    ],
}


def _case_args(case: str, ref: RefDocker, tmp: Path) -> list[str]:
    import json

    bad_profile = tmp / "bad-profile.json"
    bad_profile.write_text('{"defaultAction": 5}')
    profile = tmp / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    return shlex.split(CASES[case].format(data_root=ref.data_root, bad_profile=bad_profile, profile=profile))


def _docker_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "Error response from daemon: " in line:
            return line.split("Error response from daemon: ", 1)[1].rstrip(".")
    return stderr.strip()


class Ours:
    """dockyard's side of one case."""

    def __init__(self, body: bytes, container_id: str, image_config: C.Config | None, store: VolumeStore,
                 rootfs: Path, ref: RefDocker, base: dict[str, Any] | None = None) -> None:
        request = C.parse_create_request(body)
        self.warnings = C.validate(request.config, request.host_config, runtimes=("runc", "capture"))
        self.config = S.merge_image_config(request.config, image_config)
        by_name = {} if base is None else {base["Name"].lstrip("/"): base["Id"]}
        self.host = C.apply_defaults(request.host_config, cgroup_v2=False, container_id=by_name.get)
        peer = C.parse_config(base["Config"]) if base is not None else None
        self.config.hostname = S.container_hostname(self.config, self.host, container_id, peer)
        self.path, self.args = S.container_command(self.config)
        self.points = plan_mounts(binds=self.host.binds, mounts=self.host.mounts, tmpfs=self.host.tmpfs,
                                  image_volumes=self.config.volumes, volume_driver=self.host.volume_driver,
                                  daemon_root=str(ref.data_root))
        mounts = setup_mounts(self.points, store, container_id, rootfs)
        pids = {}
        for kind, mode in (("network", self.host.network_mode), ("ipc", self.host.ipc_mode), ("pid", self.host.pid_mode)):
            if mode.startswith("container:"):
                assert base is not None and mode == f"container:{base['Id']}"
                pids[kind] = base["State"]["Pid"]
        # a container in another's network namespace uses that one's files (initializeNetworkingPaths)
        owner = base["Id"] if base is not None and "network" in pids else container_id
        cdir = ref.data_root / "containers" / owner
        files = HostFiles(cdir / "hostname", cdir / "hosts", cdir / "resolv.conf")
        init = "/usr/bin/docker-init" if self.host.init else None
        self.spec: Spec = S.build_spec(S.SpecInput(
            container_id=container_id, config=self.config, host_config=self.host, rootfs=rootfs, mounts=mounts,
            hostfiles=files, init_path=init, default_cgroup_parent=ref.daemon.cgroup_parent,
            namespace_pids=pids, path=self.path, args=self.args,
            ipc_shm_path=str(ref.data_root / "containers" / base["Id"] / "mounts" / "shm") if "ipc" in pids and base else None))


def _normalize_spec(doc: dict[str, Any], ref_root: Path, our_root: Path) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["root"]["path"] = "ROOTFS"
    doc.pop("hooks", None)
    gids = doc["process"]["user"].get("additionalGids")
    if gids:  # runc's GetAdditionalGroups hands GroupAdd's gids back from a Go map: any order
        doc["process"]["user"]["additionalGids"] = [gids[0], *sorted(gids[1:])]
    lx = doc["linux"]
    lx["namespaces"] = [ns for ns in lx["namespaces"] if not (ns["type"] == "network" and "/netns/default" in ns.get("path", ""))]
    mounts = doc.get("mounts", [])
    for m in mounts:
        for root in (ref_root, our_root):
            prefix = f"{root}/volumes/"
            if m.get("source", "").startswith(prefix):
                name = m["source"][len(prefix):].split("/", 1)[0]
                m["source"] = "VOLUME:" + ("anonymous" if len(name) == 64 else name)
    k = 0
    while (k < len(mounts) and mounts[k]["destination"] in _DEFAULT_DESTS and mounts[k].get("type") != "bind") \
            or (k < len(mounts) and mounts[k]["destination"] == "/sbin/docker-init"):
        k += 1
    rest = mounts[k:]
    depths = [os.path.normpath(m["destination"]).count("/") for m in rest]
    assert depths == sorted(depths), f"mounts not in depth order: {[m['destination'] for m in rest]}"
    doc["mounts"] = mounts[:k] + sorted(rest, key=lambda m: (os.path.normpath(m["destination"]).count("/"), m["destination"]))
    return doc


def _normalize_mount_points(points: list[dict[str, Any]], roots: tuple[Path, ...]) -> list[dict[str, Any]]:
    out = []
    for p in copy.deepcopy(points):
        for root in roots:
            prefix = f"{root}/volumes/"
            if p.get("Source", "").startswith(prefix):
                p["Source"] = "VOLUME"
        if len(p.get("Name", "")) == 64:
            p["Name"] = "ANONYMOUS"
        out.append(p)
    return sorted(out, key=lambda p: p["Destination"])


def _diff(ours: Any, theirs: Any, path: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        if list(ours) != list(theirs) and set(ours) == set(theirs):
            out.append(f"{path}: key order {list(ours)} != {list(theirs)}")
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours:
                out.append(f"{path}/{key}: missing, Docker has {theirs[key]!r:.300}")
            elif key not in theirs:
                out.append(f"{path}/{key}: extra {ours[key]!r:.300}")
            else:
                out.extend(_diff(ours[key], theirs[key], f"{path}/{key}"))
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for d in _diff(a, b, f"{path}[{i}]")]
    if ours != theirs:
        return [f"{path}: ours {ours!r:.400} Docker's {theirs!r:.400}"]
    return []


@pytest.fixture(scope="module")
def bind_source() -> Any:
    os.makedirs(f"{BIND}/sub", exist_ok=True)
    yield BIND
    import shutil

    shutil.rmtree(BIND, ignore_errors=True)


@pytest.fixture(scope="module")
def base_container(ref_docker: RefDocker) -> Any:
    """A running container others join (`--network/--ipc/--pid container:spec-base`)."""
    run = ref_docker.docker("run", "-d", "--name", "spec-base", "--ipc", "shareable", "busybox", "sleep", "600")
    assert run.returncode == 0, run.stderr.decode()
    yield ref_docker.inspect("spec-base")
    ref_docker.docker("rm", "-f", "spec-base")


@pytest.mark.parametrize("case", list(CASES))
def test_same_as_docker(case: str, ref_docker: RefDocker, busybox_rootfs: Path, clean_tmp: Path, bind_source: str,
                        base_container: dict[str, Any]) -> None:
    args = _case_args(case, ref_docker, clean_tmp)
    name = f"spec-{case}"
    ref_docker.recorder.clear()
    run = ref_docker.docker("run", "-d", "--runtime", "capture", "--name", name, *args)
    try:
        bodies = ref_docker.recorder.create_bodies()
        exists = ref_docker.docker("inspect", name).returncode == 0
        if not bodies:
            pytest.fail(f"the CLI sent no create request: {run.stderr.decode()}")
        inspect = ref_docker.inspect(name) if exists else None
        container_id = inspect["Id"] if inspect else "0" * 64
        captured = ref_docker.captured_spec(container_id) if inspect else None
        image = inspect["Config"]["Image"] if inspect else args[-1]
        image_name = next((a for a in args if a in ("busybox", "dyimage")), image)
        image_config = C.parse_config(ref_docker.inspect(image_name, "image")["Config"])
        store = VolumeStore(clean_tmp / "root")
        if captured is None:
            assert run.returncode != 0, "Docker ran it but its runtime was never called"
            expected = _docker_error(run.stderr.decode())
            with pytest.raises(DockyardError) as err:
                Ours(bodies[-1], container_id, image_config, store, busybox_rootfs, ref_docker, base_container)
            assert str(err.value) == expected
            return
        assert inspect is not None
        ours = Ours(bodies[-1], container_id, image_config, store, busybox_rootfs, ref_docker, base_container)
        theirs_config = dict(inspect["Config"])
        if theirs_config.get("NetworkDisabled") and ours.host.network_mode in ("default", "bridge"):
            # the reference dockerd runs with --bridge=none: connecting to "bridge" sets NetworkDisabled
            del theirs_config["NetworkDisabled"]
        problems = _diff(ours.config.to_json(), theirs_config, "Config")
        problems += _diff(ours.host.to_json(), inspect["HostConfig"], "HostConfig")
        problems += _diff([ours.path, ours.args], [inspect["Path"], inspect["Args"]], "Path+Args")
        problems += _diff(_normalize_mount_points([p.to_json() for p in ours.points if not (p.type == "tmpfs" and p.source == "tmpfs")],
                                                  (clean_tmp / "root",)),
                          _normalize_mount_points(inspect["Mounts"], (ref_docker.data_root,)), "Mounts")
        ours_spec = _normalize_spec(S.spec_to_json(ours.spec), ref_docker.data_root, clean_tmp / "root")
        problems += _diff(ours_spec, _normalize_spec(captured, ref_docker.data_root, clean_tmp / "root"), "spec")
        assert not problems, "\n".join(problems)
    finally:
        ref_docker.docker("rm", "-f", "-v", name)


def test_written_config_reads_back(busybox_rootfs: Path, clean_tmp: Path) -> None:
    """What write_config writes is what the runtime reads: Spec.from_json of it gives the same JSON."""
    import json

    request = C.parse_create_request(json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 64 << 20}}))
    host = C.apply_defaults(request.host_config)
    config = S.merge_image_config(request.config, None)
    spec = S.build_spec(S.SpecInput(container_id="a" * 64, config=config, host_config=host, rootfs=busybox_rootfs))
    path = S.write_config(clean_tmp, spec)
    written = json.loads(path.read_text())
    assert S.spec_to_json(Spec.from_json(written)) == written
    assert oct(path.stat().st_mode & 0o777) and not list(clean_tmp.glob(".config.json.*"))
