"""The Dockerfile corpus: cases, how a case's context is laid out, and how a build's results are
reduced to what Docker and dockyard must agree on. Shared by record.py (which builds each case
with Debian's dockerd and the real docker CLI, DOCKER_BUILDKIT=0) and test_corpus.py (which builds
it with dockyard's builder and compares).

A case is a directory under corpus/: the Dockerfile and the context files, and expected.json
holding the case's `options` (written by hand) and the results recorded from Docker. Options:

    dockerfile          -f (relative to the context), default "Dockerfile"
    docker_dockerfile   what Docker builds instead, for cases using syntax Docker 20.10's classic
                        builder lacks (heredocs, --chmod, --link): an equivalent Dockerfile
    build_args, labels, tags, target, network     as `docker build` takes them
    prepare             {"chmod": {path: "0600"}, "mkdir": [path], "symlink": {path: target},
                         "hardlink": {path: existing}, "write": {path: text}} applied to the copy
                        of the context (git keeps neither modes nor empty directories)
    http                {"arg": "BASE", "files": {name: text}}: a loopback HTTP server is started
                        and its URL passed as the build argument `arg`
    compare             which results must match (default: all of COMPARE)
    note                why a case differs from the default

Recorded: `result` ("ok" or "error"), `error` and `exit_code`, `output` (the build's stdout
transcript with ids replaced by <id>, stderr text removed), `stderr` (what RUNs wrote to stderr),
`config` (the image config without times and ids), `history`, `layers` (how many), `tree` (the
final image's files that differ from the busybox base: type, mode, owner, size, content digest or
link target, and the base paths removed), `rebuild_output` and `rebuild_same_id` (a second build
without --no-cache).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
COMPARE = ("config", "history", "layers", "tree", "output", "stderr", "error", "rebuild")
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"

_IDS = [
    (re.compile(r"^( ---> (?:Running in )?)[0-9a-f]{12}$"), r"\1<id>"),
    (re.compile(r"^(Removing intermediate container )[0-9a-f]{12}$"), r"\1<id>"),
    (re.compile(r"^(Successfully built )[0-9a-f]{12}$"), r"\1<id>"),
]
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_RED = re.compile(r"\x1b\[91m(.*?)\x1b\[0m", re.S)


def cases() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").exists())


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / name / "expected.json").read_text())
    return data


def options(name: str) -> dict[str, Any]:
    opts: dict[str, Any] = load(name).get("options", {})
    return opts


def prepare_context(name: str, dest: Path) -> Path:
    """A copy of the case's context (without expected.json) with `prepare` applied."""
    src = CORPUS / name
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("expected.json"))
    prep = options(name).get("prepare", {})
    for path, text in prep.get("write", {}).items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(text)
    for path in prep.get("mkdir", []):
        (dest / path).mkdir(parents=True, exist_ok=True)
    for path, target in prep.get("symlink", {}).items():
        os.symlink(target, dest / path)
    for path, existing in prep.get("hardlink", {}).items():
        os.link(dest / existing, dest / path)
    for path, mode in prep.get("chmod", {}).items():
        os.chmod(dest / path, int(mode, 8))
    # the same mtimes wherever the case is built (they do not take part in any comparison, but
    # they make layer contents reproducible)
    for top, dirs, files in os.walk(dest):
        for entry in dirs + files:
            os.utime(os.path.join(top, entry), (1_600_000_000, 1_600_000_000), follow_symlinks=False)
    return dest


# --- output ------------------------------------------------------------------------------------


def split_output(stream_text: str) -> tuple[list[str], str]:
    """(the stdout transcript as normalized lines, the text RUNs wrote to stderr)."""
    stderr = "".join(_RED.findall(stream_text))
    stdout = _RED.sub("", stream_text)
    lines = []
    for line in stdout.split("\n"):
        if line.startswith("Sending build context to Docker daemon"):
            continue
        for pattern, repl in _IDS:
            line = pattern.sub(repl, line)
        lines.append(_PORT.sub("127.0.0.1:<port>", line))
    while lines and lines[-1] == "":
        lines.pop()
    return lines, stderr


def normalize_error(message: str) -> str:
    return _PORT.sub("127.0.0.1:<port>", message.strip().removeprefix("Error response from daemon: "))


# --- image config ------------------------------------------------------------------------------


