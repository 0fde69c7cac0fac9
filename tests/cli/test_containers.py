"""Container verbs and their output next to the real docker CLI's on the same daemon: ps, inspect,
--format, logs, attach vs exec, stop/kill/restart/pause/rm/rename/wait, top, diff, port, stats,
events, and docker's errors for containers that do not exist."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from tests.cli.daemons import DOCKYARD, Created, Daemon, assert_same


def same(daemon: Daemon, *args: str) -> str:
    return assert_same(daemon, *args).stdout.decode()


@pytest.fixture
def running(daemon: Daemon, created: Created) -> str:
    name = created.container("run")
    daemon.ok("run", "-d", "--name", name, "-l", "app=web", "-l", "tier=front", "-e", "FOO=bar",
              "-p", f"127.0.0.1:{free_port()}:80", "--expose", "9000-9001", "busybox", "sleep", "300")
    return name


def free_port() -> int:
    """A loopback port nobody holds: dockyardd really binds what is published."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ps_tables_and_formats(daemon: Daemon, created: Created, running: str) -> None:
    stopped = created.container("stopped")
    assert daemon.dockyard("run", "--name", stopped, "busybox", "sh", "-c", "echo bye; exit 3").returncode == 3
    for args in (["ps"], ["ps", "-a"], ["ps", "-a", "--no-trunc"], ["ps", "-aq"], ["ps", "-a", "-s"],
                 ["ps", "-l"], ["ps", "-n", "1", "--format", "{{.Names}}"], ["ps", "-a", "--format", "json"],
                 ["ps", "-a", "--format", "table {{.ID}}\t{{.Status}}\t{{.Label \"app\"}}\t{{.Labels}}"],
                 ["ps", "-a", "--format", "{{.Names}}: {{.State}} {{.Command}} {{.Ports}} {{.Mounts}}"],
                 ["ps", "-a", "--filter", "label=app=web"], ["ps", "-a", "--filter", "status=exited", "-q"],
                 ["ps", "--filter", f"name={running}", "--format", "{{.Names}} {{.Networks}} {{.LocalVolumes}}"],
                 ["ps", "--format", "{{.Nope}}"], ["ps", "--format", "{{.ID"], ["ps", "--filter", "nope"]):
        same(daemon, *args)


@pytest.mark.parametrize("value", ["publish=a:b", "publish=abc", "publish=90-80", "publish=70000", "publish=-80",
                                   "expose=/udp", "publish=", "expose=8000-"])
def test_ps_port_filter_errors(daemon: Daemon, value: str) -> None:
    result = assert_same(daemon, "ps", "-a", "--filter", value)
    assert result.returncode == 1 and result.stderr.startswith(b"Error response from daemon: ")


def test_ps_port_filters_skip_containers_that_do_not_run(daemon: Daemon, created: Created) -> None:
    """dockerd 20.10 filters on NetworkSettings.Ports, which is empty unless the container runs."""
    name = created.container("ports")
    daemon.ok("create", "--name", name, "-p", f"127.0.0.1:{free_port()}:80/udp", "--expose", "90", "busybox")
    for value in ("publish=80/udp", "expose=90", "expose=80/udp", "publish=1-100/udp"):
        assert same(daemon, "ps", "-a", "--filter", f"name={name}", "--filter", value, "-q") == ""
    assert same(daemon, "ps", "-a", "--filter", f"name={name}", "-q") != ""


def test_inspect_matches_docker(daemon: Daemon, running: str) -> None:
    for args in (["inspect", running], ["container", "inspect", running], ["inspect", "--format", "json", running],
                 ["inspect", "-f", "{{.State.Status}} {{.Config.Cmd}} {{.Config.Entrypoint}} {{json .Config.Labels}} "
                                    "{{index .Config.Labels \"app\"}} {{.HostConfig.PortBindings}}", running],
                 ["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", running],
                 ["inspect", "-f", "{{.Name}} {{.State.Pid | printf \"%T\"}}", running],
                 ["inspect", "--type", "container", "-f", "{{.Id}}", running], ["inspect", "-s", "-f", "{{.SizeRw}}",
                                                                                  running],
                 ["inspect", "nope"], [
                     "inspect", running, "nope"], ["inspect", "--type", "container", "nope"],
                 ["container", "inspect", "nope"], ["inspect", "--type", "foo", "x"],
                 ["inspect", "-f", "{{.Nope}}", running], ["inspect", "-f", "{{.Config.Nope}}", running],
                 ["inspect", "-f", "{{.Id", running], ["inspect", "-f", "{{json .State.Health}}", running]):
        same(daemon, *args)


