"""Idmapped bind mounts (mount option "idmap"/"ridmap" with uidMappings/gidMappings on the mount).

Facts:
- An idmapped mount shows files through a user namespace's id mapping: with containerID 0 ->
  hostID 1000, files owned by host uid 1000 appear owned by 0 under that mount (and writes by 0
  land as 1000). Linux >= 5.12, for filesystems that support it (ext4, xfs, btrfs, tmpfs 6.3+).
- The mapping is given as a user namespace fd: a short-lived child unshares a user namespace, the
  parent writes its maps (the parent owns the host ids), and the namespace stays alive through
  the opened /proc/<pid>/ns/user fd after the child exits.
- The tree is made in the runtime's process (open_tree(OPEN_TREE_CLONE) gives a detached mount,
  mount_setattr(MOUNT_ATTR_IDMAP) maps it) and the container's init attaches it with move_mount:
  a detached tree can be attached in another mount namespace, and the init never needs the host
  path. This is how runc 1.2 does it too.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemCallError
from dockyard.oci.runtime_spec import IDMapping
from dockyard.runtime.linux import namespaces
from dockyard.runtime.linux import syscalls as sc


def userns_fd(uid_mappings: list[IDMapping], gid_mappings: list[IDMapping]) -> int:
    """An fd of a new user namespace with these mappings."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(done_w)
        try:
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise SystemCallError("could not make a user namespace for an idmapped mount", 0)
        namespaces.write_id_maps(pid, uid_mappings, gid_mappings)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.write(done_w, b"1")
        os.close(done_w)
        os.waitpid(pid, 0)


def detached_tree(source: str, uid_mappings: list[IDMapping], gid_mappings: list[IDMapping],
                  recursive: bool) -> int:
    """A detached, idmapped copy of the mount tree at `source`, ready for move_mount."""
    ns = userns_fd(uid_mappings, gid_mappings)
    try:
        tree = sc.open_tree(source, sc.OPEN_TREE_CLONE | (sc.AT_RECURSIVE if recursive else 0))
        try:
            sc.mount_setattr_fd(tree, sc.MOUNT_ATTR_IDMAP, recursive, ns)
        except BaseException:
            os.close(tree)
            raise
        return tree
    finally:
        os.close(ns)
