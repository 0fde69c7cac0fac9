"""Raw create bodies, posted to the reference dockerd's API and to dockyard's decoder.

Malformed bodies must give Docker's message word for word (Go's decoding errors included); odd but
valid ones (a string Cmd, lower-case keys, null HostConfig, PidsLimit 0) must give the Config and
HostConfig Docker's inspect shows.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine import config as C
from dockyard.engine import spec as S
from dockyard.errors import DockyardError
from tests.engine.conftest import RefDocker

pytestmark = [pytest.mark.docker]


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(self._path))
        self.sock = sock


def _post(ref: RefDocker, path: str, body: bytes) -> tuple[int, Any]:
    conn = _UnixConnection(ref.daemon.socket)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


BAD_BODIES = {
    "not-json": b"x",
    "empty": b"",
    "truncated": b'{"Image": "busybox"',
    "array": b"[]",
    "memory-string": b'{"Image":"busybox","HostConfig":{"Memory":"x"}}',
    "memory-fraction": b'{"Image":"busybox","HostConfig":{"Memory":1.5}}',
    "memory-exponent": b'{"Image":"busybox","HostConfig":{"Memory":1e3}}',
    "blkio-weight-overflow": b'{"Image":"busybox","HostConfig":{"BlkioWeight":70000}}',
    "env-string": b'{"Image":"busybox","Env":"x"}',
    "env-number-item": b'{"Image":"busybox","Env":["A=1", 5]}',
    "cmd-number": b'{"Image":"busybox","Cmd":5}',
    "labels-number": b'{"Image":"busybox","Labels":{"a":1}}',
    "exposed-ports-value": b'{"Image":"busybox","ExposedPorts":{"80/tcp":1}}',
    "restart-name-number": b'{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":3}}}',
    "restart-policy-string": b'{"Image":"busybox","HostConfig":{"RestartPolicy":"always"}}',
    "ulimit-soft-string": b'{"Image":"busybox","HostConfig":{"Ulimits":[{"Name":"nofile","Soft":"a"}]}}',
    "healthcheck-interval-string": b'{"Image":"busybox","Healthcheck":{"Interval":"5s"}}',
    "mount-readonly-string": b'{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","ReadOnly":"yes"}]}}',
    "hostconfig-string": b'{"Image":"busybox","HostConfig":"x"}',
    "privileged-number": b'{"Image":"busybox","HostConfig":{"Privileged":1}}',
    "pids-limit-string": b'{"Image":"busybox","HostConfig":{"PidsLimit":"10"}}',
    "console-size-string": b'{"Image":"busybox","HostConfig":{"ConsoleSize":"80x24"}}',
    "restart-bad-name": b'{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}',
    "restart-count-always": b'{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":2}}}',
    "restart-negative": b'{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}',
    "auto-remove-restart": b'{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}',
    "healthcheck-interval": b'{"Image":"busybox","Healthcheck":{"Interval":5}}',
    "healthcheck-retries": b'{"Image":"busybox","Healthcheck":{"Retries":-1}}',
    "env-empty-name": b'{"Image":"busybox","Env":["=x"]}',
    "mount-no-target": b'{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"volume"}]}}',
    "mount-unknown-type": b'{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"nfs","Target":"/x"}]}}',
    "mount-relative": b'{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"volume","Target":"x"}]}}',
    "mount-bind-propagation": b'{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp",'
                              b'"Target":"/x","BindOptions":{"Propagation":"sideways"}}]}}',
    "mount-bind-volume-options": b'{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp",'
                                 b'"Target":"/x","VolumeOptions":{}}]}}',
    "extra-host-format": b'{"Image":"busybox","HostConfig":{"ExtraHosts":["nohost"]}}',
    "extra-host-ip": b'{"Image":"busybox","HostConfig":{"ExtraHosts":["a:not-an-ip"]}}',
    "port-binding": b'{"Image":"busybox","HostConfig":{"PortBindings":{"x/tcp":[{"HostPort":"80"}]}}}',
    "cap-drop": b'{"Image":"busybox","HostConfig":{"CapDrop":["BOGUS"]}}',
    "memory-reservation": b'{"Image":"busybox","HostConfig":{"Memory":10485760,"MemoryReservation":20971520}}',
    "swap-without-memory": b'{"Image":"busybox","HostConfig":{"MemorySwap":20971520}}',
    "nano-and-period": b'{"Image":"busybox","HostConfig":{"NanoCpus":1000000000,"CpuPeriod":100000}}',
    "cpu-quota-small": b'{"Image":"busybox","HostConfig":{"CpuQuota":10}}',
    "shm-negative": b'{"Image":"busybox","HostConfig":{"ShmSize":-1}}',
    "unknown-runtime": b'{"Image":"busybox","HostConfig":{"Runtime":"nope"}}',
    "tmpfs-root": b'{"Image":"busybox","HostConfig":{"Tmpfs":{"/":""}}}',
    "cgroupns": b'{"Image":"busybox","HostConfig":{"CgroupnsMode":"sideways"}}',
    "net-container-empty": b'{"Image":"busybox","HostConfig":{"NetworkMode":"container:"}}',
    "net-container-hostname": b'{"Image":"busybox","Hostname":"h","HostConfig":{"NetworkMode":"container:x"}}',
    "uts-host-hostname": b'{"Image":"busybox","Hostname":"h","HostConfig":{"UTSMode":"host"}}',
    "isolation": b'{"Image":"busybox","HostConfig":{"Isolation":"hyperv"}}',
    "swappiness": b'{"Image":"busybox","HostConfig":{"MemorySwappiness":200}}',
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_refused_like_docker(case: str, ref_docker: RefDocker) -> None:
    body = BAD_BODIES[case]
    status, answer = _post(ref_docker, f"/v1.41/containers/create?name=cfg-{case}", body)
    try:
        assert status >= 400, f"Docker accepted it: {answer}"
        with pytest.raises(DockyardError) as err:
            request = C.parse_create_request(body)
            C.validate(request.config, request.host_config, runtimes=("runc", "capture"))
        assert str(err.value) == answer["message"]
    finally:
        if status < 400:
            ref_docker.docker("rm", "-f", f"cfg-{case}")


GOOD_BODIES = {
    "cmd-string": {"Image": "busybox", "Cmd": "echo hi"},
    "lower-case-keys": {"image": "busybox", "cmd": ["true"], "env": ["A=1"], "hostconfig": {"memory": 67108864}},
    "host-config-null": {"Image": "busybox", "Cmd": ["true"], "HostConfig": None},
    "no-host-config": {"Image": "busybox", "Cmd": ["true"]},
    "pids-limit-zero": {"Image": "busybox", "HostConfig": {"PidsLimit": 0, "MemorySwappiness": -1}},
    "exact-key-wins": {"Image": "busybox", "cmd": ["false"], "Cmd": ["true"]},
    "unknown-keys": {"Image": "busybox", "Bogus": 1, "HostConfig": {"AlsoBogus": {"x": 1}}},
    "everything-null": {"Image": "busybox", "Cmd": None, "Env": None, "Labels": None, "HostConfig": {
        "Binds": None, "Dns": None, "Ulimits": None, "LogConfig": None, "RestartPolicy": None, "Mounts": None}},
    "empty-lists": {"Image": "busybox", "Env": [], "HostConfig": {"Binds": [], "Dns": [], "CapAdd": [],
                                                                  "Devices": [], "Ulimits": []}},
    "strslice-caps": {"Image": "busybox", "HostConfig": {"CapAdd": "NET_ADMIN", "CapDrop": ["chown"]}},
    "full": {"Image": "busybox", "Cmd": ["true"], "Tty": True, "OpenStdin": True, "StdinOnce": True,
             "Healthcheck": {"Test": ["CMD", "true"], "Interval": 2000000000, "Retries": 2}, "StopTimeout": 3,
             "HostConfig": {"Memory": 33554432, "MemorySwap": 67108864, "CpuShares": 100, "NanoCpus": 500000000,
                            "BlkioWeightDevice": [{"Path": "/dev/vda", "Weight": 300}],
                            "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
                            "Tmpfs": {"/run": "size=1m"}, "Sysctls": {"net.ipv4.ip_forward": "1"},
                            "ConsoleSize": [24, 80], "OomScoreAdj": -5, "ShmSize": 1048576}},
}


@pytest.mark.parametrize("case", list(GOOD_BODIES))
def test_accepted_like_docker(case: str, ref_docker: RefDocker) -> None:
    body = json.dumps(GOOD_BODIES[case]).encode()
    status, answer = _post(ref_docker, f"/v1.41/containers/create?name=cfg-{case}", body)
    try:
        assert status == 201, answer
        inspect = ref_docker.inspect(answer["Id"])
        request = C.parse_create_request(body)
        warnings = C.validate(request.config, request.host_config, runtimes=("runc", "capture"))
        config = S.merge_image_config(request.config, C.parse_config(ref_docker.inspect("busybox", "image")["Config"]))
        host = C.apply_defaults(request.host_config, cgroup_v2=False)
        config.hostname = S.container_hostname(config, host, answer["Id"])
        theirs_host = dict(inspect["HostConfig"])
        if not request.host_config_given:
            # dockerd skips its platform checks when the body has no HostConfig, so Runtime stays unset
            host.runtime = ""
        assert config.to_json() == inspect["Config"]
        assert host.to_json() == theirs_host
        assert warnings == (answer["Warnings"] or [])
    finally:
        ref_docker.docker("rm", "-f", f"cfg-{case}")
