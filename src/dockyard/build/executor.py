"""The builder: a Dockerfile and a context in, an image out, step by step as Docker's classic
builder goes (moby builder/dockerfile: builder.go, dispatchers.go, internals.go).

    builder = Builder(images, runtime_root="/run/dockyard/runtime", work_root=Path("/var/lib/dockyard/builder"))
    with BuildContext.from_directory(Path("app")) as ctx:
        result = builder.build(ctx, BuildOptions(tags=["app:1"]), output=print_message)
    result.image_id                     # "sha256:..."

`output` receives Docker's JSON stream messages as dicts, in order: `{"stream": "Step 1/3 : FROM
busybox\\n"}`, ` ---> Running in <id>`, the RUN's output (stderr wrapped in red as Docker does),
` ---> <id>`, `{"aux": {"ID": "sha256:..."}}` after each stage, `Successfully built <id>`,
`Successfully tagged x:y`. Errors are raised (the API adapter turns them into the stream's
`errorDetail`); a failing RUN raises `RunFailed` with the command's exit code, after the previous
step's image was printed (it stays in the store to be run and inspected).

Each step:
- metadata instructions (ENV, LABEL, CMD, ...) commit an image with an empty layer and the
  `/bin/sh -c #(nop)  <instruction>` history Docker writes, under a fresh container id (Docker makes
  a container for them; dockyard only records one: nothing runs);
- RUN prepares a snapshot on the image's layers plus Docker's init layer, runs the command there,
  and commits the files it changed as a new layer (or an empty layer);
- WORKDIR makes the directory; COPY/ADD copy into a snapshot of the image; both commit a layer;
- the cache (cache.py) is asked first; a hit prints ` ---> Using cache` and reuses that image.
Everything a step makes for itself (snapshots, mounts, bundles, downloads) is removed when the
step ends, whatever happens; only registered images stay.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dockyard.build import goformat
from dockyard.build import instructions as ins
from dockyard.build.buildargs import BuildArgs
from dockyard.build.cache import StepCache
from dockyard.build.commit import Layer, StepCommit, commit_step, copy_config, merge_container_config
from dockyard.build.context import BuildContext
from dockyard.build.copy import (
    ContextTree,
    CopyOptions,
    FsTree,
    HeredocTree,
    check_destination,
    collect,
    copy_sources,
    download,
    lookup_chown,
    normalize_dest,
    sources_checksum,
)
from dockyard.build.dockerignore import go_clean
from dockyard.build.parser import ParseError, parse, parse_heredoc
from dockyard.build.planner import plan_stages, stage_index
from dockyard.build.run import RunRequest, run_step
from dockyard.build.shell_words import Lexer, env_map
from dockyard.build.workspace import Workspace, mkdir_in_root, volume_copies
from dockyard.errors import DockyardError, InvalidArgument, NotFound, SystemCallError
from dockyard.images import ImageService
from dockyard.images import reference as refs
from dockyard.images.ingest import Ingest
from dockyard.oci import runtime_spec as rs
from dockyard.oci.image_spec import ContainerConfig, ImageConfig, RootFS

__all__ = ["BuildOptions", "BuildResult", "Builder", "Output", "RunFailed"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
Output = Callable[[dict[str, Any]], None]


class RunFailed(DockyardError):
    """A RUN step exited non-zero: Docker's message, the exit code, and the last good image."""

    def __init__(self, message: str, code: int, last_image_id: str) -> None:
        super().__init__(message)
        self.code = code
        self.last_image_id = last_image_id


@dataclass
class BuildOptions:
    """What `docker build` (POST /build) asks for. `quiet` is for the API layer (it holds the
    output back); the builder always reports progress to its `output`."""

    dockerfile: str = "Dockerfile"
    dockerfile_text: bytes | None = None  # the Dockerfile itself (`-f -`), instead of a context file
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    quiet: bool = False
    remove: bool = True
    force_remove: bool = False
    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    platform: str = ""
    iidfile: str = ""
    cgroup_parent: str = ""
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    shm_size: int = 0


@dataclass
class BuildResult:
    image_id: str
    tags: list[str] = field(default_factory=list)


@dataclass
class _StageResult:
    image_id: str
    config: ContainerConfig


