"""Copying an image's content into a new volume, as Docker's `copyExistingContents` does.

`copy_tree(src, dst)` copies the children of `src` into the existing, empty directory `dst`, keeping
file types (regular, directory, symlink, fifo, device nodes, hard links), owners, modes, xattrs
(where the target filesystem takes them) and times, and gives `dst` the owner, mode and times of
`src`. Symlinks are copied as links, never followed. The walk is `fsutil.copy`'s (fd-relative, no
path re-resolution), shared with the copy snapshotter.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.errors import SystemCallError
from dockyard.fsutil import copy as fscopy

__all__ = ["copy_tree"]


def copy_tree(src: Path, dst: Path) -> None:
    try:
        fscopy.copy_tree(str(src), str(dst))
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        raise SystemCallError.from_oserror(f"copy {src} to {dst}:{where}", err) from None
