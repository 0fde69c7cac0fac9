"""Every read, write, mkdir and rmdir the cgroup managers make goes through here.

Facts:
- A cgroup control file takes one value per write(2), parsed from the whole buffer: open it
  O_WRONLY without O_TRUNC or O_CREAT (the files exist or the controller is absent) and write
  the value once. A value the kernel refuses fails the write(2), not the open(2), with EINVAL,
  EBUSY (v1 memory limit below usage), EOPNOTSUPP (a bfq weight for a disk not using bfq) or
  ERANGE.
- Files holding several entries (devices.allow, io.max, net_prio.ifpriomap, blkio throttles)
  take one entry per write.
- A cgroup directory is removed with rmdir(2) even though it "contains" control files; unlinking
  them is refused. rmdir fails with EBUSY while the cgroup still has tasks or child cgroups,
  and tasks that just exited can keep it busy for a few milliseconds (zombies are still
  charged until reaped), hence the short retry.
- Writing a pid to cgroup.procs moves the whole thread group; it fails with EINVAL while the
  task is still being forked (TASK_NEW), so that write is retried briefly, as runc does. ESRCH
  means the process is gone.
- A file read or written after its cgroup was removed fails with ENODEV; a file that the
  kernel does not have (controller not mounted or not enabled, option not compiled in) is
  ENOENT.

Every OSError becomes a SystemCallError whose message names the file and, for writes, the value,
like runc's "failed to write 104857600 to .../memory.limit_in_bytes: device or resource busy".
"""

from __future__ import annotations

import errno
import os
import time

from dockyard.errors import DockyardError, SystemCallError
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# What a v2 "max" (or a v1 limit reported as unlimited) reads as, as runc reports it.
UNLIMITED = 2**64 - 1


def join(directory: str, name: str) -> str:
    return os.path.join(directory, name)


def exists(directory: str, name: str = "") -> bool:
    return os.path.exists(join(directory, name) if name else directory)


def write(directory: str, name: str, value: str) -> None:
    """Write one value to one control file; a refusal names the value and the file."""
    path = join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise SystemCallError.from_oserror(f"failed to write {value} to {path}", err) from None


def read(directory: str, name: str) -> str:
    path = join(directory, name)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise SystemCallError.from_oserror(f"read {path}", err) from None


def read_optional(directory: str, name: str) -> str | None:
    """The file's text, or None when the kernel has no such file (or the cgroup is gone)."""
    try:
        return read(directory, name)
    except SystemCallError as err:
        if err.errno in (errno.ENOENT, errno.ENODEV):
            return None
        raise


def parse_uint(text: str, what: str) -> int:
    """An unsigned value as cgroup files print it; "max" is UNLIMITED."""
    text = text.strip()
    if text == "max":
        return UNLIMITED
    try:
        value = int(text)
    except ValueError:
        raise SystemCallError(f"unexpected content {text!r} in {what}", 0) from None
    # v1 prints -1 in a few places (memory.soft_limit_in_bytes on some kernels); runc reads it
    # as unlimited too.
    return UNLIMITED if value < 0 else value


def read_uint(directory: str, name: str) -> int:
    return parse_uint(read(directory, name), join(directory, name))


def read_uint_optional(directory: str, name: str) -> int | None:
    text = read_optional(directory, name)
    return None if text is None else parse_uint(text, join(directory, name))


def read_keyed(directory: str, name: str) -> dict[str, int] | None:
    """A flat-keyed file ("key value" per line: memory.stat, cpu.stat, memory.events); None if absent."""
    text = read_optional(directory, name)
    if text is None:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            values[parts[0]] = parse_uint(parts[1], join(directory, name))
    return values


def make_dirs(path: str) -> list[str]:
    """mkdir -p; returns the directories this call created, outermost first, for rollback."""
    created: list[str] = []
    missing: list[str] = []
    current = os.path.normpath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to remove
        except OSError as err:
            raise SystemCallError.from_oserror(f"mkdir {directory}", err) from None
        created.append(directory)
    return created


def make_dir(path: str) -> bool:
    """mkdir one level; True when this call created it."""
    try:
        os.mkdir(path, 0o755)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        raise SystemCallError.from_oserror(f"mkdir {path}", err) from None


def _rmdir_retrying(path: str) -> None:
    delay = 0.01
    for attempt in range(8):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or attempt == 7:
                raise SystemCallError.from_oserror(f"remove cgroup {path}", err) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def remove_tree(path: str) -> None:
    """Remove a cgroup and every cgroup below it, leaves first; gone already is fine."""
    if not os.path.isdir(path):
        return
    for sub in sorted(subgroups(path), key=len, reverse=True):
        _rmdir_retrying(sub)
    _rmdir_retrying(path)


def remove_created(created: list[str]) -> None:
    """Undo make_dirs: remove what it made, innermost first, ignoring what cannot go."""
    for directory in reversed(created):
        try:
            remove_tree(directory)
        except SystemCallError:
            pass


def subgroups(path: str) -> Iterator[str]:
    """Every cgroup directory strictly below `path`."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    except OSError as err:
        raise SystemCallError.from_oserror(f"list cgroup {path}", err) from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield entry.path
            yield from subgroups(entry.path)


def procs(path: str) -> list[int]:
    """The processes directly in one cgroup."""
    text = read_optional(path, "cgroup.procs")
    return [int(line) for line in (text or "").split()]


def all_procs(path: str) -> list[int]:
    """The processes in a cgroup and every cgroup below it."""
    found = set(procs(path))
    for sub in subgroups(path):
        found.update(procs(sub))
    return sorted(found)


def add_proc(path: str, pid: int) -> None:
    for attempt in range(10):
        try:
            write(path, "cgroup.procs", str(pid))
            return
        except SystemCallError as err:
            if err.errno != errno.EINVAL or attempt == 9:
                raise
        time.sleep(0.03)


@record(frozen=True)
class Write:
    """One planned control-file write; a manager builds the whole list before writing any."""

    directory: str
    name: str
    value: str
    # Some pairs are checked against each other by the kernel (cfs period vs quota, rt period vs
    # runtime, burst vs quota): a write refused with EINVAL is tried again after this file.
    retry_after: str | None = None
    # Optional knobs (kmem on kernels that dropped it, hugetlb rsvd before 5.7): skip if absent.
    missing_ok: bool = False
    # Turns a refusal into a better error (v1 memory limit below usage).
    explain: Callable[[SystemCallError], DockyardError] | None = None


def apply_writes(writes: list[Write]) -> None:
    deferred: dict[str, list[Write]] = {}
    for w in writes:
        if w.missing_ok and not exists(w.directory, w.name):
            continue
        try:
            write(w.directory, w.name, w.value)
        except SystemCallError as err:
            if err.errno == errno.EINVAL and w.retry_after and any(x.name == w.retry_after for x in writes):
                deferred.setdefault(w.retry_after, []).append(w)
                continue
            if w.explain is not None:
                raise w.explain(err) from None
            raise
        for later in deferred.pop(w.name, []):
            write(later.directory, later.name, later.value)
    for pending in deferred.values():
        for w in pending:
            write(w.directory, w.name, w.value)  # raises the refusal it met the first time