@dataclass
class _State:
    """moby's dispatchState."""

    run_config: ContainerConfig
    build_args: BuildArgs
    image_id: str = ""
    parent: ImageConfig = field(default_factory=lambda: ImageConfig(os="linux", rootfs=RootFS()))
    maintainer: str = ""
    cmd_set: bool = False
    stage_name: str = ""
    stage_index: int = 0


class _Progress:
    def __init__(self, output: Output | None) -> None:
        self.output = output

    def stream(self, text: str) -> None:
        if self.output is not None and text:
            self.output({"stream": text})

    def stderr(self, text: str) -> None:
        if self.output is not None and text:
            self.output({"stream": f"\x1b[91m{text}\x1b[0m"})

    def aux(self, image_id: str) -> None:
        if self.output is not None and image_id:
            self.output({"aux": {"ID": image_id}})


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class Builder:
    """Builds images into `images`; RUN containers live under `runtime_root` (the runtime's state)
    and `work_root` (bundles, extracted contexts, downloads), in cgroups below `cgroup_parent`."""

    def __init__(self, images: ImageService, *, runtime_root: str, work_root: Path,
                 cgroup_parent: str = "/dockyard") -> None:
        self.images = images
        self.runtime_root = runtime_root
        self.work_root = Path(work_root)
        self.cgroup_parent = cgroup_parent

    def recover(self) -> list[str]:
        """After a crash (call it at start, while no build runs): remove what builds left behind —
        RUN containers, mounts and files under the work root, `build-` snapshots, build leases.
        What was removed."""
        from dockyard.build.workspace import recover

        return recover(self.images, self.work_root, self.runtime_root)

    def build(self, context: BuildContext | None, options: BuildOptions, output: Output | None = None) -> BuildResult:
        """Build; a context is needed unless the Dockerfile is given in `options` and copies nothing."""
        try:
            self.work_root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SystemCallError.from_oserror(f"mkdir {self.work_root}", err) from None
        return _Build(self, context, options, _Progress(output)).run()


