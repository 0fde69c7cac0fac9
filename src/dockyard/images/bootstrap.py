"""Offline base root filesystems: busybox from the host's static busybox (Debian's busybox-static).

No image can be pulled here, so the base image is made from what the host has: one static binary,
a symlink per applet, and the few files a shell and `id` expect. `bootstrap_busybox` imports that
tree into an image store as `busybox:latest`; `bootstrap_debian` runs debootstrap (minbase) from a
Debian mirror on this host, never from the network, and fails fast when there is none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dockyard.errors import NotFound, Unavailable

if TYPE_CHECKING:
    from dockyard.images.service import ImageService

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
audio:x:29:
users:x:100:
nogroup:x:65534:
"""


def find_static_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and _is_static(path):
            return path
    raise NotFound("no static busybox on this host: install Debian's busybox-static (apt-get install busybox-static)")


def _is_static(path: Path) -> bool:
    # An ELF file without a PT_INTERP program header needs no dynamic loader.
    with path.open("rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            return False
        phoff = int.from_bytes(header[32:40], "little")
        phentsize = int.from_bytes(header[54:56], "little")
        phnum = int.from_bytes(header[56:58], "little")
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(int.from_bytes(table[i * phentsize : i * phentsize + 4], "little") != 3 for i in range(phnum))


def build_busybox_rootfs(dest: Path) -> Path:
    """Fill `dest` (created if missing) with a busybox root filesystem and return it."""
    busybox = find_static_busybox()
    dest.mkdir(parents=True, exist_ok=True)
    for sub, mode in (("bin", 0o755), ("sbin", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755), ("etc", 0o755),
                      ("root", 0o700), ("home", 0o755), ("tmp", 0o1777), ("var/spool/mail", 0o755), ("var/www", 0o755),
                      ("proc", 0o555), ("sys", 0o555), ("dev", 0o755)):
        path = dest / sub
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    applets = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = dest / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(dest / "bin" / "busybox", link.parent), link)
    (dest / "etc" / "passwd").write_text(_PASSWD)
    (dest / "etc" / "group").write_text(_GROUP)
    (dest / "etc" / "shadow").write_text("root:*:10933:0:99999:7:::\n")
    (dest / "etc" / "shadow").chmod(0o600)
    (dest / "etc" / "hostname").write_text("")
    (dest / "etc" / "hosts").write_text("")
    (dest / "etc" / "resolv.conf").write_text("")
    (dest / "etc" / "localtime").touch()
    return dest


# --- base images in an image store -------------------------------------------------------------

# Where a Debian mirror may already be on this host (a directory with dists/<suite>/Release).
LOCAL_MIRROR_CANDIDATES = ("/srv/mirror/debian", "/srv/debian", "/var/www/html/debian", "/var/www/debian",
                           "/mnt/debian", "/media/cdrom", "/var/spool/apt-mirror/mirror/deb.debian.org/debian")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def _tar_rootfs(rootfs: Path, out: BinaryIO, mtime: int) -> None:
    """A layer tar of `rootfs`: sorted, owned by root, every mtime `mtime` (so the same host busybox
    always gives the same layer)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for top, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted([*dirs, *files]):
                path = Path(top) / name
                info = tf.gettarinfo(str(path), str(path.relative_to(rootfs)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = mtime
                if info.isreg():
                    with path.open("rb") as f:
                        tf.addfile(info, f)
                else:
                    tf.addfile(info)


def _import_dir(images: ImageService, rootfs: Path, repo: str, tag: str, cmd: str, mtime: int) -> str:
    with tempfile.TemporaryFile() as layer:
        _tar_rootfs(rootfs, layer, mtime)
        layer.seek(0)
        return images.import_rootfs(layer, repo=repo, tag=tag, changes=[f"CMD {cmd}"])


def bootstrap_busybox(images: ImageService) -> str:
    """Tag `busybox:latest` (CMD ["sh"]) made from the host's static busybox; its image id."""
    busybox = find_static_busybox()
    with tempfile.TemporaryDirectory(prefix="dockyard-busybox-") as tmp:
        rootfs = build_busybox_rootfs(Path(tmp) / "rootfs")
        return _import_dir(images, rootfs, "busybox", "latest", '["sh"]', int(busybox.stat().st_mtime))


def find_local_mirror(suite: str, mirror: str | None = None) -> str:
    """A Debian mirror this host can read without the network: `mirror` if given (a directory,
    file:// URL or a loopback http URL), else $DOCKYARD_DEBIAN_MIRROR, else a known local path.
    Unavailable, saying where it looked, when there is none."""
    candidates = [mirror] if mirror else [c for c in (os.environ.get("DOCKYARD_DEBIAN_MIRROR"),) if c] + list(
        LOCAL_MIRROR_CANDIDATES)
    for candidate in candidates:
        assert candidate is not None
        if candidate.startswith(("http://", "https://")):
            host = candidate.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0] if "]" not in candidate else \
                candidate.split("://", 1)[1].split("]", 1)[0] + "]"
            if host not in _LOOPBACK_HOSTS:
                raise Unavailable(f"bootstrap debian: refusing mirror {candidate}: dockyard bootstraps offline, "
                                  "from a mirror on this host only (a directory, file:// or http://127.0.0.1)")
            return candidate
        path = Path(candidate.removeprefix("file://"))
        if (path / "dists" / suite / "Release").is_file() or (path / "dists" / suite / "InRelease").is_file():
            return f"file://{path}"
    looked = ", ".join(c for c in candidates if c)
    raise Unavailable(f"bootstrap debian: no local Debian mirror with dists/{suite}/Release found "
                      f"(looked in {looked}); dockyard never downloads: pass mirror=/path/to/mirror "
                      "or set DOCKYARD_DEBIAN_MIRROR")


def bootstrap_debian(images: ImageService, suite: str = "bookworm", mirror: str | None = None) -> str:
    """Tag `debian:<suite>` (CMD ["bash"]) made by `debootstrap --variant=minbase` from a local
    mirror; its image id. Fails fast, before any work, when there is no debootstrap or no mirror."""
    if shutil.which("debootstrap") is None:
        raise NotFound("bootstrap debian: debootstrap is not installed (apt-get install debootstrap)")
    source = find_local_mirror(suite, mirror)
    with tempfile.TemporaryDirectory(prefix="dockyard-debian-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(["debootstrap", "--variant=minbase", suite, str(rootfs), source],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise Unavailable(f"bootstrap debian: debootstrap {suite} from {source} failed: " + " / ".join(tail))
        return _import_dir(images, rootfs, "debian", suite, '["bash"]', 0)
