"""`dockyard build` against the daemon (POST /build, the classic builder's protocol), next to the
real `docker build` (DOCKER_BUILDKIT=0) on the same daemon."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.daemons import Created, Daemon, normalise, unique

DOCKERFILE = """FROM busybox
ARG GREETING=hello
LABEL stage=test
COPY hello.txt /hello.txt
RUN echo "$GREETING from RUN" && cat /hello.txt
CMD ["cat", "/hello.txt"]
"""


def _context(tmp_path: Path, dockerfile: str = DOCKERFILE) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "hello.txt").write_text("hi there\n")
    (ctx / ".dockerignore").write_text("secret\n")
    (ctx / "secret").write_text("not sent\n")
    return ctx


def _ids_blurred(text: str) -> str:
    # Image and container ids differ between two builds of the same thing only where a step ran.
    text = re.sub(r"\b[0-9a-f]{12}\b", "<id>", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith(("DEPRECATED", "   ")))


def test_build_then_run_and_rebuild_from_cache(daemon: Daemon, created: Created, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    tag = created.image(f"{unique('built')}:1")
    first = daemon.dockyard("build", "-t", tag, "--build-arg", "GREETING=howdy", str(ctx), timeout=120)
    assert first.returncode == 0, first.stderr.decode()
    out = first.stdout.decode()
    assert out.startswith("Sending build context to dockyard daemon  ")
    assert "Step 5/6 : RUN" in out and "howdy from RUN" in out and f"Successfully tagged {tag}" in out
    assert daemon.ok("run", "--rm", tag) == "hi there\n"
    assert daemon.ok("image", "inspect", "--format", "{{.Config.Labels.stage}}", tag) == "test\n"
    again = daemon.dockyard("build", "-t", tag, "--build-arg", "GREETING=howdy", str(ctx), timeout=120)
    assert again.stdout.decode().count("---> Using cache") == 5, again.stdout.decode()
    ours = _ids_blurred(again.stdout.decode())
    theirs = daemon.docker("build", "-t", tag, "--build-arg", "GREETING=howdy", str(ctx), timeout=120)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert ours == _ids_blurred(normalise(theirs.stdout))


def test_quiet_iidfile_and_dockerfile_from_stdin(daemon: Daemon, created: Created, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    tag = created.image(f"{unique('quiet')}:1")
    iid = tmp_path / "iid"
    result = daemon.dockyard("build", "-q", "--iidfile", str(iid), "-t", tag, str(ctx), timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    image_id = result.stdout.decode().strip()
    assert image_id.startswith("sha256:") and iid.read_text() == image_id
    piped = daemon.dockyard("build", "-q", "-", input=b"FROM busybox\nENV FROM_STDIN=1\n", timeout=120)
    assert piped.returncode == 0, piped.stderr.decode()
    created.image(piped.stdout.decode().strip())


def test_a_failing_run_exits_with_its_code(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo before; exit 7\n")
    ours = daemon.dockyard("build", str(ctx), timeout=120)
    theirs = daemon.docker("build", str(ctx), timeout=120)
    assert ours.returncode == theirs.returncode == 7
    assert b"The command '/bin/sh -c echo before; exit 7' returned a non-zero code: 7" in ours.stderr
    assert b"before" in ours.stdout


def test_bad_dockerfile_and_context(daemon: Daemon, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUNN x\n")
    ours = daemon.dockyard("build", str(ctx))
    theirs = daemon.docker("build", str(ctx))
    assert ours.returncode == theirs.returncode == 1
    assert normalise(theirs.stderr).strip().endswith(ours.stderr.decode().strip())
    assert b"unknown instruction: RUNN" in ours.stderr
    missing = daemon.dockyard("build", str(tmp_path / "nope"))
    assert missing.returncode == 1 and b"unable to prepare context" in missing.stderr
    no_file = daemon.dockyard("build", "-f", "Nope.dockerfile", str(ctx))
    assert no_file.returncode == 1 and b"no such file or directory" in no_file.stderr


def test_dockerfile_outside_the_context(daemon: Daemon, created: Created, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\nCOPY hello.txt /copied\nRUN test ! -e /secret && cat /copied\n")
    tag = created.image(f"{unique('outside')}:1")
    result = daemon.dockyard("build", "-f", str(outside), "-t", tag, str(ctx), timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert "hi there" in result.stdout.decode()
