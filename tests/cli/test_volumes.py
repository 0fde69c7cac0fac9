"""volume create/ls/inspect/rm/prune, and volumes used by containers."""

from __future__ import annotations

import json

from tests.cli.daemons import Created, Daemon, assert_same


def test_volume_verbs(daemon: Daemon, created: Created) -> None:
    name, other = created.volume(), created.volume()
    assert daemon.ok("volume", "create", name) == f"{name}\n"
    assert daemon.ok("volume", "create", "--label", "a=b", "-o", "type=tmpfs", "-o", "device=tmpfs", other) == \
        f"{other}\n"
    for args in (["volume", "ls"], ["volume", "ls", "-q"], ["volume", "ls", "--filter", "label=a=b"],
                 ["volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}} {{.Label \"a\"}}"],
                 ["volume", "ls", "--format", "json"], ["volume", "inspect", name],
                 ["volume", "inspect", "-f", "{{.Name}} {{.Options}} {{.Labels}}", other],
                 ["volume", "inspect", "nope"], ["volume", "rm", "nope"], ["volume", "nope"]):
        # dockerd lists volumes in Go map order, which changes from call to call: rows are compared sorted.
        assert_same(daemon, *args, sort_rows=args[:2] == ["volume", "ls"])
    usage = daemon.dockyard("volume")  # docker adds `update` (cluster volumes) on API >= 1.42: not ours
    assert usage.returncode == 0 and usage.stderr.startswith(b"Usage:  dockyard volume COMMAND\n")
    info = json.loads(daemon.ok("volume", "inspect", other))
    assert info[0]["Labels"] == {"a": "b"} and info[0]["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    assert daemon.ok("volume", "rm", name, other) == f"{name}\n{other}\n"
    assert daemon.ok("volume", "ls", "-q", "--filter", f"name={name}") == ""


def test_named_volume_in_use(daemon: Daemon, created: Created) -> None:
    volume = created.volume()
    writer = created.container()
    assert daemon.dockyard("run", "--name", writer, "-v", f"{volume}:/data", "busybox", "sh", "-c",
                           "echo kept > /data/f").returncode == 0
    assert daemon.ok("run", "--rm", "--mount", f"type=volume,source={volume},target=/v", "busybox", "cat",
                     "/v/f") == "kept\n"
    refused = daemon.dockyard("volume", "rm", volume)
    assert refused.returncode == 1 and refused.stderr.startswith(b"Error response from daemon: ")
    daemon.ok("rm", writer)
    assert daemon.ok("volume", "rm", volume) == f"{volume}\n"


def test_volume_prune(daemon: Daemon, created: Created) -> None:
    box = created.container()
    assert daemon.dockyard("run", "--name", box, "-v", "/anonymous", "busybox", "true").returncode == 0
    anonymous = daemon.ok("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", box).strip()
    created.volumes.append(anonymous)
    daemon.ok("rm", box)
    out = daemon.ok("volume", "prune", "-f")
    assert anonymous in out.splitlines()
    assert out.startswith("Deleted Volumes:\n") and out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert daemon.ok("volume", "prune", "-f") == "Total reclaimed space: 0B\n"
