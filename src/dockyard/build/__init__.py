"""The builder: Dockerfile + context -> image, as Docker's classic builder does it, with its cache.

Public API (imported lazily):
    Builder(images, *, runtime_root, work_root, cgroup_parent="/dockyard")
        .build(context, options, output=None) -> BuildResult           (executor.py)
    BuildOptions(dockerfile, tags, build_args, labels, target, no_cache, pull, network_mode, ...)
    BuildResult(image_id, tags)
    RunFailed(message, code, last_image_id)     a RUN exited non-zero
    BuildContext.from_tar(stream, work_dir)      what POST /build receives  (context.py)
    BuildContext.from_directory(path, dockerfile) what `docker build PATH` sends
    write_context_tar(directory, out, dockerfile) a directory as the docker CLI sends it
    serve_build(builder, query, body, out, ...)   the Engine API's POST /build (api.py)
    build_options_from_query(query)               its query parameters as BuildOptions

Modules: parser.py (text -> nodes), instructions.py (nodes -> typed commands), shell_words.py
(variable expansion), dockerignore.py (patterns), context.py (contexts and checksums),
buildargs.py, planner.py (stages and --target), cache.py, copy.py (COPY/ADD), run.py (RUN
containers), commit.py (step images), goformat.py (Go's %q/%v in history), executor.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.build.api import build_options_from_query, serve_build
    from dockyard.build.context import BuildContext, write_context_tar
    from dockyard.build.executor import Builder, BuildOptions, BuildResult, RunFailed

_WHERE = {
    "Builder": "executor", "BuildOptions": "executor", "BuildResult": "executor", "RunFailed": "executor",
    "BuildContext": "context", "write_context_tar": "context",
    "serve_build": "api", "build_options_from_query": "api",
}

__all__ = [
    "BuildContext",
    "BuildOptions",
    "BuildResult",
    "Builder",
    "RunFailed",
    "build_options_from_query",
    "serve_build",
    "write_context_tar",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.build' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.build.{module}"), name)
