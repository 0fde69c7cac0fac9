"""Tar layers: apply, create, diff, export, and copies in and out of a root filesystem.

Public API:

  Applying a layer (docker load / pull / build):
    apply_layer(stream, target, *, whiteouts=Whiteouts.DELETE) -> ApplyResult
        Unpack a tar layer (gzip, zstd or plain, detected by magic) into the directory `target`,
        streamed, computing diff_id (sha256 of the uncompressed tar) in the same pass. Whiteouts
        become overlayfs whiteouts (Whiteouts.OVERLAY: 0/0 char devices, trusted.overlay.opaque=y)
        for an overlay upper dir, or are carried out (Whiteouts.DELETE) on a full tree.
        Hostile or broken input raises InvalidArgument and the target is put back as it was.
    apply_layer_to_mounts(stream, mounts) -> ApplyResult
        The same into a snapshot's mounts (an overlay upper dir or a bind-mounted tree), without
        mounting when it can.
    ApplyResult(diff_id, size)

  Creating a layer (docker commit / build):
    write_layer_from_upper(upper, out, compression=Compression.GZIP) -> LayerResult
        Tar an overlay upper dir, whiteouts turned back into `.wh.` entries.
    write_layer_from_diff(old, new, out, compression=Compression.GZIP) -> LayerResult
        Tar the difference between two trees (the copy fallback).
    write_layer_from_mounts(lower, upper, out, compression=Compression.GZIP) -> LayerResult
        Either of the above, chosen from a snapshot's mounts (lower: the parent's view mounts).
    LayerResult(diff_id, digest, size, uncompressed_size, compression, media_type)
    Output is deterministic: sorted, USTAR/PAX headers as Go's archive/tar writes them for docker,
    mtimes in whole seconds, no user/group names, so the same change gives the same digest.

  Inspecting a container's filesystem:
    changes_from_upper(upper, lowers) -> list[Change]   (docker diff, overlay)
    changes_between(old, new) -> list[Change]           (docker diff, two trees)
    changes_from_mounts(lower, upper) -> list[Change]
    Change(kind: ChangeKind.{MODIFY,ADD,DELETE} = C/A/D, path: "/etc/passwd")
    export_rootfs(root, out) -> None                    (docker export: tar of a merged rootfs)

  Copies in and out of a root filesystem (docker cp; paths resolved inside the root):
    stat_path(root, path) -> PathStat                   (HEAD /containers/{id}/archive)
    archive_path(root, path, out) -> PathStat           (GET  /containers/{id}/archive)
    extract_archive(root, path, stream, *, no_overwrite_dir_non_dir=False, chown=(0, 0)) -> None
                                                        (PUT  /containers/{id}/archive)
    PathStat(name, size, mode, mtime, link_target); .header_value() for X-Docker-Container-Path-Stat

  Compression:
    Compression.{NONE,GZIP,ZSTD}; detect_compression(head) -> Compression
    open_decompressed(stream) -> (BinaryIO, Compression)  (streaming, magic-detected)
"""

from dockyard.layers.apply import ApplyResult, Whiteouts, apply_layer
from dockyard.layers.archive import PathStat, archive_path, extract_archive, stat_path
from dockyard.layers.changes import Change, ChangeKind, changes_between, changes_from_upper
from dockyard.layers.compression import Compression, detect_compression, open_decompressed
from dockyard.layers.create import (
    LayerResult,
    export_rootfs,
    write_layer_from_diff,
    write_layer_from_upper,
)
from dockyard.layers.mounts import apply_layer_to_mounts, changes_from_mounts, write_layer_from_mounts

__all__ = [
    "ApplyResult",
    "Change",
    "ChangeKind",
    "Compression",
    "LayerResult",
    "PathStat",
    "Whiteouts",
    "apply_layer",
    "apply_layer_to_mounts",
    "archive_path",
    "changes_between",
    "changes_from_mounts",
    "changes_from_upper",
    "detect_compression",
    "export_rootfs",
    "extract_archive",
    "open_decompressed",
    "stat_path",
    "write_layer_from_diff",
    "write_layer_from_mounts",
    "write_layer_from_upper",
]
