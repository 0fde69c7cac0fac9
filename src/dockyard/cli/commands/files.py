"""cp, diff, export, commit: a container's filesystem.

`cp` follows docker's archive rules (moby's archive.CopyTo / PrepareArchiveCopy): the tar from
GET /containers/{id}/archive is renamed so that the copy takes the destination's name when the
destination does not exist (or is a file), and is extracted into it when it is a directory; the
other way, the local path is tarred under its base name, renamed the same way, and PUT into the
destination directory. Tars stream both ways (a thread writes the upload into a pipe). `-` on
either side means a tar on stdin/stdout, untouched.

Extraction never leaves the destination directory: absolute names, `..` components, and entries
beneath a symlink the archive made are refused (Python 3.11.2 has no tarfile extraction filters).
"""

from __future__ import annotations

import os
import sys

from dockyard.cli import format as fmt
from dockyard.cli import jsonio
from dockyard.cli.client import Response, quote
from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable, Iterator
    from typing import Any

    from dockyard.cli.client import Client

CP = Command("cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdockyard cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
             "Copy files/folders between a container and the local filesystem", [
                 bool_flag("archive", "a", "Archive mode (copy all uid/gid information)"),
                 bool_flag("follow-link", "L", "Always follow symlinks in SRC_PATH"),
                 bool_flag("quiet", "q", "Suppress progress output during copy. Progress output is automatically "
                           "suppressed if no terminal is attached"),
             ], min_args=2, max_args=2, aliases="dockyard container cp, dockyard cp")
DIFF = Command("diff CONTAINER", "Inspect changes to files or directories on a container's filesystem", [],
               min_args=1, max_args=1, aliases="dockyard container diff, dockyard diff")
EXPORT = Command("export [OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", [
    str_flag("output", "o", "Write to a file, instead of STDOUT"),
], min_args=1, max_args=1, aliases="dockyard container export, dockyard export")
COMMIT = Command("commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", [
    str_flag("author", "a", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
    list_flag("change", "c", "Apply Dockerfile instruction to the created image"),
    str_flag("message", "m", "Commit message"),
    bool_flag("pause", "p", "Pause container during commit", default=True),
    bool_flag("no-pause", "", "Disable pausing container during commit", hidden=True),
], min_args=1, max_args=2, aliases="dockyard container commit, dockyard commit")

MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27


class ResponseReader:
    """A file-like `read` over a streamed response, for tarfile's stream mode."""

    __slots__ = ("buf", "chunks")

    def __init__(self, resp: Response) -> None:
        self.chunks = resp.chunks()
        self.buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buf) < size:
            piece = next(self.chunks, b"")
            if not piece:
                break
            self.buf += piece
        if size < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:size], self.buf[size:]
        return data


def split_cp_arg(arg: str) -> tuple[str, str]:
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """archive.SplitPathDirEntry: (dir, base) of the cleaned path; `x/.` keeps `.` as its base."""
    cleaned = os.path.normpath(path)
    if (path.endswith(("/.", "/")) and path.endswith("/.")) or path == ".":
        cleaned = cleaned.rstrip("/") + "/."
    return os.path.dirname(cleaned) or ".", os.path.basename(cleaned)


def _rebased(name: str, old: str, new: str) -> str:
    if name == old or name.startswith(old + "/"):
        return new + name[len(old):]
    if old == "." and not name.startswith("/"):
        return new + "/" + name.removeprefix("./") if name not in (".", "./") else new
    return name


def _stat_header(resp: Response) -> dict[str, Any]:
    raw = resp.headers.get("x-docker-container-path-stat", "")
    if not raw:
        return {}
    import base64
    try:
        return dict(jsonio.loads(base64.b64decode(raw)))
    except (ValueError, TypeError):
        return {}