@pytest.mark.parametrize("verb", [["stop"], ["kill"], ["restart"], ["pause"], ["unpause"], ["rm"], ["wait"],
                                  ["logs"], ["top"], ["diff"], ["port"], ["exec", "-i"], ["attach"], ["export"],
                                  ["stats", "--no-stream"], ["inspect"], ["rename"], ["commit"], ["start"]])
def test_unknown_container(daemon: Daemon, verb: list[str]) -> None:
    extra = ["new-name"] if verb == ["rename"] else ["true"] if verb[0] == "exec" else []
    result = daemon.dockyard(*verb, "nope", *extra)
    assert result.returncode == 1
    assert result.stderr.startswith(b"Error"), result.stderr
    assert b"No such container: nope" in result.stderr or result.stderr == b"Error: No such object: nope\n"
    same(daemon, *verb, "nope", *extra)


def test_rm_force_of_nothing_is_fine(daemon: Daemon) -> None:
    same(daemon, "rm", "-f", "nope")
    same(daemon, "stop", "nope", "nope2")


def test_lifecycle(daemon: Daemon, created: Created) -> None:
    name = created.container()
    renamed = created.container("renamed")
    daemon.ok("run", "-d", "--init", "--name", name, "busybox", "sleep", "300")  # sleep is not pid 1
    assert daemon.ok("pause", name) == f"{name}\n"
    assert daemon.ok("inspect", "-f", "{{.State.Status}}", name) == "paused\n"
    same(daemon, "pause", name)  # already paused: the daemon's error, exit 1
    assert daemon.ok("unpause", name) == f"{name}\n"
    same(daemon, "rm", name)  # running: refused
    assert daemon.ok("rename", name, renamed) == ""
    same(daemon, "rename", renamed, renamed)
    assert daemon.ok("restart", "-t", "1", renamed) == f"{renamed}\n"
    assert daemon.ok("kill", "-s", "USR1", renamed) == f"{renamed}\n"  # sleep dies of SIGUSR1
    assert daemon.ok("wait", renamed) == "138\n"
    assert daemon.ok("start", renamed) == f"{renamed}\n"
    assert daemon.ok("stop", "-t", "1", renamed) == f"{renamed}\n"
    assert daemon.ok("inspect", "-f", "{{.State.ExitCode}}", renamed) == "143\n"
    assert daemon.ok("rm", renamed) == f"{renamed}\n"
    same(daemon, "kill", "-s", "FOO", "nope")


def test_rm_force_kills_and_removes(daemon: Daemon, created: Created) -> None:
    names = [created.container(), created.container()]
    for name in names:
        daemon.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert daemon.ok("rm", "-f", *names) == "".join(f"{n}\n" for n in names)
    assert daemon.ok("ps", "-aq", "--filter", f"name={names[0]}") == ""
    result = daemon.dockyard("rm", names[0], "-v")
    assert result.returncode == 1 and result.stderr == f"Error response from daemon: No such container: {names[0]}\n".encode()


def test_logs_follow_and_options(daemon: Daemon, created: Created) -> None:
    name = created.container()
    daemon.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
              "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.3; done")
    follow = subprocess.run([*DOCKYARD, "logs", "-f", name], capture_output=True, env=daemon.env(), timeout=30,
                            check=False)
    assert (follow.returncode, follow.stdout, follow.stderr) == (0, b"out1\nout2\nout3\n", b"err1\nerr2\nerr3\n")
    # Both CLIs send `--until 0s` as whole seconds (GetTimestamp's Unix()): until the last line is a
    # second old, the two runs could cut it at different places.
    time.sleep(1.0)
    for args in (["logs", name], ["logs", "--tail", "1", name], ["logs", "-n", "0", name], ["logs", "-t", name],
                 ["logs", "--since", "1h", "--until", "0s", name], ["logs", "--details", name]):
        same(daemon, *args)
    tty = created.container()
    daemon.ok("run", "-t", "--name", tty, "busybox", "echo", "from-a-tty")
    assert daemon.ok("logs", tty) == "from-a-tty\r\n"


