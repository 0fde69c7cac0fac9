"""Re-record the corpus expectations against a real Docker daemon (Debian's docker.io, classic
builder): `python tests/build/record.py [case ...]` (all cases when none are named).

A private dockerd is started (tests/helpers/dockerd.py: own socket and data root, no bridge),
busybox is imported into it from the host's static busybox exactly as the tests import it into
dockyard, and each case is built with the real docker CLI and DOCKER_BUILDKIT=0: once with
--no-cache, then again to record what the cache does. The results are written into each case's
expected.json next to its hand-written `options` (see corpus.py). Network traffic stays on
loopback: base images are local, ADD <url> cases use a server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from dockyard.images.bootstrap import build_busybox_rootfs  # noqa: E402
from tests.build import corpus  # noqa: E402
from tests.helpers.dockerd import Dockerd, import_rootfs, running_dockerd  # noqa: E402


def docker_args(opts: dict[str, Any], context: Path, extra: dict[str, str], no_cache: bool, iidfile: Path,
                for_docker: bool = True) -> list[str]:
    """The docker CLI's arguments for a case (`for_docker`: Docker's own Dockerfile, if it has one)."""
    dockerfile = (opts.get("docker_dockerfile") if for_docker else None) or opts.get("dockerfile", "Dockerfile")
    args = ["build", "--iidfile", str(iidfile), "-f", str(context / dockerfile)]
    if no_cache:
        args.append("--no-cache")
    for key, value in {**opts.get("build_args", {}), **extra}.items():
        args += ["--build-arg", f"{key}={value}"]
    for key, value in opts.get("labels", {}).items():
        args += ["--label", f"{key}={value}"]
    for tag in opts.get("tags", []):
        args += ["-t", tag]
    if opts.get("target"):
        args += ["--target", opts["target"]]
    if opts.get("network"):
        args += ["--network", opts["network"]]
    return [*args, str(context)]


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    skip = ("DEPRECATED:", "BuildKit is currently disabled", "environment-variable.", "Install the buildx")
    lines = [line for line in lines if not any(line.strip().startswith(s) for s in skip)]
    return lines[-1] if lines else ""


def record_case(daemon: Dockerd, name: str, work: Path, base_tree: dict[str, Any]) -> dict[str, Any]:
    expected = corpus.load(name)
    opts = expected.get("options", {})
    context = corpus.prepare_context(name, work / name)
    iid = work / f"{name}.iid"
    with ExitStack() as stack:
        extra: dict[str, str] = {}
        if "http" in opts:
            url = stack.enter_context(corpus.http_server(opts["http"]["files"]))
            extra[opts["http"]["arg"]] = url
        first = daemon.docker(*docker_args(opts, context, extra, True, iid), timeout=600)
        out: dict[str, Any] = {"options": opts}
        output, stderr = corpus.split_output(first.stdout.decode(errors="replace"))
        out["output"], out["stderr"] = output, stderr
        if first.returncode != 0:
            out["result"] = "error"
            out["error"] = corpus.normalize_error(_error_line(first.stderr.decode(errors="replace")))
            out["exit_code"] = first.returncode
            return out
        out["result"] = "ok"
        image_id = iid.read_text().strip()
        archive = daemon.docker("save", image_id, timeout=300, check=True).stdout
        config, history, layers = corpus.normalize_config(corpus.config_of_archive(archive))
        out["config"], out["history"], out["layers"] = config, history, layers
        out["tree"] = corpus.tree_diff(base_tree, corpus.tree_of_archive(archive))
        iid2 = work / f"{name}.iid2"
        second = daemon.docker(*docker_args(opts, context, extra, False, iid2), timeout=600)
        if second.returncode != 0:
            raise RuntimeError(f"{name}: the rebuild failed: {second.stderr.decode()}")
        out["rebuild_output"] = corpus.split_output(second.stdout.decode(errors="replace"))[0]
        out["rebuild_same_id"] = iid2.read_text().strip() == image_id
        return out


def main(argv: list[str]) -> int:
    names = argv or corpus.cases()
    with tempfile.TemporaryDirectory(prefix="dockyard-record-") as tmp:
        work = Path(tmp)
        rootfs = build_busybox_rootfs(work / "busybox")
        busybox_tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        base_tree = corpus.tree_of_rootfs_tar(busybox_tar)
        with running_dockerd(work / "dockerd") as daemon:
            import_rootfs(daemon, rootfs, "busybox")
            version = daemon.docker("version", "--format", "{{.Server.Version}}", check=True).stdout.decode().strip()
            for name in names:
                result = record_case(daemon, name, work / "cases", base_tree)
                result["recorded_with"] = f"dockerd {version}, docker CLI, DOCKER_BUILDKIT=0"
                path = corpus.CORPUS / name / "expected.json"
                path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
                print(f"{name}: {result['result']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
