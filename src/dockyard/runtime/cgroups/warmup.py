"""Paying the kernel's cgroup-attach wait while the runtime does other work.

Facts:
- Every write to a cgroup.procs file takes the global cgroup_threadgroup_rwsem for writing, and a
  percpu rwsem taken for writing first waits for an RCU grace period (rcu_sync_enter), unless a
  writer held it within about the last grace period. Measured here: the first attach of a
  container costs 6-12 ms, the ones right after it 0.1 ms. runc pays the same wait.
- Moving a process into the cgroup it already belongs to changes nothing for the process but takes
  the same lock. Done from a thread at the start of `create`, the wait overlaps with parsing the
  config and making the container's cgroups, and the real attach after fork is fast.
- Threads are joined before the runtime forks (`wait_all`): a fork must not copy a thread holding
  locks. The command line starts one before it even imports the runtime, and `create`/`exec` one
  more of their own (cheap when the first has warmed the lock, a fresh head start when it is cold
  again); the daemon starts one at a container's create and start without joining it.
"""

from __future__ import annotations

import _thread
import os

from dockyard.runtime.cgroups import paths

_running: set[_thread.LockType] = set()  # a lock per thread, held until it is done
# A fork has none of its parent's threads: their locks would never be released in it.
os.register_at_fork(after_in_child=_running.clear)


def start() -> None:
    """Begin the wait in a thread (`wait_all` waits for it)."""
    done = _thread.allocate_lock()
    done.acquire()
    _running.add(done)

    def attach_to_own_cgroup() -> None:
        try:
            target = _own_procs_file()
            if target is not None:
                fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, str(os.getpid()).encode())
                finally:
                    os.close(fd)
        except OSError:
            pass  # only a head start: the real attach will wait instead
        finally:
            _running.discard(done)
            done.release()

    _thread.start_new_thread(attach_to_own_cgroup, ())


def wait_all() -> None:
    """Wait for every thread `start` began in this process (before a fork)."""
    for done in list(_running):
        done.acquire()
        done.release()


def _own_procs_file() -> str | None:
    own = paths.own_cgroups()
    for mount in paths.mounts():
        key = "" if mount.version == 2 else (mount.controllers[0] if mount.controllers else None)
        if key is None or key not in own or mount.root != "/":
            continue
        return os.path.join(mount.mountpoint, own[key].lstrip("/"), "cgroup.procs")
    return None
