"""images (image ls), rmi (image rm), tag, history, image prune."""

from __future__ import annotations

import sys
import time

from dockyard.cli import format as fmt
from dockyard.cli.client import quote
from dockyard.cli.commands.ps import check_filter, filters_json, go_json
from dockyard.cli.errors import APIError, CLIError
from dockyard.cli.flags import Command, bool_flag, list_flag, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.client import Client

_FORMAT = "Format output using a custom template"
IMAGES = Command("images [OPTIONS] [REPOSITORY[:TAG]]", "List images", [
    bool_flag("all", "a", "Show all images (default hides intermediate and dangling images)"),
    bool_flag("digests", "", "Show digests"),
    list_flag("filter", "f", "Filter output based on conditions provided", check_filter, "filter"),
    str_flag("format", "", _FORMAT),
    bool_flag("no-trunc", "", "Don't truncate output"),
    bool_flag("quiet", "q", "Only show image IDs"),
    bool_flag("tree", "", "List multi-platform images as a tree (EXPERIMENTAL)", hidden=True),
], max_args=1, aliases="dockyard image ls, dockyard image list, dockyard images")
RMI = Command("rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", [
    bool_flag("force", "f", "Force removal of the image"),
    bool_flag("no-prune", "", "Do not delete untagged parents"),
], min_args=1, aliases="dockyard image rm, dockyard image remove, dockyard rmi")
TAG = Command("tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
              [], min_args=2, max_args=2, aliases="dockyard image tag, dockyard tag")
HISTORY = Command("history [OPTIONS] IMAGE", "Show the history of an image", [
    str_flag("format", "", _FORMAT),
    bool_flag("human", "H", "Print sizes and dates in human readable format", default=True),
    bool_flag("no-trunc", "", "Don't truncate output"),
    bool_flag("quiet", "q", "Only show image IDs"),
], min_args=1, max_args=1, aliases="dockyard image history, dockyard history")
PRUNE = Command("prune [OPTIONS]", "Remove unused images", [
    bool_flag("all", "a", "Remove all unused images, not just dangling ones"),
    list_flag("filter", "", 'Provide filter values (e.g. "until=<timestamp>")', type_name="filter"),
    bool_flag("force", "f", "Do not prompt for confirmation"),
], max_args=0)

IMAGE_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}"
               "\t{{.Size}}")
IMAGE_TABLE_DIGEST = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}"
                      "{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}")
IMAGE_TITLES = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}


