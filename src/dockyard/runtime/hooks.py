"""OCI lifecycle hooks: run each with the container's state JSON on stdin, within its timeout.

Where each kind runs (runtime-spec config.md#posix-platform-hooks) and what its failure does:
    prestart, createRuntime   runtime namespace, during create, before pivot_root    -> create fails
    createContainer           container mount namespace, before pivot_root          -> create fails
    startContainer            container namespace, during start, before the process -> start fails
    poststart                 runtime namespace, after the process started          -> warning
    poststop                  runtime namespace, after delete                       -> warning
"""

from __future__ import annotations

import json

from dockyard.errors import DockyardError
from dockyard.oci.runtime_spec import Hook

TYPE_CHECKING = False  # see dockyard.records: typing is not imported at run time on this path
if TYPE_CHECKING:
    from typing import Any


class HookFailed(DockyardError):
    pass


def run_hooks(kind: str, hooks: list[Hook], state: dict[str, Any]) -> None:
    if not hooks:
        return
    import subprocess  # only paid for by containers that have hooks

    payload = json.dumps(state).encode()
    for i, hook in enumerate(hooks):
        argv = hook.args or [hook.path]
        env = dict(e.split("=", 1) for e in hook.env if "=" in e)
        try:
            proc = subprocess.Popen(argv, executable=hook.path, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
        except OSError as err:
            raise HookFailed(f"error running {kind} hook #{i}: {hook.path}: {err.strerror}") from None
        try:
            out, errout = proc.communicate(payload, timeout=hook.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise HookFailed(f"error running {kind} hook #{i}: {hook.path}: timeout after {hook.timeout}s") from None
        except BrokenPipeError:
            out, errout = proc.communicate()
        if proc.returncode != 0:
            raise HookFailed(
                f"error running {kind} hook #{i}: {hook.path}: exit status {proc.returncode}, "
                f"stdout: {out.decode(errors='replace').strip()}, stderr: {errout.decode(errors='replace').strip()}"
            )


def run_hooks_warning(kind: str, hooks: list[Hook], state: dict[str, Any]) -> None:
    """poststart and poststop: a failure is logged as a warning and the lifecycle goes on."""
    from dockyard.runtime import log

    try:
        run_hooks(kind, hooks, state)
    except HookFailed as err:
        log.warning(str(err))
