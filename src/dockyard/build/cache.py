"""The classic builder's cache: a step is a hit when an image whose parent is the current image
was made by the same step (moby's image/cache `getLocalCachedImage` and `compare`).

    cache = StepCache(store, enabled=not no_cache)
    cache.reset()                                    # at each FROM
    cache.probe(parent_id, container_config)         # the cached image id, or ""

"Same step" is Docker's comparison of the two `container_config`s: Cmd (which holds the
instruction, the build arguments a RUN sees, and for COPY/ADD the checksum of the sources'
contents and metadata), Env, Labels, ExposedPorts, Entrypoint, Volumes, User, Tty and the attach
flags. Among several matches the newest wins. After the first miss in a stage every later step
of that stage misses too, as in Docker.
"""

from __future__ import annotations

from dockyard.errors import DockyardError
from dockyard.images.store import ImageStore
from dockyard.oci.image_spec import ContainerConfig, Timestamp

__all__ = ["StepCache", "same_step"]


def same_step(a: ContainerConfig | None, b: ContainerConfig | None) -> bool:
    """moby's cache `compare`."""
    if a is None or b is None or a.open_stdin or b.open_stdin:
        return False
    if (a.attach_stdout != b.attach_stdout or a.attach_stderr != b.attach_stderr or a.user != b.user
            or a.tty != b.tty):
        return False
    if (list(a.cmd or []) != list(b.cmd or []) or list(a.env or []) != list(b.env or [])
            or list(a.entrypoint or []) != list(b.entrypoint or [])):
        return False
    if dict(a.labels or {}) != dict(b.labels or {}):
        return False
    if set(a.exposed_ports or []) != set(b.exposed_ports or []):
        return False
    return set(a.volumes or []) == set(b.volumes or [])


class StepCache:
    def __init__(self, store: ImageStore, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self.busted = False

    def reset(self) -> None:
        self.busted = False

    def probe(self, parent_id: str, config: ContainerConfig) -> str:
        if not self.enabled or self.busted:
            return ""
        found = ""
        newest: Timestamp | None = None
        for image_id in self.store.children(parent_id):
            try:
                candidate = self.store.config(image_id)
            except DockyardError:
                continue
            if not same_step(candidate.container_config, config):
                continue
            created = candidate.created or Timestamp.zero()
            if newest is None or newest.unix_ns < created.unix_ns:
                found, newest = image_id, created
        if not found:
            self.busted = True
        return found