def test_log_drivers_and_their_options(daemon: Daemon, created: Created) -> None:
    # Checked at create: the driver's name, the option names, the mode options every driver takes.
    for args in (["--log-driver", "bogus"], ["--log-opt", "foo=bar"], ["--log-driver", "local", "--log-opt", "foo=1"],
                 ["--log-opt", "mode=sometimes"], ["--log-opt", "max-buffer-size=1m"]):
        same(daemon, "run", "--rm", *args, "busybox", "true")
    # Checked when the container starts: the values. It stays created, with 128 and the error.
    name = created.container()
    result = daemon.dockyard("run", "--name", name, "--log-opt", "max-size=abc", "busybox", "true")
    assert (result.returncode, result.stderr) == (125, b"dockyard: Error response from daemon: failed to initialize "
                                                       b"logging driver: invalid size: 'abc'\n\nRun 'dockyard run "
                                                       b"--help' for more information\n")
    same(daemon, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", name)
    # none keeps nothing to read; local keeps what `logs` reads back.
    for driver in ("none", "local"):
        name = created.container()
        assert daemon.ok("run", "--name", name, "--log-driver", driver, "busybox", "echo", "hi") == "hi\n"
        same(daemon, "logs", name)
        same(daemon, "inspect", "-f", "{{.HostConfig.LogConfig}} [{{.LogPath}}]", name)


def test_attach_shows_the_main_process_and_exec_starts_another(daemon: Daemon, created: Created) -> None:
    name = created.container()
    daemon.ok("run", "-d", "-i", "--name", name, "busybox", "sh", "-c", "echo main-$$; cat; echo main-done")
    attach = subprocess.Popen([*DOCKYARD, "attach", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=daemon.env())
    try:
        exec_out = daemon.ok("exec", name, "sh", "-c", "echo exec-$$")
        assert exec_out.startswith("exec-") and exec_out != "exec-1\n"  # not the main process
        out, _ = attach.communicate(b"typed-in\n", timeout=30)
    finally:
        if attach.poll() is None:
            attach.kill()
            attach.wait()
    assert out == b"typed-in\nmain-done\n"  # attach sees the main process's output from now on
    assert attach.returncode == 0
    assert daemon.ok("logs", name) == "main-1\ntyped-in\nmain-done\n"


def test_exec_options_and_status(daemon: Daemon, running: str) -> None:
    result = daemon.dockyard("exec", running, "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (result.returncode, result.stdout, result.stderr) == (4, b"out\n", b"err\n")
    assert daemon.ok("exec", "-e", "A=1", "-w", "/tmp", "-u", "1:1", running, "sh", "-c",
                     'echo $A $FOO $(pwd) $(id -u)') == "1 bar /tmp 1\n"
    assert daemon.ok("exec", "-i", running, "cat", input=b"piped\n") == "piped\n"
    assert daemon.ok("exec", "-d", running, "sh", "-c", "echo detached > /tmp/d") == ""
    time.sleep(0.3)
    assert daemon.ok("exec", running, "cat", "/tmp/d") == "detached\n"
    theirs = daemon.docker("exec", running, "nosuchcmd")
    ours = daemon.dockyard("exec", running, "nosuchcmd")
    assert ours.returncode == theirs.returncode and ours.returncode != 0
    same(daemon, "exec", running)
    same(daemon, "exec", "--foo", running, "true")


def test_top_diff_port(daemon: Daemon, running: str) -> None:
    daemon.ok("exec", running, "sh", "-c", "echo x > /tmp/new; rm -f /etc/hostname.bak")
    same(daemon, "diff", running)
    same(daemon, "port", running)
    same(daemon, "port", running, "80")
    same(daemon, "port", running, "81")
    out = daemon.ok("top", running)  # the C (cpu) column moves between two calls
    assert out.splitlines()[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert out.splitlines()[1].endswith("sleep 300")
    same(daemon, "top", running, "-o", "pid,comm")


def test_stats_no_stream(daemon: Daemon, running: str) -> None:
    out = daemon.ok("stats", "--no-stream", running).splitlines()
    assert out[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                              "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    assert out[1].split()[1] == running and out[1].split()[-1] == "1"
    same(daemon, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.Container}}", running)
    row = json.loads(daemon.ok("stats", "--no-stream", "--format", "json", running))
    assert set(row) == {"BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"}


def test_events(daemon: Daemon, created: Created) -> None:
    name = created.container()
    since = str(int(time.time()) - 1)
    daemon.ok("run", "--rm", "--name", name, "busybox", "true")
    time.sleep(1.1)
    until = str(int(time.time()))
    args = ["events", "--since", since, "--until", until, "--filter", f"container={name}"]
    out = same(daemon, *args)
    actions = [line.split()[2] for line in out.splitlines()]
    assert actions[:2] == ["create", "attach"] and "start" in actions and "destroy" in actions
    same(daemon, *args, "--format", "{{json .}}")
    same(daemon, *args, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    same(daemon, "events", "--format", "{{.Nope")
