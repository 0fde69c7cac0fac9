"""`docker rmi` and `docker image prune`, with Docker 20.10's rules (moby daemon/images/image_delete.go).

Removing by name untags; the image itself goes only when no name is left. Removing by id deletes
the image (untagging it first when its names are all in one repository). Conflicts:

    hard (never forced)   the image has child images; a running container uses it
    soft (forced with -f) the image has names in several repositories; a stopped container uses it

A name whose image a container uses is refused unless forced, since untagging would leave the
image dangling:  conflict: unable to remove repository reference "busybox" (must force) -
container 1a2b3c4d5e6f is using its referenced image 5ee9fd52ae2a

After deleting an image, its parent is deleted too (`prune`), quietly stopping at the first image
that still has names, children or containers. The result is Docker's list of
`{"Untagged": "busybox:latest"}` and `{"Deleted": "sha256:..."}` records, layers (chain ids)
included.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.errors import Conflict, DockyardError, NotFound
from dockyard.images import reference as refs
from dockyard.images.gc import collect
from dockyard.images.store import ImageStore, Ref


@dataclass(frozen=True)
class ImageUse:
    """A container that uses an image, as the engine reports it."""

    container_id: str
    running: bool = False


InUse = Callable[[str], Sequence[ImageUse]]


class _Check(enum.IntFlag):
    DEPENDENT_CHILD = 1
    ACTIVE_REFERENCE = 2
    STOPPED_CONTAINER = 4
    RUNNING_CONTAINER = 8
    HARD = DEPENDENT_CHILD | RUNNING_CONTAINER
    SOFT = ACTIVE_REFERENCE | STOPPED_CONTAINER


class ImageConflict(Conflict):
    def __init__(self, image_id: str, message: str, hard: bool, used: bool = False) -> None:
        self.hard, self.used = hard, used
        forced = "cannot be forced" if hard else "must be forced"
        super().__init__(f"conflict: unable to delete {_short(image_id)} ({forced}) - {message}")


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or image_id.split(":", 1)[-1].startswith(text)


def _is_single_reference(repo_refs: list[Ref]) -> bool:
    """Whether the names are one tag (with any digests of the same repository), or only digests of
    one repository."""
    if len(repo_refs) <= 1:
        return len(repo_refs) == 1
    single: Ref | None = None
    canonical: set[str] = set()
    for r in repo_refs:
        if r.kind == "digest":
            canonical.add(r.reference.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = repo_refs[0]
    return len(canonical) == 1 and single.reference.name in canonical


class Remover:
    def __init__(self, store: ImageStore, in_use: InUse) -> None:
        self.store = store
        self.in_use = in_use

    def _refs(self, image_id: str) -> list[Ref]:
        return sorted(self.store.refs_of(image_id), key=lambda r: r.familiar())

    def _conflict(self, image_id: str, mask: _Check) -> ImageConflict | None:
        if mask & _Check.DEPENDENT_CHILD and self.store.children(image_id):
            return ImageConflict(image_id, "image has dependent child images", hard=True)
        users = list(self.in_use(image_id))
        if mask & _Check.RUNNING_CONTAINER:
            running = next((u for u in users if u.running), None)
            if running is not None:
                return ImageConflict(image_id, f"image is being used by running container {running.container_id[:12]}",
                                     hard=True, used=True)
        if mask & _Check.ACTIVE_REFERENCE and self.store.refs_of(image_id):
            return ImageConflict(image_id, "image is referenced in multiple repositories", hard=False)
        if mask & _Check.STOPPED_CONTAINER:
            stopped = next((u for u in users if not u.running), None)
            if stopped is not None:
                return ImageConflict(image_id, f"image is being used by stopped container {stopped.container_id[:12]}",
                                     hard=False, used=True)
        return None

    def _untag(self, ref: Ref, records: list[dict[str, Any]], dropped: set[str]) -> None:
        self.store.remove_ref(ref.name)
        dropped.add(ref.target.digest)
        records.append({"Untagged": ref.familiar()})

    def delete(self, text: str, force: bool = False, prune: bool = True) -> list[dict[str, Any]]:
        dropped: set[str] = set()  # the targets of the names removed
        try:
            return self._delete(text, force, prune, dropped)
        finally:
            if dropped:  # an index a removed name pointed at, when nothing else does
                collect(self.store, content=dropped, snapshots=())

    def _delete(self, text: str, force: bool, prune: bool, dropped: set[str]) -> list[dict[str, Any]]:
        image = self.store.resolve(text)
        image_id = image.id
        repo_refs = self._refs(image_id)
        records: list[dict[str, Any]] = []
        removed_repository_ref = False
        if not _is_id_prefix(image_id, text):
            if not force and _is_single_reference(repo_refs):
                user = next(iter(self.in_use(image_id)), None)
                if user is not None:
                    raise Conflict(f'conflict: unable to remove repository reference "{text}" (must force) - container '
                                   f"{user.container_id[:12]} is using its referenced image {_short(image_id)}")
            parsed = refs.parse_normalized(text)
            if not parsed.digest:
                parsed = parsed.tag_name_only()
            found = self.store.get_ref(parsed)
            if found is None:
                raise NotFound(f"No such image: {parsed.familiar()}")
            self._untag(found, records, dropped)
            repo_refs = self._refs(image_id)
            if found.kind == "tag" and not any(r.kind == "tag" and r.reference.name == parsed.name for r in repo_refs):
                remaining = []
                for r in repo_refs:
                    if r.kind == "digest" and r.reference.name == parsed.name:
                        self._untag(r, records, dropped)
                    else:
                        remaining.append(r)
                repo_refs = remaining
            if repo_refs:
                return records
            removed_repository_ref = True
        elif _is_single_reference(repo_refs):
            mask = _Check.HARD if force else _Check.HARD | (_Check.SOFT & ~_Check.ACTIVE_REFERENCE)
            conflict = self._conflict(image_id, mask)
            if conflict is not None:
                raise conflict
            for r in repo_refs:
                self._untag(r, records, dropped)
        self._delete_helper(image_id, records, force, prune, removed_repository_ref, dropped)
        return records

    def _dangling(self, image_id: str) -> bool:
        return not self.store.refs_of(image_id) and not self.store.children(image_id)

    def _delete_helper(self, image_id: str, records: list[dict[str, Any]], force: bool, prune: bool, quiet: bool,
                       dropped: set[str]) -> None:
        try:
            image = self.store.image(image_id)
        except NotFound:
            return
        conflict = self._conflict(image_id, _Check.HARD if force else _Check.HARD | _Check.SOFT)
        if conflict is not None:
            if quiet and (not self._dangling(image_id) or conflict.used):
                return
            raise conflict
        for r in self._refs(image_id):
            self._untag(r, records, dropped)
        removed_layers = self.store.delete_image(image_id, extra_blobs=dropped)
        records.append({"Deleted": image_id})
        records.extend({"Deleted": chain_id} for chain_id in removed_layers)
        if prune and image.parent:
            self._delete_helper(image.parent, records, False, True, True, dropped)

    def prune(self, dangling_only: bool = True, until: float | None = None,
              labels: Callable[[dict[str, str] | None], bool] | None = None) -> dict[str, Any]:
        """`docker image prune` (`-a`: dangling_only=False): the removal records and bytes freed."""
        store = self.store
        images = store.images()
        parents = {i.parent for i in images if i.parent}
        candidates = [i for i in images if i.id not in parents] if dangling_only else images
        sizes: dict[str, int] = {}
        with store.db.read("read layer sizes") as conn:
            sizes = {chain_id: size for chain_id, size in conn.execute("SELECT chain_id, size FROM layers")}
        deleted: list[dict[str, Any]] = []
        for image in candidates:
            names = store.refs_of(image.id)
            if not names and store.children(image.id):
                continue
            config = store.config(image.id)
            if until is not None and config.created is not None and config.created.unix_ns / 1e9 > until:
                continue
            if labels is not None and not labels(config.config.labels if config.config else None):
                continue
            if names:
                if dangling_only and any(n.kind == "tag" for n in names):
                    continue
                for name in names:
                    try:
                        deleted += self.delete(name.name, force=False, prune=True)
                    except DockyardError:
                        continue
            else:
                try:
                    deleted += self.delete(image.id.split(":", 1)[1], force=False, prune=True)
                except DockyardError:
                    continue
        reclaimed = sum(sizes.get(r["Deleted"], 0) for r in deleted if "Deleted" in r)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}
