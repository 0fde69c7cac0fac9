"""Copying a tree exactly: contents, hardlinks, symlinks, devices, fifos, owners, modes, xattrs and
nanosecond times, never following a symlink. Used by the copy snapshotter."""

from __future__ import annotations

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _copy_xattrs(src: int | str, dst: int | str) -> None:
    follow = not isinstance(src, str)
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError as err:
        if err.errno == errno.ENOTSUP:
            return
        raise
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=follow), follow_symlinks=follow)
        except OSError as err:
            if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.ENODATA):
                raise


def _copy_data(src_fd: int, dst_fd: int, size: int) -> None:
    left = size
    while left > 0:
        try:
            n = os.copy_file_range(src_fd, dst_fd, min(left, 1 << 30))
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.sendfile(dst_fd, src_fd, None, min(left, 1 << 30))
        if n == 0:
            break
        left -= n


def copy_tree(src: str, dst: str) -> None:
    """Copy the contents of directory `src` into the existing, empty directory `dst`, and `src`'s
    own metadata onto `dst`."""
    sfd = os.open(src, _DIR_FLAGS)
    dfd = os.open(dst, _DIR_FLAGS)
    try:
        links: dict[tuple[int, int], str] = {}
        _copy_dir(sfd, dfd, dfd, "", links)
        st = os.fstat(sfd)
        _copy_xattrs(sfd, dfd)
        os.fchown(dfd, st.st_uid, st.st_gid)
        os.fchmod(dfd, stat.S_IMODE(st.st_mode))
        os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(sfd)
        os.close(dfd)


def _copy_dir(sfd: int, dfd: int, root_fd: int, rel: str, links: dict[tuple[int, int], str]) -> None:
    for name in os.listdir(sfd):
        path = f"{rel}/{name}" if rel else name
        st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
        mode = st.st_mode
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            seen = links.get(key)
            if seen is not None:
                # `seen` is relative to the new root, through directories this copy made
                os.link(seen, name, src_dir_fd=root_fd, dst_dir_fd=dfd, follow_symlinks=False)
                continue
        proc = f"/proc/self/fd/{dfd}/{name}"
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dfd)
            cs = os.open(name, _DIR_FLAGS, dir_fd=sfd)
            cd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            try:
                _copy_dir(cs, cd, root_fd, path, links)
                _copy_xattrs(cs, cd)
                os.fchown(cd, st.st_uid, st.st_gid)
                os.fchmod(cd, stat.S_IMODE(mode))
                os.utime(cd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(cs)
                os.close(cd)
            continue
        if stat.S_ISREG(mode):
            fs = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
            try:
                _copy_data(fs, fd, st.st_size)
                os.fchown(fd, st.st_uid, st.st_gid)
                os.fchmod(fd, stat.S_IMODE(mode))
                _copy_xattrs(fs, fd)
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fs)
                os.close(fd)
        else:
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(name, 0o600, dir_fd=dfd)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dfd)
            else:
                continue  # sockets
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
            if not stat.S_ISLNK(mode):
                os.chmod(name, stat.S_IMODE(mode), dir_fd=dfd)
            _copy_xattrs(f"/proc/self/fd/{sfd}/{name}", proc)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)
        if st.st_nlink > 1:
            links[(st.st_dev, st.st_ino)] = path
