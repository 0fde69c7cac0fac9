"""A terminal in front of `dockyard`: -it, window size and SIGWINCH, ctrl-p ctrl-q, attach, exec -it."""

from __future__ import annotations

import time

from tests.cli.daemons import DOCKYARD, Created, Daemon
from tests.cli.ptydrive import PtySession


def session(daemon: Daemon, *args: str, rows: int = 24, cols: int = 80) -> PtySession:
    return PtySession([*DOCKYARD, *args], daemon.env(), rows, cols)


def test_run_it_is_a_terminal_of_our_size(daemon: Daemon) -> None:
    s = session(daemon, "run", "--rm", "-it", "busybox", "sh", rows=33, cols=101)
    try:
        s.expect(b"# ")
        s.send(b"tty; stty size; echo $((6*7))\r")
        s.expect(b"42")
        assert b"/dev/pts/" in s.output
        assert b"33 101" in s.output
        s.resize(40, 120)
        s.send(b"sleep 0.5; stty size\r")
        s.expect(b"40 120")
        s.send(b"exit 5\r")
        assert s.wait() == 5
    finally:
        s.close()


def test_ctrl_c_reaches_the_container_not_the_client(daemon: Daemon) -> None:
    s = session(daemon, "run", "--rm", "-it", "busybox", "sh")
    try:
        s.expect(b"# ")
        s.send(b"sleep 60\r")
        time.sleep(0.5)
        s.send(b"\x03")  # ^C is a byte in raw mode: the container's tty turns it into SIGINT
        s.send(b"echo after-$((1+1))\r")
        s.expect(b"after-2")
        s.send(b"exit\r")
        assert s.wait() == 0
    finally:
        s.close()


def test_detach_keys_then_attach(daemon: Daemon, created: Created) -> None:
    name = created.container()
    s = session(daemon, "run", "-it", "--name", name, "busybox", "sh")
    try:
        s.expect(b"# ")
        s.send(b"echo first\r")
        s.expect(b"first")
        s.send(b"\x10\x11")  # ctrl-p ctrl-q
        assert s.wait() == 0
    finally:
        s.close()
    assert daemon.ok("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
    a = session(daemon, "attach", name)
    try:
        time.sleep(0.3)
        a.send(b"echo attached-$((2+3))\r")
        a.expect(b"attached-5")
        a.send(b"exit 3\r")
        assert a.wait() == 3
    finally:
        a.close()


def test_custom_detach_keys_and_attach_detach_message(daemon: Daemon, created: Created) -> None:
    name = created.container()
    s = session(daemon, "run", "-it", "--detach-keys", "ctrl-x,x", "--name", name, "busybox", "sh")
    try:
        s.expect(b"# ")
        s.send(b"\x10\x11echo still-here\r")  # the default keys are plain input now
        s.expect(b"still-here")
        s.send(b"\x18x")
        assert s.wait() == 0
    finally:
        s.close()
    a = session(daemon, "attach", name)
    try:
        time.sleep(0.3)
        a.send(b"\x10\x11")
        assert a.wait() == 1
        assert b"read escape sequence" in a.output
    finally:
        a.close()


def test_exec_it(daemon: Daemon, created: Created) -> None:
    name = created.container()
    daemon.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    s = session(daemon, "exec", "-it", name, "sh", rows=20, cols=70)
    try:
        s.expect(b"# ")
        s.send(b"stty size; tty; exit 4\r")
        assert s.wait() == 4
        assert b"20 70" in s.output and b"/dev/pts/" in s.output
    finally:
        s.close()


def test_start_attach_interactive(daemon: Daemon, created: Created) -> None:
    name = created.container()
    daemon.ok("create", "-it", "--name", name, "busybox", "sh")
    s = session(daemon, "start", "-ai", name)
    try:
        time.sleep(0.3)
        s.send(b"echo started-ok\r")
        s.expect(b"started-ok")
        s.send(b"exit 6\r")
        assert s.wait() == 6
    finally:
        s.close()
