"""`image bootstrap busybox|debian`: dockyard's own verb for an offline base image.

The root filesystem is built here, on the client, from what the host has (Debian's
busybox-static; debootstrap from a local mirror for debian), written as one tar stream and
imported with POST /images/create?fromSrc=- and `CMD ["sh"]` (`["bash"]`), tagged busybox:latest
(debian:<suite>). It reuses the tree the daemon-side bootstrap makes
(`dockyard.images.bootstrap.build_busybox_rootfs`, stdlib only and imported only by this verb) and
writes the same layer: sorted entries, owned by root, every mtime the busybox binary's, so
bootstrapping twice gives the same layer digest.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.errors import CLIError
from dockyard.cli.flags import Command, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterator

    from dockyard.cli.client import Client

BOOTSTRAP = Command("bootstrap [OPTIONS] busybox|debian", "Build a base image (busybox, debian) from this host, offline",
                    [
                        str_flag("tag", "t", "Name and tag of the image (default busybox:latest, debian:<suite>)"),
                        str_flag("suite", "", "Debian suite for `debian`", "bookworm"),
                        str_flag("mirror", "", "A Debian mirror on this host (a directory, file:// or a loopback "
                                 "http:// URL); default $DOCKYARD_DEBIAN_MIRROR or a known local path"),
                    ], min_args=1, max_args=1)


def tar_tree(root: str, mtime: int) -> Iterator[bytes]:
    """A layer tar of `root` (sorted, root-owned, one mtime), streamed through a pipe."""
    from dockyard.cli.commands.files import piped_tar

    def add(tf: tarfile.TarFile) -> None:
        for top, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted([*dirs, *files]):
                path = os.path.join(top, name)
                info = tf.gettarinfo(path, os.path.relpath(path, root))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = mtime
                if info.isreg():
                    with open(path, "rb") as f:
                        tf.addfile(info, f)
                else:
                    tf.addfile(info)

    return piped_tar(add, "bootstrap: cannot archive the root filesystem")


def _import(client: Client, root: str, mtime: int, repo: str, tag: str, cmd: str) -> None:
    from dockyard.cli.commands.transfer import print_messages
    query = [("fromSrc", "-"), ("repo", repo), ("tag", tag), ("changes", f"CMD {cmd}"),
             ("message", f"dockyard image bootstrap {repo}")]
    resp = client.request("POST", "/images/create", query, tar_tree(root, mtime), {"Content-Type": "application/x-tar"})
    print_messages(client, resp)
    sys.stdout.write(f"Tagged {repo}:{tag}\n")


def bootstrap(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = BOOTSTRAP.parse(prog, argv)
    import tempfile

    from dockyard.errors import DockyardError
    from dockyard.images import bootstrap as base
    kind = args[0]
    if kind not in ("busybox", "debian"):
        raise CLIError(f'unknown base image "{kind}": dockyard can bootstrap "busybox" or "debian"')
    tag_ref = opts.text("tag")
    from dockyard.cli.commands.images import split_tag
    try:
        if kind == "busybox":
            busybox = base.find_static_busybox()
            repo, tag = split_tag(tag_ref) if tag_ref else ("busybox", "latest")
            with tempfile.TemporaryDirectory(prefix="dockyard-bootstrap-") as tmp:
                root = str(base.build_busybox_rootfs(__import__("pathlib").Path(tmp) / "rootfs"))
                _import(client, root, int(busybox.stat().st_mtime), repo, tag or "latest", '["sh"]')
            return 0
        import shutil
        import subprocess
        suite = opts.text("suite")
        if shutil.which("debootstrap") is None:
            raise CLIError("bootstrap debian: debootstrap is not installed (apt-get install debootstrap)")
        source = base.find_local_mirror(suite, opts.text("mirror") or None)
        repo, tag = split_tag(tag_ref) if tag_ref else ("debian", suite)
        with tempfile.TemporaryDirectory(prefix="dockyard-bootstrap-") as tmp:
            root = os.path.join(tmp, "rootfs")
            result = subprocess.run(["debootstrap", "--variant=minbase", suite, root, source],
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
                raise CLIError(f"bootstrap debian: debootstrap {suite} from {source} failed: " + " / ".join(tail))
            _import(client, root, 0, repo, tag or suite, '["bash"]')
        return 0
    except DockyardError as e:
        raise CLIError(str(e).replace("pass mirror=/path/to/mirror", "pass --mirror /path/to/mirror")) from None
