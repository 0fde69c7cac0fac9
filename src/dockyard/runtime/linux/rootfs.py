"""Build the container's filesystem view inside its new mount namespace, then make it "/".

Facts:
- The runtime's mount namespace starts as a copy of the host's. "/" is made rslave first (or what
  rootfsPropagation asks) so nothing mounted here propagates back to the host, while host mounts
  still reach the container.
- pivot_root(2) refuses a new root whose parent mount is shared, and a new root that is not a
  mount point: the rootfs is bind-mounted onto itself and its parent mount made private.
- pivot_root(".", ".") stacks the old root under the new one; it is then made rslave and lazily
  unmounted, so no host path stays reachable. Where pivot_root cannot work (a ramfs/initramfs
  root, or `--no-pivot`), the rootfs is MS_MOVEd onto "/" and chroot'ed into instead.
- Device nodes cannot be made inside a user namespace: there they are bind mounts of the host's.
- umask is 0 while devices and mount points are made (their modes come from the config), and is
  set to the process's umask before it runs.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import Device
from dockyard.runtime.cgroups.base import Hierarchy
from dockyard.runtime.linux import syscalls as sc
from dockyard.runtime.linux.mounts import locked_flags
from dockyard.runtime.linux.paths import mkdir_all, secure_join
from dockyard.runtime.specconv import Config, MountEntry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# Flags that a first bind mount ignores and that need a remount to take effect.
_BIND_IGNORED = ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)


def prepare_root(config: Config) -> None:
    """Set "/" propagation, make the rootfs a private-parented mount point of its own."""
    sc.mount(None, "/", None, config.root_propagation)
    _make_parent_mount_private(config.rootfs)
    sc.mount(config.rootfs, config.rootfs, "bind", sc.MS_BIND | sc.MS_REC)


def _make_parent_mount_private(path: str) -> None:
    # The longest mount point that is a prefix of `path`, with its optional fields (shared:N ...).
    best, shared = "", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = _unescape(fields[4])
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best = point
                optional = fields[6 : fields.index("-")]
                shared = any(o.startswith("shared:") for o in optional)
    if best and shared:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode()


def mount_all(config: Config, hierarchies: Sequence[Hierarchy], *, in_userns: bool) -> None:
    for entry in config.mounts:
        mount_entry(config, entry, hierarchies, in_userns=in_userns)


def mount_entry(config: Config, entry: MountEntry, hierarchies: Sequence[Hierarchy], *, in_userns: bool) -> None:
    dest = secure_join(config.rootfs, entry.destination)
    opts = entry.options
    if entry.type == "cgroup":
        _mount_cgroup(config, entry, dest, hierarchies)
    elif entry.detached_fd >= 0:
        _attach_tree(entry, dest)
    elif opts.is_bind:
        source = entry.source if os.path.isabs(entry.source) else os.path.join(config.bundle, entry.source)
        _bind(source, dest, opts.flags, make_target=True)
    elif entry.type == "tmpfs":
        _mount_tmpfs(entry, dest)
    elif entry.type == "sysfs" and in_userns and not config.new_namespace("network"):
        # sysfs can only be mounted by the owner of the network namespace: show the host's instead.
        _bind("/sys", dest, opts.flags | sc.MS_REC, make_target=True)
    else:
        _ensure_dir(dest)
        try:
            sc.mount(entry.source or entry.type, dest, entry.type, opts.flags, opts.data or None)
        except SystemCallError as err:
            if entry.type == "mqueue" and err.errno == errno.EPERM and in_userns:
                _bind("/dev/mqueue", dest, opts.flags, make_target=True)
            else:
                raise SystemCallError(f"mount {entry.source or entry.type} to {entry.destination}", err.errno) from None
    for propagation in opts.propagation:
        sc.mount(None, dest, None, propagation)
    if opts.attr_set or opts.attr_clr:
        sc.mount_setattr(dest, opts.attr_set, opts.attr_clr, recursive=True)


def _ensure_dir(dest: str) -> None:
    if os.path.islink(dest):
        raise InvalidArgument(f"mount destination {dest} is a symlink")
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise InvalidArgument(f"mount destination {dest} is not a directory")
    mkdir_all(dest)


def _bind(source: str, dest: str, flags: int, *, make_target: bool) -> None:
    try:
        st = os.stat(source)
    except OSError as err:
        raise SystemCallError.from_oserror(f"bind mount source {source}", err) from None
    if make_target:
        if stat.S_ISDIR(st.st_mode):
            mkdir_all(dest)
        else:
            mkdir_all(os.path.dirname(dest))
            if not os.path.lexists(dest):
                os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
    sc.mount(source, dest, "bind", sc.MS_BIND | (flags & sc.MS_REC))
    if flags & _BIND_IGNORED:
        sc.mount(source, dest, None, (flags & ~sc.MS_REC) | sc.MS_BIND | sc.MS_REMOUNT | locked_flags(dest))


def _attach_tree(entry: MountEntry, dest: str) -> None:
    """Attach the idmapped tree the runtime prepared (see linux/idmap.py) at `dest`."""
    if stat.S_ISDIR(os.fstat(entry.detached_fd).st_mode):
        mkdir_all(dest)
    else:
        mkdir_all(os.path.dirname(dest))
        if not os.path.lexists(dest):
            os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
    sc.move_mount(entry.detached_fd, dest)
    flags = entry.options.flags
    if flags & _BIND_IGNORED:
        sc.mount(None, dest, None, (flags & ~sc.MS_REC) | sc.MS_BIND | sc.MS_REMOUNT | locked_flags(dest))


def _mount_tmpfs(entry: MountEntry, dest: str) -> None:
    _ensure_dir(dest)
    opts = entry.options
    flags = opts.flags & ~sc.MS_RDONLY  # read-only comes last, after anything is copied in
    if "tmpcopyup" in opts.extensions:
        _tmpcopyup(entry, dest, flags)
    else:
        sc.mount(entry.source or "tmpfs", dest, "tmpfs", flags, opts.data or None)
    if opts.flags & sc.MS_RDONLY:
        _remount_flags(dest, opts.flags)


def _tmpcopyup(entry: MountEntry, dest: str, flags: int) -> None:
    """Mount a tmpfs over `dest` that starts with a copy of what `dest` held."""
    import shutil
    import tempfile

    staging = tempfile.mkdtemp(prefix="dockyard-tmpcopyup-")
    try:
        sc.mount(entry.source or "tmpfs", staging, "tmpfs", flags, entry.options.data or None)
        try:
            shutil.copytree(dest, staging, symlinks=True, dirs_exist_ok=True)
            sc.mount(staging, dest, None, sc.MS_MOVE)
        except BaseException:
            sc.umount(staging, sc.MNT_DETACH)
            raise
    finally:
        os.rmdir(staging)


def _mount_cgroup(config: Config, entry: MountEntry, dest: str, hierarchies: Sequence[Hierarchy]) -> None:
    flags = entry.options.flags
    own_ns = config.new_namespace("cgroup")
    unified = [h for h in hierarchies if h.name == ""]
    if unified and len(hierarchies) == 1:  # cgroup v2
        _ensure_dir(dest)
        h = unified[0]
        if own_ns:
            try:
                sc.mount("cgroup2", dest, "cgroup2", flags, entry.options.data or None)
                return
            except SystemCallError as err:
                if err.errno not in (errno.EPERM, errno.EBUSY):
                    raise
        _bind(h.host_mountpoint + h.container_path, dest, flags | sc.MS_REC, make_target=False)
        return
    # cgroup v1: a tmpfs with one directory per hierarchy, each showing the container's cgroup.
    _ensure_dir(dest)
    sc.mount("tmpfs", dest, "tmpfs", flags & ~sc.MS_RDONLY, "mode=755")
    for h in hierarchies:
        if h.name == "":
            continue  # the hybrid unified hierarchy is not shown, as Docker does not show it
        subdir = os.path.join(dest, h.name.removeprefix("name="))
        mkdir_all(subdir)
        if own_ns:
            sc.mount("cgroup", subdir, "cgroup", flags & ~sc.MS_RDONLY, h.mount_options)
            if flags & sc.MS_RDONLY:
                _remount_flags(subdir, flags)
        else:
            _bind(h.host_mountpoint + h.container_path, subdir, flags, make_target=False)
        if "," in h.name:  # co-mounted controllers ("cpu,cpuacct") get a symlink per name
            for part in h.name.split(","):
                link = os.path.join(dest, part)
                if not os.path.lexists(link):
                    os.symlink(h.name, link)
    if flags & sc.MS_RDONLY:
        _remount_flags(dest, flags)


def _remount_flags(path: str, flags: int) -> None:
    # A bind remount changes only this mount's flags; a plain remount would reconfigure the
    # filesystem itself, which a v1 cgroup hierarchy refuses (EBUSY) and a shared tmpfs should not get.
    sc.mount(None, path, None, (flags & ~sc.MS_REC) | sc.MS_BIND | sc.MS_REMOUNT | locked_flags(path))


def create_devices(config: Config, devices: Sequence[Device], *, in_userns: bool) -> None:
    for device in devices:
        path = secure_join(config.rootfs, device.path)
        mkdir_all(os.path.dirname(path))
        if in_userns:
            if not os.path.lexists(path):
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            sc.mount(device.path, path, "bind", sc.MS_BIND)
            continue
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[device.type]
        mode = 0o666 if device.file_mode is None else device.file_mode & 0o7777
        if os.path.lexists(path):
            os.unlink(path)
        try:
            os.mknod(path, kind | mode, os.makedev(device.major, device.minor))
        except OSError as err:
            raise SystemCallError.from_oserror(f"mknod {device.path}", err) from None
        os.chown(path, device.uid or 0, device.gid or 0)


def setup_dev_symlinks(rootfs: str) -> None:
    links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
             ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for target, link in links:
        try:
            os.symlink(target, secure_join(rootfs, link))
        except FileExistsError:
            pass
    ptmx = secure_join(rootfs, "/dev/ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    os.symlink("pts/ptmx", ptmx)


def pivot(rootfs: str, no_pivot: bool) -> None:
    if not no_pivot:
        try:
            _pivot_root(rootfs)
            return
        except SystemCallError as err:
            if err.errno != errno.EINVAL:  # EINVAL: the current root cannot be pivoted (ramfs)
                raise
    _move_root(rootfs)


def _pivot_root(rootfs: str) -> None:
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        # The old root must not propagate the unmount back to the host's mounts.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def _move_root(rootfs: str) -> None:
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def readonly_path(path: str) -> None:
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except SystemCallError as err:
        if err.errno == errno.ENOENT:
            return
        raise
    sc.mount(path, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | locked_flags(path))


def mask_path(path: str) -> None:
    try:
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        if is_dir:
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, None)
        else:
            sc.mount("/dev/null", path, None, sc.MS_BIND)
    except SystemCallError as err:
        # Paths this kernel does not have (/proc/timer_stats ...) are skipped, as runc does.
        if err.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise


def remount_readonly(path: str) -> None:
    sc.mount(path, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | locked_flags(path))


def apply_root_propagation(config: Config) -> None:
    # After pivot_root, so that a shared root cannot leak the container's mounts to the host;
    # private was already done to the rootfs's parent before pivoting.
    spec_value = config.spec.linux.rootfs_propagation
    if spec_value and not (config.root_propagation & sc.MS_PRIVATE):
        sc.mount(None, "/", None, config.root_propagation)