class _Build:
    def __init__(self, builder: Builder, context: BuildContext | None, options: BuildOptions,
                 progress: _Progress) -> None:
        self.b = builder
        self.images = builder.images
        self.store = builder.images.store
        self.snapshotter = builder.images.snapshotter
        self.context = context
        self.options = options
        self.progress = progress
        self.cache = StepCache(self.store, enabled=not options.no_cache)
        self.lexer = Lexer("\\")
        self.stages: list[ins.Stage] = []
        self.results: dict[int, _StageResult] = {}
        self.cleanup = ExitStack()
        self.ws = Workspace(builder.images, builder.work_root, self.cleanup)

    # --- the build ---------------------------------------------------------------------------

    def run(self) -> BuildResult:
        tags = _parse_tags(self.options.tags)
        with self.cleanup:
            state = self._build_all()
        image_id = state.image_id
        if not image_id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        self.progress.stream(f"Successfully built {_short(image_id)}\n")
        for ref in tags:
            self.store.tag(image_id, ref)
            self.progress.stream(f"Successfully tagged {ref.familiar()}\n")
        if self.options.iidfile:
            _write_file(self.options.iidfile, image_id.encode())
        return BuildResult(image_id, [ref.familiar() for ref in tags])

    def _dockerfile(self) -> tuple[str, bytes]:
        if self.options.dockerfile_text is not None:
            if not self.options.dockerfile_text:
                raise InvalidArgument(f"the Dockerfile ({self.options.dockerfile}) cannot be empty")
            return self.options.dockerfile, self.options.dockerfile_text
        if self.context is None:
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {self.options.dockerfile}")
        return self.context.dockerfile(self.options.dockerfile or "Dockerfile")

    def _build_all(self) -> _State:
        name, text = self._dockerfile()
        try:
            parsed = parse(text)
        except ParseError as err:
            raise ParseError(f"failed to parse {self.options.dockerfile or name}: {err}", err.line) from None
        self.lexer = Lexer(parsed.escape)
        stages, meta = ins.parse_dockerfile(parsed.nodes)
        self.stages = stages
        if self.options.target:
            found = [i for i, s in enumerate(stages) if s.name and s.name == self.options.target.lower()]
            if not found:
                raise InvalidArgument(f"failed to reach build target {self.options.target} in Dockerfile")
            target = stages[found[0]]
        elif stages:
            target = stages[-1]
        else:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        for key in sorted(self.options.labels):
            value = self.options.labels[key]
            target.commands.append(ins.LabelCommand(name="label", code=f"LABEL {key}={value}",
                                                    pairs=[(key, value)], no_expand=True))
        for warning in parsed.warnings:
            self.progress.stderr(warning + "\n")
        args = BuildArgs(self.options.build_args)
        step = 1
        meta_args: dict[str, str] = {}
        plan_args = BuildArgs(self.options.build_args)
        for arg in meta:
            self._meta_arg(arg, plan_args, meta_args, dry_run=True)
        plan = plan_stages(stages, meta, self.options.target, plan_args.all_meta(), parsed.escape)
        total = plan.total_steps
        for arg in meta:
            self.progress.stream(f"Step {step}/{total} : {arg.code}\n")
            step += 1
            self._meta_arg(arg, args, meta_args, dry_run=False)
        state: _State | None = None
        for index, stage in plan.stages:
            if stage.name and any(s.name == stage.name for i, s in enumerate(stages[:index])):
                raise InvalidArgument(f"{stage.name} stage name already used")
            state = _State(run_config=ContainerConfig(), build_args=args.clone(), stage_name=stage.name,
                           stage_index=index)
            state.build_args.reset_allowed()
            self.progress.stream(f"Step {step}/{total} : {stage.code}\n")
            step += 1
            self.cache.reset()
            self._begin_stage(state, stage)
            state.run_config.image = state.image_id
            self.progress.stream(f" ---> {_short(state.image_id)}\n")
            for cmd in stage.commands:
                self.progress.stream(f"Step {step}/{total} : {cmd.code}\n")
                step += 1
                self._dispatch(state, cmd)
                state.run_config.image = state.image_id
                self.progress.stream(f" ---> {_short(state.image_id)}\n")
            self.progress.aux(state.image_id)
            args.merge_referenced(state.build_args)
            self.results[index] = _StageResult(state.image_id, copy_config(state.run_config))
        unused = sorted(args.unused())
        if unused:
            self.progress.stream(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        assert state is not None
        return state

    def _meta_arg(self, arg: ins.ArgCommand, args: BuildArgs, values: dict[str, str], dry_run: bool) -> None:
        env = dict(args.allowed())
        for key, value in arg.args:
            try:
                key = self.lexer.process_word(key, env)
                expanded = self.lexer.process_word(value, env) if value is not None else None
            except InvalidArgument:
                if dry_run:
                    continue
                raise
            args.add_arg(key, expanded)
            args.add_meta_arg(key, expanded)
            env = dict(args.allowed())

    # --- stages ------------------------------------------------------------------------------

    def _begin_stage(self, state: _State, stage: ins.Stage) -> None:
        meta_env = state.build_args.all_meta()
        platform = ""
        if stage.platform:
            try:
                platform = self.lexer.process_word(stage.platform, meta_env)
            except InvalidArgument as err:
                raise InvalidArgument(f"failed to process arguments for platform {stage.platform}: {err}") from None
        name = self.lexer.process_word(stage.base_name, meta_env)
        if not name:
            raise InvalidArgument(f"base name ({stage.base_name}) should not be blank")
        index = stage_index(self.stages, name, state.stage_index, allow_index=False)
        if index is not None:
            if index not in self.results:
                raise InvalidArgument(f"stage {name} was not built")
            image_id = self.results[index].image_id
            self._start_from(state, image_id)
        elif name == "scratch":
            state.image_id = ""
            state.parent = ImageConfig(os="linux", rootfs=RootFS())
            state.run_config = ContainerConfig()
        else:
            if self.options.pull:
                self.progress.stream(f" ---> [Warning] --pull: builds never pull from a registry; using the local "
                                     f"image {name}\n")
            image_id = self._local_image(name)
            self._start_from(state, image_id)
            if platform:
                self._check_platform(name, platform, state.parent)
        env = state.run_config.env or []
        if not any(e.split("=", 1)[0] == "PATH" for e in env):
            state.run_config.env = [*env, f"PATH={DEFAULT_PATH}"]
        state.run_config.open_stdin = False
        state.run_config.stdin_once = False
        triggers = list(state.run_config.on_build or [])
        if triggers:
            state.run_config.on_build = None
            self.progress.stream(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for trigger in triggers:
                state.run_config.image = state.image_id
                try:
                    nodes = parse(trigger).nodes
                except ParseError as err:
                    raise InvalidArgument(str(err)) from None
                if len(nodes) != 1:
                    raise InvalidArgument("onbuild trigger should be a single expression")
                self._dispatch(state, ins.parse_command(nodes[0]))

    def _local_image(self, name: str) -> str:
        try:
            return self.images.resolve(name).id
        except NotFound:
            try:
                familiar = refs.parse_normalized(name).tag_name_only().familiar()
            except InvalidArgument:
                familiar = name
            raise NotFound(f"No such image: {familiar} (dockyard builds never pull from a registry: load, "
                           "import or build the image first)") from None

    def _start_from(self, state: _State, image_id: str) -> None:
        config = self.store.config(image_id)
        state.image_id = image_id
        state.parent = config
        state.run_config = copy_config(config.config) if config.config is not None else ContainerConfig()

    @staticmethod
    def _check_platform(name: str, wanted: str, config: ImageConfig) -> None:
        parts = wanted.split("/")
        os_name = parts[0] if parts else ""
        arch = parts[1] if len(parts) > 1 else ""
        aliases = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}
        arch = aliases.get(arch, arch)
        if (os_name and os_name != (config.os or "linux")) or (arch and arch != config.architecture):
            actual = f"{config.os}/{config.architecture}"
            raise InvalidArgument(f"image with reference {name} was found but does not match the specified "
                                  f"platform: wanted {wanted}, actual: {actual}")

    # --- dispatch ----------------------------------------------------------------------------

    def _env(self, state: _State) -> dict[str, str]:
        env = list(state.run_config.env or [])
        return env_map(env + state.build_args.filter_allowed(env))

    def _dispatch(self, state: _State, cmd: ins.Command) -> None:
        env = self._env(state)

        def expand(word: str) -> str:
            return self.lexer.process_word(word, env)

        ok = False
        self._containers: list[str] = []
        try:
            if isinstance(cmd, ins.EnvCommand):
                self._env_cmd(state, [(expand(k), expand(v)) for k, v in cmd.pairs])
            elif isinstance(cmd, ins.MaintainerCommand):
                state.maintainer = cmd.maintainer
                self._commit_meta(state, "MAINTAINER " + cmd.maintainer)
            elif isinstance(cmd, ins.LabelCommand):
                pairs = cmd.pairs if cmd.no_expand else [(expand(k), expand(v)) for k, v in cmd.pairs]
                labels = dict(state.run_config.labels or {})
                for key, value in pairs:
                    labels[key] = value
                state.run_config.labels = labels
                self._commit_meta(state, "LABEL" + "".join(f" {k}={v}" for k, v in pairs))
            elif isinstance(cmd, ins.CopyCommand):
                self._copy(state, cmd, expand)
            elif isinstance(cmd, ins.OnbuildCommand):
                state.run_config.on_build = [*(state.run_config.on_build or []), cmd.expression]
                self._commit_meta(state, "ONBUILD " + cmd.expression)
            elif isinstance(cmd, ins.WorkdirCommand):
                self._workdir(state, expand(cmd.path))
            elif isinstance(cmd, ins.RunCommand):
                self._run(state, cmd)
            elif isinstance(cmd, ins.CmdCommand):
                line = self._resolve_cmd_line(cmd, state)
                state.run_config.cmd = line
                state.run_config.args_escaped = False
                self._commit_meta(state, f"CMD {goformat.quote_list(line)}")
                if cmd.cmd_line:
                    state.cmd_set = True
            elif isinstance(cmd, ins.HealthCheckCommand):
                old = state.run_config.healthcheck
                if old is not None and old.test and old.test[0] != "NONE":
                    self.progress.stream(f"Note: overriding previous HEALTHCHECK: {goformat.value_list(old.test)}\n")
                state.run_config.healthcheck = cmd.health
                self._commit_meta(state, f"HEALTHCHECK {goformat.quoted_health(cmd.health)}")
            elif isinstance(cmd, ins.EntrypointCommand):
                line = self._resolve_cmd_line(cmd, state)
                state.run_config.entrypoint = line
                state.run_config.args_escaped = False
                if not state.cmd_set:
                    state.run_config.cmd = None
                self._commit_meta(state, f"ENTRYPOINT {goformat.quote_list(line)}")
            elif isinstance(cmd, ins.ExposeCommand):
                self._expose(state, cmd, env)
            elif isinstance(cmd, ins.UserCommand):
                state.run_config.user = expand(cmd.user)
                self._commit_meta(state, f"USER {state.run_config.user}")
            elif isinstance(cmd, ins.VolumeCommand):
                volumes = [expand(v) for v in cmd.volumes]
                current = list(state.run_config.volumes or [])
                for v in volumes:
                    if not v:
                        raise InvalidArgument("VOLUME specified can not be an empty string")
                    if v not in current:
                        current.append(v)
                state.run_config.volumes = sorted(current)
                self._commit_meta(state, f"VOLUME {goformat.value_list(volumes)}")
            elif isinstance(cmd, ins.StopSignalCommand):
                from dockyard.engine.config import parse_signal

                signal_name = expand(cmd.signal)
                parse_signal(signal_name)
                state.run_config.stop_signal = signal_name
                self._commit_meta(state, f"STOPSIGNAL {signal_name}")
            elif isinstance(cmd, ins.ArgCommand):
                parts = []
                for raw_key, raw_value in cmd.args:
                    key = expand(raw_key)
                    arg_value = expand(raw_value) if raw_value is not None else None
                    parts.append(key if arg_value is None else f"{key}={arg_value}")
                    state.build_args.add_arg(key, arg_value)
                self._commit_meta(state, "ARG " + " ".join(parts))
            elif isinstance(cmd, ins.ShellCommand):
                state.run_config.shell = list(cmd.shell)
                self._commit_meta(state, f"SHELL {goformat.value_list(cmd.shell)}")
            else:  # pragma: no cover - every parsed command is handled above
                raise InvalidArgument(f"unsupported command type: {type(cmd).__name__}")
            ok = True
        finally:
            if self.options.force_remove or (self.options.remove and ok):
                for cid in self._containers:
                    self.progress.stream(f"Removing intermediate container {cid[:12]}\n")

    @staticmethod
    def _resolve_cmd_line(cmd: ins.ShellDependent, state: _State) -> list[str] | None:
        line = cmd.cmd_line
        if cmd.prepend_shell and line is not None:
            return [*(state.run_config.shell or DEFAULT_SHELL), *line]
        return None if line is None else list(line)

    def _env_cmd(self, state: _State, pairs: list[tuple[str, str]]) -> None:
        env = list(state.run_config.env or [])
        message = "ENV"
        for key, value in pairs:
            entry = f"{key}={value}"
            message += " " + entry
            for i, existing in enumerate(env):
                if existing.split("=", 1)[0] == key:
                    env[i] = entry
                    break
            else:
                env.append(entry)
        state.run_config.env = env
        self._commit_meta(state, message)

    def _expose(self, state: _State, cmd: ins.ExposeCommand, env: dict[str, str]) -> None:
        ports: list[str] = []
        for p in cmd.ports:
            ports.extend(self.lexer.process_words(p, env))
        exposed = set(state.run_config.exposed_ports or [])
        for p in ports:
            exposed.update(_port_specs(p))
        state.run_config.exposed_ports = sorted(exposed)
        self._commit_meta(state, "EXPOSE " + " ".join(ports))

    # --- commits -----------------------------------------------------------------------------

    def _probe(self, state: _State, config: ContainerConfig) -> bool:
        cached = self.cache.probe(state.image_id, config)
        if not cached:
            return False
        self.progress.stream(" ---> Using cache\n")
        state.image_id = cached
        state.parent = self.store.config(cached)
        return True

    def _new_container(self) -> str:
        cid = secrets.token_hex(32)
        self._containers.append(cid)
        self.progress.stream(f" ---> Running in {cid[:12]}\n")
        return cid

    def _commit(self, state: _State, container_config: ContainerConfig, container_id: str,
                layer: Layer | None, ingest: Ingest | None = None) -> None:
        config = copy_config(state.run_config)
        image_id = commit_step(self.store, StepCommit(state.image_id, state.parent, config, container_config,
                                                      container_id, state.maintainer, layer), ingest)
        state.image_id = image_id
        state.parent = self.store.config(image_id)

    def _comment_config(self, state: _State, comment: str, single: bool = False) -> ContainerConfig:
        cfg = copy_config(state.run_config)
        shell = list(state.run_config.shell or DEFAULT_SHELL)
        cfg.cmd = [*shell, "#(nop) " + comment] if single else [*shell, "#(nop) ", comment]
        return cfg

    def _container_config(self, state: _State, cfg: ContainerConfig, container_id: str) -> ContainerConfig:
        """What dockerd makes of a step's config when it creates the step's container."""
        out = merge_container_config(cfg, state.parent.config if state.image_id else None)
        if out.entrypoint is not None and out.entrypoint == [""]:
            out.entrypoint = None
        out.hostname = container_id[:12]
        if state.run_config.healthcheck is not None and out.healthcheck is not None:
            # Docker's copy of the run config shares the HealthConfig it points to, so the merge
            # above also fills the zero fields of the step's own health check
            state.run_config.healthcheck = replace(out.healthcheck, test=list(out.healthcheck.test or []))
        return out

    def _commit_meta(self, state: _State, comment: str) -> None:
        cfg = self._comment_config(state, comment)
        if self._probe(state, cfg):
            return
        cid = self._new_container()
        self._commit(state, self._container_config(state, cfg, cid), cid, None)

    # --- filesystem steps ----------------------------------------------------------------------

    def _fs_step(self, state: _State, container_config: ContainerConfig, container_id: str, init: bool,
                 work: Callable[[ExitStack, str], None]) -> None:
        """Prepare a snapshot of the current image, mount it, let `work` change it, commit the change."""
        top = self.store.top_layer(state.image_id) if state.image_id else None
        if top is not None:
            self.images.rootfs_parent(state.image_id)
        with ExitStack() as stack:
            key, mounts = self.ws.snapshot(stack, top, init=init)
            lower_parent = self.snapshotter.stat(key).parent
            rootfs = str(self.ws.step_dir(stack) / "rootfs")
            with ExitStack() as mounted:
                self.ws.mount(mounted, mounts, rootfs)
                work(stack, rootfs)
            with Ingest(self.store, "build") as ingest:
                layer = self.ws.layer(stack, key, lower_parent, ingest)
                self._commit(state, container_config, container_id, layer, ingest)
                ingest.commit()

    def _workdir(self, state: _State, path: str) -> None:
        if not path:
            raise InvalidArgument("cannot normalize nothing")
        current = state.run_config.working_dir
        state.run_config.working_dir = path if path.startswith("/") else go_clean(f"/{current}/{path}")
        cfg = self._comment_config(state, "WORKDIR " + state.run_config.working_dir, single=True)
        if self._probe(state, cfg):
            return
        cid = self._new_container()
        workdir = state.run_config.working_dir

        def make(stack: ExitStack, rootfs: str) -> None:
            mkdir_in_root(rootfs, workdir)

        self._fs_step(state, self._container_config(state, cfg, cid), cid, False, make)

    def _run(self, state: _State, cmd: ins.RunCommand) -> None:
        if cmd.flags_used:
            raise InvalidArgument(f"the --{cmd.flags_used[0]} option requires BuildKit. Refer to "
                                  "https://docs.docker.com/go/buildkit/ to learn how to build images with "
                                  "BuildKit enabled")
        shell = list(state.run_config.shell or DEFAULT_SHELL)
        line = cmd.cmd_line
        pipes: dict[str, bytes] = {}
        if cmd.heredocs and line is not None and cmd.prepend_shell:
            line = self._heredoc_run_line(cmd, pipes)
        cmd_from_args = [*shell, *line] if (cmd.prepend_shell and line is not None) else list(line or [])
        env = list(state.run_config.env or [])
        build_args = state.build_args.filter_allowed(env)
        save_cmd = list(cmd_from_args)
        if build_args:
            referenced = sorted(a for a in build_args if state.build_args.is_referenced_or_not_builtin(a.split("=", 1)[0]))
            save_cmd = [f"|{len(referenced)}", *referenced, *cmd_from_args]
        probe_cfg = copy_config(state.run_config)
        probe_cfg.cmd = save_cmd
        probe_cfg.args_escaped = False
        if save_cmd:
            probe_cfg.entrypoint = None
        if self._probe(state, probe_cfg):
            return
        run_cfg = copy_config(state.run_config)
        run_cfg.cmd = cmd_from_args
        run_cfg.env = [*env, *build_args]
        run_cfg.entrypoint = None
        run_cfg.healthcheck = None
        run_cfg = merge_container_config(run_cfg, state.parent.config if state.image_id else None)
        run_cfg.entrypoint = None
        if not run_cfg.cmd:
            raise InvalidArgument("No command specified")
        cid = self._new_container()
        last_good = state.image_id

        def execute(stack: ExitStack, rootfs: str) -> None:
            if run_cfg.working_dir:
                mkdir_in_root(rootfs, run_cfg.working_dir)
            bundle = self.ws.step_dir(stack, "run-")
            mounts = volume_copies(state.run_config.volumes or [], rootfs, bundle)
            if pipes:
                pipe_dir = bundle / "pipes"
                pipe_dir.mkdir()
                for name, data in pipes.items():
                    (pipe_dir / name).write_bytes(data)
                    os.chmod(pipe_dir / name, 0o755)
                mounts.append(rs.Mount("/dev/pipes", "bind", str(pipe_dir), ["rbind", "ro", "rprivate"]))
            request = RunRequest(
                container_id=cid, bundle=bundle, rootfs=Path(rootfs), config=run_cfg, runtime_root=self.b.runtime_root,
                cgroup_parent=self.options.cgroup_parent or self.b.cgroup_parent,
                network_mode=self.options.network_mode or "default", extra_hosts=list(self.options.extra_hosts),
                extra_mounts=mounts, memory=self.options.memory, memory_swap=self.options.memory_swap,
                cpu_shares=self.options.cpu_shares, cpu_period=self.options.cpu_period,
                cpu_quota=self.options.cpu_quota, cpuset_cpus=self.options.cpuset_cpus,
                cpuset_mems=self.options.cpuset_mems, shm_size=self.options.shm_size)

            def on_output(stream: int, data: bytes) -> None:
                text = data.decode("utf-8", errors="replace")
                if stream == 1:
                    self.progress.stream(text)
                else:
                    self.progress.stderr(text)

            code = run_step(request, on_output)
            if code != 0:
                raise RunFailed(f"The command '{' '.join(cmd_from_args)}' returned a non-zero code: {code}",
                                code, last_good)

        self._fs_step(state, probe_cfg, cid, True, execute)

    def _heredoc_run_line(self, cmd: ins.RunCommand, pipes: dict[str, bytes]) -> list[str]:
        """BuildKit's RUN heredocs: a lone heredoc runs its body with the shell (or, with `#!`, as a
        script file); anything else hands the shell the heredocs as written."""
        line = cmd.cmd_line or []
        if len(line) == 1:
            doc = parse_heredoc(line[0])
            if doc is not None and cmd.heredocs:
                data = cmd.heredocs[0].text()
                if data.startswith("#!"):
                    pipes[cmd.heredocs[0].name] = data.encode()
                    return [f"/dev/pipes/{cmd.heredocs[0].name}"]
                return [data]
        full = line[0] if line else ""
        for doc in cmd.heredocs:
            full += "\n" + doc.content + doc.name
        return [full]

    def _copy(self, state: _State, cmd: ins.CopyCommand, expand: Callable[[str], str]) -> None:
        chown = expand(cmd.chown)
        srcs = [expand(s) for s in cmd.sources]
        dest = expand(cmd.dest)
        name = cmd.name.upper()
        chmod: int | None = None
        if cmd.chmod:
            try:
                chmod = int(cmd.chmod, 8)
            except ValueError:
                raise InvalidArgument(f"invalid chmod parameter: '{cmd.chmod}'. it should be octal string "
                                      "and between 0 and 07777") from None
            if not 0 <= chmod <= 0o7777:
                raise InvalidArgument(f"invalid chmod parameter: '{cmd.chmod}'. it should be octal string and "
                                      "between 0 and 07777")
        with ExitStack() as stack:
            tree: Any = ContextTree(self.context) if self.context is not None else None
            from_context = True
            preserve = False
            if cmd.from_:
                try:
                    tree = FsTree(self._source_image(cmd.from_, state))
                except DockyardError as err:
                    raise type(err)(f"invalid from flag value {cmd.from_}: {err}") from None
                from_context = False
                preserve = not chown
            heredocs = None
            if cmd.heredocs:
                docs: dict[str, bytes] = {}
                env = self._env(state)
                for marker in srcs:
                    doc = parse_heredoc(marker)
                    match = next((h for h in cmd.heredocs if doc is not None and h.name == doc.name), None)
                    if doc is None or match is None:
                        continue
                    body = match.text()
                    if match.expand:
                        body = Lexer(self.lexer.escape).process_word_raw(body, env)
                    docs[marker] = body.encode()
                heredocs = HeredocTree(docs, str(self.ws.step_dir(stack, "heredoc-")))
            fetch = None
            if name == "ADD":
                def fetch(url: str) -> tuple[FsTree, str]:
                    remote, filename, directory = download(url, str(self.b.work_root))
                    stack.callback(shutil.rmtree, directory, True)
                    self.progress.stream("\n")
                    return remote, filename

            elif any(s.startswith(("http://", "https://")) for s in srcs):
                raise InvalidArgument(f"{name} failed: source can't be a URL for COPY")
            try:
                sources = collect(name, srcs, dest, tree, fetch, heredocs, from_context=from_context)
            except DockyardError as err:
                raise type(err)(f"{name} failed: {err}") from None
            check_destination(name, sources, dest)
            chown_comment = f"--chown={chown}" if chown else ""
            comment = f"{name} {chown_comment}{sources_checksum(sources)} in {dest} "
            cfg = self._comment_config(state, comment, single=True)
            if self._probe(state, cfg):
                return
            workdir = state.run_config.working_dir
            full_dest = normalize_dest(workdir, dest)

            def do_copy(step_stack: ExitStack, rootfs: str) -> None:
                uid = gid = 0
                if chown:
                    uid, gid = lookup_chown(rootfs, chown)
                copy_sources(rootfs, sources, full_dest, CopyOptions(uid=uid, gid=gid, chown=not preserve, chmod=chmod))

            self._fs_step(state, cfg, "", False, do_copy)

    def _source_image(self, name: str, state: _State) -> str:
        """The mounted, read-only root filesystem of a stage or image for COPY --from."""
        index = stage_index(self.stages, name, state.stage_index)
        if index is not None:
            if index not in self.results:
                raise InvalidArgument(f"stage {name} was not built")
            return self.ws.image_rootfs(self.results[index].image_id)
        return self.ws.image_rootfs(self._local_image(name))


# --- helpers ---------------------------------------------------------------------------------------


def _parse_tags(tags: list[str]) -> list[refs.Reference]:
    out: list[refs.Reference] = []
    seen: set[str] = set()
    for tag in tags:
        if not tag:
            continue
        ref = refs.parse_normalized(tag)
        if ref.digest:
            raise InvalidArgument("build tag cannot contain a digest")
        ref = ref.tag_name_only()
        if str(ref) not in seen:
            seen.add(str(ref))
            out.append(ref)
    return out


def _write_file(path: str, data: bytes) -> None:
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as err:
        with suppress(OSError):
            os.unlink(tmp)
        raise SystemCallError.from_oserror(f"write {path}", err) from None


_PORT = re.compile(r"(\d+)(?:-(\d+))?\Z")


def _port_specs(spec: str) -> list[str]:
    """nat.ParsePortSpecs for EXPOSE: `80`, `80/udp`, `8000-8002/tcp` as `port/proto` keys."""
    proto = "tcp"
    port = spec
    if "/" in spec:
        port, proto = spec.split("/", 1)
    if ":" in port:
        port = port.rsplit(":", 1)[1]
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"Invalid proto: {proto}")
    m = _PORT.match(port)
    if not m:
        raise InvalidArgument(f"Invalid containerPort: {port}")
    start = int(m.group(1))
    end = int(m.group(2) or m.group(1))
    if end < start:
        raise InvalidArgument(f"Invalid range specified for the Port: {port}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]