def familiar_name(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def split_tag(ref: str) -> tuple[str, str]:
    """("repo", "tag") of a tagged reference (digests kept in the repo part); tag "" when none."""
    if "@" in ref:
        return ref, ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, ""


class ImageContext:
    """docker's imageContext: one row of `images` (an image has one row per repository:tag)."""

    __slots__ = ("digest", "i", "now", "repo", "tag", "trunc")
    go_type = "*formatter.imageContext"

    def __init__(self, i: dict[str, Any], repo: str, tag: str, digest: str, trunc: bool, now: float) -> None:
        self.i = i
        self.repo = repo
        self.tag = tag
        self.digest = digest
        self.trunc = trunc
        self.now = now

    def ID(self) -> str:
        ident = str(self.i.get("Id", ""))
        return fmt.truncate_id(ident) if self.trunc else ident

    def Repository(self) -> str:
        return self.repo

    def Tag(self) -> str:
        return self.tag

    def Digest(self) -> str:
        return self.digest

    def CreatedSince(self) -> str:
        created = int(self.i.get("Created") or 0)
        return fmt.human_duration(self.now - created) + " ago"

    def CreatedAt(self) -> str:
        return fmt.go_time(int(self.i.get("Created") or 0))

    def Size(self) -> str:
        return fmt.human_size(int(self.i.get("Size") or 0))

    def VirtualSize(self) -> str:
        return fmt.human_size(int(self.i.get("VirtualSize", self.i.get("Size")) or 0), 4)

    def Containers(self) -> str:
        count = int(self.i.get("Containers", -1))
        return "N/A" if count == -1 else str(count)

    def SharedSize(self) -> str:
        shared = int(self.i.get("SharedSize", -1))
        return "N/A" if shared == -1 else fmt.human_size(shared, 4)

    def UniqueSize(self) -> str:
        shared = int(self.i.get("SharedSize", -1))
        size = int(self.i.get("Size", -1))
        return "N/A" if shared == -1 or size == -1 else fmt.human_size(size - shared, 4)

    def marshal(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in IMAGE_TITLES}


def _dangling(img: dict[str, Any]) -> bool:
    tags = img.get("RepoTags") or []
    return not tags or tags == ["<none>:<none>"]


def image_rows(images: list[dict[str, Any]], trunc: bool, digests: bool, need_digest: bool) -> list[ImageContext]:
    now = time.time()
    rows: list[ImageContext] = []
    for img in images:
        tags = img.get("RepoTags") or []
        repo_digests = img.get("RepoDigests") or []
        if (not tags and not repo_digests) or (tags == ["<none>:<none>"] and repo_digests == ["<none>@<none>"]):
            rows.append(ImageContext(img, "<none>", "<none>", "<none>", trunc, now))
            continue
        by_repo: dict[str, list[str]] = {}
        for ref in tags:
            repo, tag = split_tag(ref)
            if tag and repo != "<none>":
                by_repo.setdefault(familiar_name(repo), []).append(tag)
        digest_by_repo: dict[str, list[str]] = {}
        for ref in repo_digests:
            repo, _, digest = ref.partition("@")
            if digest and repo != "<none>":
                digest_by_repo.setdefault(familiar_name(repo), []).append(digest)
        for repo in sorted(by_repo):
            found = digest_by_repo.pop(repo, []) if need_digest else []
            digest_by_repo.pop(repo, None)
            for tag in by_repo[repo]:
                if not found:
                    rows.append(ImageContext(img, repo, tag, "<none>", trunc, now))
                for digest in found:
                    rows.append(ImageContext(img, repo, tag, digest, trunc, now))
        for repo in sorted(digest_by_repo):
            if digests:
                rows.extend(ImageContext(img, repo, "<none>", d, trunc, now) for d in digest_by_repo[repo])
            else:
                rows.append(ImageContext(img, repo, "<none>", "", trunc, now))
    return rows


def images(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = IMAGES.parse(prog, argv)
    filters = list(opts.values("filter"))
    if args:
        filters.append(("reference", args[0]))
    query = {"all": 1 if opts.on("all") else None, "filters": filters_json(filters)}
    found = client.get("/images/json", query)
    if not opts.on("all"):
        wants_dangling = any(k == "dangling" and v in ("true", "1") for k, v in filters)
        if not wants_dangling:
            found = [i for i in found if not _dangling(i)]
    template = opts.text("format")
    digests = opts.on("digests")
    if opts.on("quiet"):
        form = "{{.ID}}"
    elif template in ("", "table"):
        form = IMAGE_TABLE_DIGEST if digests else IMAGE_TABLE
    else:
        form = template
        if form.startswith("table") and digests and "{{.Digest}}" not in form:
            form += "\t{{.Digest}}"
    rows = image_rows(found, not opts.on("no-trunc"), digests, digests or "{{.Digest}}" in form)
    out = sys.stdout.write
    if form in ("json", "{{json .}}"):
        out("".join(go_json(r.marshal()) + "\n" for r in rows))
        return 0
    fmt.render(rows, form, IMAGE_TABLE, IMAGE_TITLES, out)
    return 0


def rmi(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = RMI.parse(prog, argv)
    query = {"force": 1 if opts.on("force") else None, "noprune": 1 if opts.on("no-prune") else None}
    errors: list[str] = []
    fatal = False
    for name in args:
        try:
            items = client.delete(f"/images/{quote(name, '/:@')}", query) or []
        except CLIError as e:
            if not (isinstance(e, APIError) and e.http_status == 404):
                fatal = True
            errors.append(e.message)
            continue
        lines = [f"Deleted: {i['Deleted']}" if i.get("Deleted") else f"Untagged: {i.get('Untagged', '')}"
                 for i in items]
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    if errors:
        if not opts.on("force") or fatal:
            raise CLIError("\n".join(errors))
        sys.stderr.write("\n".join(errors) + "\n")
    return 0


def tag(client: Client, prog: str, argv: list[str]) -> int:
    _, args = TAG.parse(prog, argv)
    repo, tag_name = split_tag(args[1])
    if "@" in repo:
        raise CLIError("refusing to create a tag with a digest reference")
    client.post(f"/images/{quote(args[0], '/:@')}/tag", {"repo": repo, "tag": tag_name or "latest"})
    return 0


HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TABLE_RAW = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TITLES = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                  "Size": "SIZE", "Comment": "COMMENT"}


class HistoryContext:
    __slots__ = ("h", "human", "now", "trunc")
    go_type = "*image.historyContext"

    def __init__(self, h: dict[str, Any], trunc: bool, human: bool, now: float) -> None:
        self.h = h
        self.trunc = trunc
        self.human = human
        self.now = now

    def ID(self) -> str:
        ident = str(self.h.get("Id", ""))
        return fmt.truncate_id(ident) if self.trunc and ident != "<missing>" else ident

    def CreatedAt(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(int(self.h.get("Created") or 0))) + _rfc3339_zone(
            int(self.h.get("Created") or 0))

    def CreatedSince(self) -> str:
        if not self.human:
            return self.CreatedAt()
        created = int(self.h.get("Created") or 0)
        if created <= 946684800:
            return "N/A"
        return fmt.human_duration(self.now - created) + " ago"

    def CreatedBy(self) -> str:
        text = str(self.h.get("CreatedBy", "")).replace("\t", " ")
        return fmt.ellipsis(text, 45) if self.trunc else text

    def Size(self) -> str:
        size = int(self.h.get("Size") or 0)
        return fmt.human_size(size) if self.human else str(size)

    def Comment(self) -> str:
        return str(self.h.get("Comment", ""))

    def marshal(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in HISTORY_TITLES}


def _rfc3339_zone(unix: int) -> str:
    offset = time.localtime(unix).tm_gmtoff
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    offset = abs(offset)
    return f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"


def history(client: Client, prog: str, argv: list[str]) -> int:
    opts, args = HISTORY.parse(prog, argv)
    items = client.get(f"/images/{quote(args[0], '/:@')}/history")
    human = opts.on("human")
    template = opts.text("format")
    if opts.on("quiet"):
        form = "{{.ID}}"
    elif template in ("", "table"):
        form = HISTORY_TABLE if human else HISTORY_TABLE_RAW
    else:
        form = template
    now = time.time()
    rows = [HistoryContext(h, not opts.on("no-trunc"), human, now) for h in items]
    if form in ("json", "{{json .}}"):
        sys.stdout.write("".join(go_json(r.marshal()) + "\n" for r in rows))
        return 0
    fmt.render(rows, form, HISTORY_TABLE, HISTORY_TITLES, sys.stdout.write)
    return 0


def prune(client: Client, prog: str, argv: list[str]) -> int:
    opts, _ = PRUNE.parse(prog, argv)
    filters = [check_filter(f) for f in opts.values("filter")]
    if opts.on("all"):
        filters.append(("dangling", "false"))
    else:
        filters.append(("dangling", "true"))
    if not opts.on("force"):
        from dockyard.cli.commands.lifecycle import confirm
        warning = ("WARNING! This will remove all images without at least one container associated to them."
                   if opts.on("all") else "WARNING! This will remove all dangling images.")
        if not confirm(warning + "\nAre you sure you want to continue?"):
            raise CLIError("image prune has been cancelled")
    report = client.post_json("/images/prune", {"filters": filters_json(filters)})
    lines: list[str] = []
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        lines.append("Deleted Images:")
        for item in deleted:
            lines.append(f"untagged: {item['Untagged']}" if item.get("Untagged") else f"deleted: {item.get('Deleted')}")
        lines.append("")
    reclaimed = int(report.get("SpaceReclaimed") or 0)
    lines.append(f"Total reclaimed space: {fmt.human_size(reclaimed, 4)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