def normalize_config(raw: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(config fields that must match, history entries, number of layers)."""
    container = raw.get("container", "")

    def container_config(c: dict[str, Any] | None) -> dict[str, Any] | None:
        if c is None:
            return None
        c = dict(c)
        if c.get("Cmd"):
            c["Cmd"] = [_PORT.sub("127.0.0.1:<port>", part) for part in c["Cmd"]]
        if c.get("Image"):
            c["Image"] = "<image>"
        if c.get("Hostname") and container and c["Hostname"] == container[:12]:
            c["Hostname"] = "<container>"
        return c

    config = {
        "architecture": raw.get("architecture"),
        "os": raw.get("os"),
        "author": raw.get("author", ""),
        "container": "<container>" if container else "",
        "config": container_config(raw.get("config")),
        "container_config": container_config(raw.get("container_config")),
    }
    history = [{"created_by": _PORT.sub("127.0.0.1:<port>", h.get("created_by", "")),
                "empty_layer": h.get("empty_layer", False),
                "author": h.get("author", ""), "comment": h.get("comment", "")} for h in raw.get("history", [])]
    return config, history, len(raw.get("rootfs", {}).get("diff_ids", []))


# --- file trees --------------------------------------------------------------------------------

_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
          tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def _apply_layer(tree: dict[str, dict[str, Any]], layer: tarfile.TarFile) -> None:
    for m in layer:
        path = "/" + m.name.strip("/").removeprefix("./") if m.name.strip("/") not in ("", ".") else "/"
        base = os.path.basename(path)
        parent = os.path.dirname(path)
        if base == ".wh..wh..opq":
            for key in [k for k in tree if k.startswith(parent.rstrip("/") + "/")]:
                del tree[key]
            continue
        if base.startswith(".wh."):
            gone = os.path.join(parent, base[4:])
            for key in [k for k in tree if k == gone or k.startswith(gone + "/")]:
                del tree[key]
            continue
        kind = _KINDS.get(m.type, "other")
        entry: dict[str, Any] = {"type": kind, "mode": oct(m.mode & 0o7777), "uid": m.uid, "gid": m.gid}
        if kind == "file":
            f = layer.extractfile(m)
            data = f.read() if f is not None else b""
            entry["size"] = len(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            if len(data) <= 200:
                try:
                    entry["text"] = data.decode()
                except UnicodeDecodeError:
                    pass
        elif kind in ("symlink", "hardlink"):
            entry["link"] = m.linkname if kind == "symlink" else "/" + m.linkname.strip("/")
        elif kind in ("char", "block"):
            entry["dev"] = [m.devmajor, m.devminor]
        if kind == "hardlink":
            target = tree.get(entry["link"])
            if target is not None and target["type"] == "file":
                entry = {**target, "hardlink": entry["link"]}
        existing = tree.get(path)
        if existing is not None and existing["type"] != "dir" and kind == "dir":
            for key in [k for k in tree if k.startswith(path + "/")]:
                del tree[key]
        if existing is not None and existing["type"] == "dir" and kind != "dir":
            for key in [k for k in tree if k.startswith(path + "/")]:
                del tree[key]
        tree[path] = entry


def tree_of_archive(archive: bytes, image: str | None = None) -> dict[str, dict[str, Any]]:
    """The merged file tree of an image in a docker-archive (`docker save`)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        entry = manifest[0]
        tree: dict[str, dict[str, Any]] = {}
        for name in entry["Layers"]:
            member = tf.getmember(name)
            if member.issym():
                member = tf.getmember(os.path.normpath(os.path.join(os.path.dirname(name), member.linkname)))
            data = tf.extractfile(member).read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                _apply_layer(tree, layer)
        return tree


def config_of_archive(archive: bytes) -> dict[str, Any]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config: dict[str, Any] = json.loads(tf.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        return config


def tree_of_rootfs_tar(data: bytes) -> dict[str, dict[str, Any]]:
    tree: dict[str, dict[str, Any]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
        _apply_layer(tree, layer)
    return tree


def tree_diff(base: dict[str, dict[str, Any]], tree: dict[str, dict[str, Any]]) -> dict[str, Any]:
    changed = {path: entry for path, entry in sorted(tree.items()) if base.get(path) != entry}
    deleted = sorted(path for path in base if path not in tree)
    return {"changed": changed, "deleted": deleted}


# --- a loopback HTTP server for ADD <url> ------------------------------------------------------


@contextmanager
def http_server(files: dict[str, str]) -> Iterator[str]:
    """Serve `files` on 127.0.0.1 (any free port) with a fixed Last-Modified; yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.lstrip("/").split("?", 1)[0]
            if name not in files:
                self.send_error(404)
                return
            body = files[name].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
