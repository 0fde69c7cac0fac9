"""Fixtures for driving `dockyard-runtime` (and runc, to compare) on busybox bundles."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.default_spec import default_spec
from tests.runtime.test_cgroups_helpers import CgroupParents, Children

RUNTIME = str(Path(sys.executable).parent / "dockyard-runtime")


@dataclass
class Bundle:
    path: Path
    config: dict[str, Any]

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.config))
        return self

    @property
    def process(self) -> dict[str, Any]:
        process: dict[str, Any] = self.config["process"]
        return process

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config["linux"]
        return linux


@dataclass
class RuntimeCLI:
    """`dockyard-runtime` with its own --root; every container it made is force-deleted at teardown."""

    root: Path
    log: Path
    binary: str = RUNTIME

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 30, json_log: bool = False,
                 stdin: Any = None) -> subprocess.CompletedProcess[bytes]:
        extra = ["--log", str(self.log), "--log-format", "json"] if json_log else []
        argv = [self.binary, "--root", str(self.root), *extra, *args]
        # Files, not pipes: a created container's init holds the runtime's stdout/stderr open
        # until it exits, so reading pipes to EOF would wait for the container.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(argv, input=input, stdin=stdin, stdout=out, stderr=err, timeout=timeout, check=False)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())

    def ok(self, *args: str, **kw: Any) -> str:
        result = self(*args, **kw)
        assert result.returncode == 0, f"{args}: rc={result.returncode} stderr={result.stderr.decode()}"
        return result.stdout.decode()

    def state(self, container_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.ok("state", container_id))
        return doc

    def cleanup(self) -> None:
        if not self.root.exists():
            return
        for name in os.listdir(self.root):
            if not name.startswith("."):  # .seccomp-cache is the runtime's, not a container
                self("delete", "--force", name)


@pytest.fixture
def bundle(rootfs_copy: Path) -> Bundle:
    """A busybox bundle with runc's default config, no terminal, running `true`, in a unique cgroup."""
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["root"]["readonly"] = False
    spec["linux"]["cgroupsPath"] = f"/dockyard-test/{uuid.uuid4().hex[:12]}"
    return Bundle(rootfs_copy.parent, spec).write()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[RuntimeCLI]:
    cli = RuntimeCLI(tmp_path / "state", tmp_path / "runtime-log.json")
    try:
        yield cli
    finally:
        cli.cleanup()
        _assert_no_leftovers(cli)


def _assert_no_leftovers(cli: RuntimeCLI) -> None:
    left = [n for n in os.listdir(cli.root) if not n.startswith(".")] if cli.root.exists() else []
    assert left == [], f"state directories left behind: {left}"


@pytest.fixture(scope="session", autouse=True)
def _remove_test_cgroup_parents() -> Iterator[None]:
    yield
    # Each test removes its own cgroup; this removes the shared parent once it is empty (another
    # test run may still be using it, so a busy parent is left to that run).
    for top in Path("/sys/fs/cgroup").iterdir():
        parent = top / "dockyard-test"
        if parent.is_dir():
            try:
                os.rmdir(parent)
            except OSError as err:
                if err.errno != errno.EBUSY:
                    raise


def cgroup_dirs(cgroups_path: str) -> list[Path]:
    """Directories of this cgroup path that exist in any hierarchy."""
    return [top / cgroups_path.lstrip("/") for top in Path("/sys/fs/cgroup").iterdir()
            if (top / cgroups_path.lstrip("/")).is_dir()]


RunHelper = Callable[..., subprocess.CompletedProcess[bytes]]


def which_runc() -> str | None:
    return shutil.which("runc")


# -- cgroup manager tests (test_cgroups_v1/v2, test_devices_bpf) -------------------------------


@pytest.fixture
def parent() -> Iterator[CgroupParents]:
    """A unique parent cgroup in every hierarchy, removed after the test."""
    p = CgroupParents()
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture
def children(parent: CgroupParents) -> Iterator[Children]:
    # Depends on `parent` so that the processes are killed before the cgroups are removed.
    c = Children()
    try:
        yield c
    finally:
        c.kill_all()
