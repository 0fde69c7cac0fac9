"""Which stages a build runs, and in what order.

    plan = plan_stages(stages, meta_args, target="test", build_args={...})
    plan.stages          # [(index in the Dockerfile, Stage)], in Dockerfile order
    plan.total_steps     # what `Step n/N` counts

The target is `--target` (case-insensitive; `failed to reach build target x in Dockerfile`
otherwise) or the last stage. A stage is needed when it is the target or a needed stage uses it:
`FROM <stage name>` (the name after meta-ARG expansion) or `COPY --from=<stage name or index>`.
Stages nobody needs are not built, as BuildKit does; Docker 20.10's classic builder would build
every stage up to the target (the only difference a user sees is the shorter step list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dockyard.build.instructions import ArgCommand, CopyCommand, Stage
from dockyard.build.shell_words import Lexer
from dockyard.errors import InvalidArgument

__all__ = ["Plan", "plan_stages", "stage_index"]


@dataclass
class Plan:
    stages: list[tuple[int, Stage]]
    meta_args: list[ArgCommand]
    total_steps: int


def stage_index(stages: Sequence[Stage], name: str, before: int, allow_index: bool = True) -> int | None:
    """The index of the stage `name` (a stage name, or with `allow_index` a number) among the
    first `before` stages; None when it names no stage (then it is an image)."""
    lower = name.lower()
    for i, stage in enumerate(stages[:before]):
        if stage.name and stage.name == lower:
            return i
    if not allow_index:
        return None
    if name.isdigit() or (name.startswith("-") and name[1:].isdigit()):
        index = int(name)
        if index == before:
            raise InvalidArgument("refers to current build stage")
        if index < 0 or index > before:
            raise InvalidArgument("index out of bounds")
        return index
    return None


def _expanded_base(stage: Stage, lexer: Lexer, meta: Mapping[str, str]) -> str:
    try:
        return lexer.process_word(stage.base_name, meta)
    except InvalidArgument:
        return stage.base_name


def plan_stages(stages: list[Stage], meta_args: list[ArgCommand], target: str, meta_values: Mapping[str, str],
                escape: str = "\\") -> Plan:
    if not stages:
        raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
    last = len(stages) - 1
    if target:
        found = [i for i, s in enumerate(stages) if s.name and s.name == target.lower()]
        if not found:
            raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
        last = found[0]
    lexer = Lexer(escape)
    needed = {last}
    for i in range(last, -1, -1):
        if i not in needed:
            continue
        stage = stages[i]
        base = stage_index(stages, _expanded_base(stage, lexer, meta_values), i, allow_index=False)
        if base is not None:
            needed.add(base)
        for cmd in stage.commands:
            if isinstance(cmd, CopyCommand) and cmd.from_:
                try:
                    ref = stage_index(stages, cmd.from_, i)
                except InvalidArgument:
                    ref = None  # reported when the COPY runs
                if ref is not None:
                    needed.add(ref)
    chosen = [(i, stages[i]) for i in sorted(needed)]
    total = len(meta_args) + sum(1 + len(s.commands) for _, s in chosen)
    return Plan(chosen, meta_args, total)