def _safe_extract(archive: tarfile.TarFile, dest: str, rename: tuple[str, str] | None, archive_mode: bool) -> int:
    """Extract a stream-mode tar into `dest`, renaming the top entry; the bytes of regular files."""
    import tarfile
    total = 0
    made_links: set[str] = set()
    root = os.path.realpath(dest)
    for member in archive:
        name = member.name
        if rename is not None:
            name = _rebased(name, *rename)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or ".." in parts:
            raise CLIError(f"refusing to extract {member.name!r}: it would land outside {dest}")
        if not parts:
            continue
        target = os.path.join(root, *parts)
        for i in range(1, len(parts)):
            if os.path.join(*parts[:i]) in made_links or os.path.islink(os.path.join(root, *parts[:i])):
                raise CLIError(f"refusing to extract {member.name!r}: a parent is a symbolic link")
        if member.isdir():
            if not os.path.isdir(target) or os.path.islink(target):
                if os.path.lexists(target):
                    os.unlink(target)
                os.mkdir(target, 0o700)
        elif member.isreg():
            if os.path.lexists(target) and (os.path.isdir(target) and not os.path.islink(target)):
                raise CLIError(f"cannot overwrite directory {target!r} with non-directory")
            if os.path.islink(target):
                os.unlink(target)
            source = archive.extractfile(member)
            assert source is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                while True:
                    block = source.read(1 << 20)
                    if not block:
                        break
                    out.write(block)
                    total += len(block)
        elif member.issym():
            if os.path.lexists(target):
                os.unlink(target)
            os.symlink(member.linkname, target)
            made_links.add(os.path.join(*parts))
        elif member.islnk():
            link_parts = [p for p in _rebased(member.linkname, *rename).split("/") if p not in ("", ".")] \
                if rename else [p for p in member.linkname.split("/") if p not in ("", ".")]
            if ".." in link_parts or member.linkname.startswith("/"):
                raise CLIError(f"refusing to extract hard link {member.name!r} to {member.linkname!r}")
            if os.path.lexists(target):
                os.unlink(target)
            os.link(os.path.join(root, *link_parts), target, follow_symlinks=False)
        elif member.type in (tarfile.FIFOTYPE,):
            os.mkfifo(target, member.mode & 0o7777)
        else:
            continue  # devices need privileges docker's client does not use either
        if not member.issym():
            os.chmod(target, member.mode & 0o7777)
        try:
            if archive_mode and os.geteuid() == 0:
                os.lchown(target, member.uid, member.gid)
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
        except OSError:
            pass
    return total


def _copy_from(client: Client, container: str, src: str, dst: str, follow: bool, archive_mode: bool,
               quiet: bool) -> int:
    rebase = ""
    if follow:
        head = client.request("HEAD", f"/containers/{quote(container)}/archive", {"path": src}, check=False)
        head.read()
        stat = _stat_header(head)
        if head.status < 300 and int(stat.get("mode", 0)) & MODE_SYMLINK:
            link = str(stat.get("linkTarget", ""))
            if not link.startswith("/"):
                link = os.path.join(split_path_dir_entry(src)[0], link)
            rebase = split_path_dir_entry(src)[1]
            src = link
    if dst != "-":
        local = os.path.abspath(dst) + ("/." if dst.endswith("/.") else "/" if dst.endswith("/") else "")
        parent = os.path.dirname(os.path.normpath(local))
        if not os.path.isdir(parent):
            raise CLIError(f'invalid output path: directory "{parent}" does not exist')
        dst = local
    resp = client.request("GET", f"/containers/{quote(container)}/archive", {"path": src})
    if dst == "-":
        from dockyard.cli.stream import write_all
        for chunk in resp.chunks():
            write_all(1, chunk)
        return 0
    stat = _stat_header(resp)
    src_is_dir = bool(int(stat.get("mode", 0)) & MODE_DIR)
    src_base = split_path_dir_entry(src)[1]
    plain = os.path.normpath(dst)
    dst_exists = os.path.exists(plain)
    dst_dir, dst_base = split_path_dir_entry(dst)
    rename: tuple[str, str] | None
    if dst_exists and os.path.isdir(plain):
        extract_to, rename = plain, ((src_base, rebase) if rebase else None)
    elif dst_exists and src_is_dir:
        resp.close()
        raise CLIError("cannot copy directory")
    elif not dst_exists and not src_is_dir and dst.endswith(("/", "/.")):
        resp.close()
        raise CLIError("no such directory")
    else:
        extract_to, rename = dst_dir, (src_base, dst_base)
    import tarfile
    with tarfile.open(fileobj=ResponseReader(resp), mode="r|") as archive:  # type: ignore[call-overload]
        copied = _safe_extract(archive, extract_to, rename, archive_mode)
    if not quiet:
        size = copied if src_is_dir else int(stat.get("size", copied))
        sys.stderr.write(f"Successfully copied {fmt.human_size(size)} to {dst}\n")
    return 0


