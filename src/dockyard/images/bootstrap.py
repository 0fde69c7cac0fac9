"""Offline base root filesystems: busybox from the host's static busybox (Debian's busybox-static).

No image can be pulled here, so the base image is made from what the host has: one static binary,
a symlink per applet, and the few files a shell and `id` expect.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from dockyard.errors import NotFound

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
