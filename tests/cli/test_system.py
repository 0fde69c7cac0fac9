"""version, info, system df/prune, --help and the global flags."""

from __future__ import annotations

import json
import subprocess

from dockyard import __version__
from tests.cli.daemons import DOCKYARD, Created, Daemon, assert_same


def test_version(daemon: Daemon) -> None:
    quick = subprocess.run([*DOCKYARD, "--version"], capture_output=True, check=False)
    assert (quick.returncode, quick.stdout) == (0, f"dockyard version {__version__}\n".encode())
    out = daemon.ok("version")
    assert out.startswith(f"Client:\n Version:           {__version__}\n API version:       ")
    server = daemon.docker("version").stdout.decode()
    assert out[out.index("\nServer:"):] == server[server.index("\nServer:"):]  # the server part is docker's layout
    data = json.loads(daemon.ok("version", "--format", "{{json .}}"))
    assert data["Client"]["Version"] == __version__ and data["Server"]["ApiVersion"]
    assert_same(daemon, "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}")
    assert_same(daemon, "version", "--format", "{{.Nope")


def test_info(daemon: Daemon) -> None:
    ours = daemon.ok("info")
    theirs = daemon.docker("info").stdout.decode()
    assert ours.startswith(f"Client:\n Version:    {__version__}\n")
    # the server section is docker's, line for line (docker lists runtimes in Go map order)
    def server(text: str) -> list[str]:
        lines = text[text.index("\nServer:"):].splitlines()
        return [" ".join(sorted(line.split())) if line.startswith(" Runtimes:") else line for line in lines]
    assert server(ours) == server(theirs)
    assert_same(daemon, "info", "--format", "{{.Containers}} {{.Driver}} {{json .Plugins.Volume}}")
    assert_same(daemon, "system", "info", "--format", "{{.ServerVersion}}")


def test_df_and_prune(daemon: Daemon, created: Created) -> None:
    box = created.container()
    assert daemon.dockyard("run", "--name", box, "busybox", "sh", "-c", "echo x > /f").returncode == 0
    assert_same(daemon, "system", "df")
    assert_same(daemon, "system", "df", "--format", "{{.Type}}: {{.TotalCount}} {{.Active}} {{.Size}}")
    assert_same(daemon, "system", "df", "--format", "json")
    verbose = daemon.ok("system", "df", "-v")
    assert "Images space usage:" in verbose and box in verbose
    out = daemon.ok("system", "prune", "-f")
    assert "Deleted Containers:" in out and out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert daemon.ok("ps", "-aq", "--filter", f"name={box}") == ""
    cancelled = daemon.dockyard("system", "prune", input=b"\n")
    assert cancelled.returncode == 1 and cancelled.stdout.startswith(b"WARNING! This will remove:\n")


def test_help_and_unknown_commands(daemon: Daemon) -> None:
    assert daemon.ok("--help").startswith("\nUsage:  dockyard [OPTIONS] COMMAND")
    assert daemon.ok("run", "--help").startswith("\nUsage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]")
    bare = daemon.dockyard("image")
    assert bare.returncode == 0 and b"Commands:" in bare.stderr and b"bootstrap" in bare.stderr
    for args in (["foo"], ["image", "foo"], ["--nope", "ps"], ["-H"]):
        ours = daemon.dockyard(*args)
        assert ours.returncode in (1, 125) and ours.stderr, args
    assert_same(daemon, "foo")
    assert_same(daemon, "container", "nope")