def piped_tar(add: Callable[[tarfile.TarFile], None], error: str) -> Iterator[bytes]:
    """A tar stream filled by `add` in a thread and read here in pieces through a pipe, so an
    archive of any size goes out as a request body without being held in memory."""
    import tarfile
    import threading
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out, tarfile.open(fileobj=out, mode="w|",
                                                                  format=tarfile.PAX_FORMAT) as tar:
                add(tar)
        except BaseException as e:
            failure.append(e)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    with os.fdopen(read_fd, "rb") as pipe:
        while True:
            piece = pipe.read(1 << 20)
            if not piece:
                break
            yield piece
    worker.join()
    if failure:
        raise CLIError(f"{error}: {failure[0]}")


def _tar_stream(src: str, arcname: str) -> Iterator[bytes]:
    """A tar of `src` named `arcname`."""
    return piped_tar(lambda tar: tar.add(src, arcname=arcname, recursive=True), f"cannot archive {src}")


def _copy_to(client: Client, container: str, src: str, dst: str, follow: bool, archive_mode: bool,
             quiet: bool) -> int:
    dst_path = dst
    dst_exists = dst_is_dir = False
    head = client.request("HEAD", f"/containers/{quote(container)}/archive", {"path": dst}, check=False)
    head.read()
    if head.status < 300:
        stat = _stat_header(head)
        mode = int(stat.get("mode", 0))
        if mode & MODE_SYMLINK:
            link = str(stat.get("linkTarget", ""))
            dst_path = link if link.startswith("/") else os.path.join(split_path_dir_entry(dst)[0], link)
            head = client.request("HEAD", f"/containers/{quote(container)}/archive", {"path": dst_path}, check=False)
            head.read()
            mode = int(_stat_header(head).get("mode", 0)) if head.status < 300 else 0
        if head.status < 300:
            dst_exists, dst_is_dir = True, bool(mode & MODE_DIR)
    query = {"path": "", "noOverwriteDirNonDir": "true", "copyUIDGID": "true" if archive_mode else None}
    if src == "-":
        if not dst_is_dir:
            raise CLIError(f'destination "{container}:{dst}" must be a directory')
        query["path"] = dst_path
        client.request("PUT", f"/containers/{quote(container)}/archive", query, sys.stdin.buffer,
                       {"Content-Type": "application/x-tar"}).read()
        return 0
    local = os.path.abspath(src) + ("/." if src.endswith("/.") else "")
    link_name = ""
    if follow and os.path.islink(local):
        link_name = os.path.basename(local)  # the copy keeps the link's name (docker's RebaseName)
        local = os.path.realpath(local)
    if not os.path.lexists(local.removesuffix("/.")):
        raise CLIError(f"lstat {local}: no such file or directory")
    src_is_dir = os.path.isdir(local)
    src_dir, src_base = split_path_dir_entry(local)
    tar_path = os.path.join(src_dir, src_base) if src_base != "." else local.removesuffix("/.")
    dst_dir, dst_base = split_path_dir_entry(dst_path)
    if dst_exists and dst_is_dir:
        put_dir, name = dst_path, link_name or (os.path.basename(local) if src_base != "." else ".")
    elif dst_exists and src_is_dir:
        raise CLIError("cannot copy directory")
    elif not dst_exists and not src_is_dir and dst_path.endswith(("/", "/.")):
        raise CLIError("no such directory")
    else:
        put_dir, name = dst_dir, dst_base
    size = 0
    if os.path.isdir(tar_path):
        for top, _dirs, files in os.walk(tar_path):
            for f in files:
                path = os.path.join(top, f)
                if os.path.isfile(path) and not os.path.islink(path):
                    size += os.path.getsize(path)
    elif os.path.isfile(tar_path):
        size = os.path.getsize(tar_path)
    query["path"] = put_dir
    client.request("PUT", f"/containers/{quote(container)}/archive", query, _tar_stream(tar_path, name),
                   {"Content-Type": "application/x-tar"}).read()
    if not quiet:
        sys.stderr.write(f"Successfully copied {fmt.human_size(size)} to {container}:{dst_path}\n")
    return 0


