"""Fixtures for the CLI tests: one daemon per module (see daemons.py for DOCKYARD_TEST_DAEMON),
busybox:latest made by `dockyard image bootstrap busybox`, and per-test cleanup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.daemons import Created, Daemon, running_daemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("daemon")) as d:
        result = d.dockyard("image", "bootstrap", "busybox", timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"dockyard image bootstrap busybox failed: {result.stderr.decode()}")
        yield d


@pytest.fixture
def created(daemon: Daemon) -> Iterator[Created]:
    made = Created(daemon)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture(scope="module")
def daemon_host(daemon: Daemon) -> str:
    """The address both CLIs use (-H / DOCKYARD_HOST / DOCKER_HOST): set DOCKYARD_TEST_DAEMON to
    `dockyardd` or to a running daemon's URL to point every CLI test at it."""
    return daemon.host