def cp(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = CP.parse(prog, argv)
    if not args[0]:
        raise CLIError("source can not be empty")
    if not args[1]:
        raise CLIError("destination can not be empty")
    quiet = opts.on("quiet") if opts.changed("quiet") else not os.isatty(1)
    src_container, src = split_cp_arg(args[0])
    dst_container, dst = split_cp_arg(args[1])
    if src_container and dst_container:
        raise CLIError("copying between containers is not supported")
    if src_container:
        return _copy_from(client, src_container, src, dst, opts.on("follow-link"), opts.on("archive"), quiet)
    if dst_container:
        return _copy_to(client, dst_container, src, dst, opts.on("follow-link"), opts.on("archive"), quiet)
    raise CLIError("must specify at least one container source")


def diff(client: Client, prog: str, argv: list[str]) -> int:
    _, args = DIFF.parse(prog, argv)
    changes = client.get(f"/containers/{quote(args[0])}/changes") or []
    kinds = {0: "C", 1: "A", 2: "D"}
    sys.stdout.write("".join(f"{kinds.get(c.get('Kind'), '?')} {c.get('Path')}\n" for c in changes))
    return 0


def refuse_terminal() -> None:
    if os.isatty(1):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")


def write_stream(resp: Response, output: str) -> None:
    """The body to `output` (a file, written to a temp name and renamed) or to stdout."""
    from dockyard.cli.stream import write_all
    if not output:
        for chunk in resp.chunks():
            write_all(1, chunk)
        return
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        resp.close()
        raise CLIError(f'failed to save image: invalid output path: directory "{directory}" does not exist')
    temp = f"{output}.dockyard-{os.getpid()}.tmp"
    try:
        with open(temp, "wb") as f:
            for chunk in resp.chunks():
                f.write(chunk)
        os.replace(temp, output)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def export(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = EXPORT.parse(prog, argv)
    output = opts.text("output")
    if not output:
        refuse_terminal()
    resp = client.request("GET", f"/containers/{quote(args[0])}/export")
    write_stream(resp, output)
    return 0


def commit(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = COMMIT.parse(prog, argv)
    from dockyard.cli.commands.images import split_tag
    repo, tag = split_tag(args[1]) if len(args) > 1 else ("", "")
    query: list[tuple[str, str]] = [("container", args[0])]
    if repo:
        query += [("repo", repo), ("tag", tag)]
    if opts.text("message"):
        query.append(("comment", opts.text("message")))
    if opts.text("author"):
        query.append(("author", opts.text("author")))
    query += [("changes", change) for change in opts.values("change")]
    query.append(("pause", "1" if opts.on("pause") and not opts.on("no-pause") else "0"))
    result = client.post_json("/commit", query, {})
    sys.stdout.write(f"{result.get('Id', '')}\n")
    return 0
