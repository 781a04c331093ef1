"""The generic profile: any `nn.Module`, its stages its top-level children, or named by a stage map
(`--stages FILE.toml`: the first 'regex' = "stage" matching a whole module name wins), and the root stage
for the ops the root module runs itself; docs/models.md."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.errors import UsageError
from dstt_profile.fileio import read_toml
from dstt_profile.profiles.base import ModelProfile, user_stages
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import BACKWARD, ROOT_STAGE

NAME = "generic"


def slug_variants(run: RunConfig) -> tuple[str, ...]:
    """File-name words for a run's model arguments: 'width16'. Characters a file name should not hold become '-',
    and a word so changed ends in a digest of what it was, so 'tag=a/b' and 'tag=a-b' name different files."""
    raws = [f"{key}{value}" for key, value in run.model_args]
    words = [(raw, re.sub(r"[^A-Za-z0-9.-]+", "-", raw)) for raw in raws]
    return tuple(word if word == raw else f"{word}-{hashlib.sha256(raw.encode()).hexdigest()[:6]}" for raw, word in words)


def _top_level(module: str) -> str | None:
    return module.partition(".")[0] or None


StageMap = tuple[tuple[re.Pattern[str], str], ...]
# what each of the toolkit's stage names is, for the note on a model's stage renamed for it (user_stages)
_TOOL_STAGES = {BACKWARD: "backward pass's", ROOT_STAGE: "root module's own ops'"}


def read_stage_map(path: str) -> StageMap:
    """The patterns of a stage-map file, in order (UsageError naming the file and the problem)."""
    where = f"--stages {path}"
    data = read_toml(Path(path), where, "no such file", "cannot be read ({kind})", "not TOML ({exc})")
    table = data.get("stages")
    if unknown := sorted(set(data) - {"stages"}):
        raise UsageError(f"{where}: unknown table or key {unknown[0]!r} (expected only [stages])")
    if not isinstance(table, dict) or not table:
        raise UsageError(f"{where}: no [stages] table of 'pattern' = \"stage\" lines")
    out = []
    for pattern, stage in table.items():
        if not isinstance(stage, str) or not stage.strip():
            raise UsageError(f"{where}: the stage for {pattern!r} must be a non-empty string")
        try:
            out.append((re.compile(pattern), stage.strip()))
        except re.error as exc:
            raise UsageError(f"{where}: {pattern!r} is not a regular expression ({exc})") from None
    return tuple(out)


def generic(title: str, subject_for: Callable[[RunConfig, Callable[[str], str | None], str], Subject],
            module: nn.Module, stage_file: str | None) -> ModelProfile:
    """The generic profile of `module` (one instance, for its module names)."""
    found: Callable[[str], str | None] = _top_level
    if stage_file is not None:
        stage_map = read_stage_map(stage_file)
        names = [name for name, _ in module.named_modules() if name]
        # each pattern tried against every name: one shadowed by an earlier pattern still matches
        if missing := [regex.pattern for regex, _ in stage_map if not any(regex.fullmatch(n) for n in names)]:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise UsageError(f"--stages {stage_file}: the pattern {missing[0]!r} matches no module of {title}"
                             f"{f' ({len(missing)} patterns match none)' if len(missing) > 1 else ''}; its modules are {shown}")
        # the first pattern matching a name whole, looked up once per name (thousands of patterns: one pass)
        found = functools.cache(lambda m: next((s for regex, s in stage_map if regex.fullmatch(m)), None))
        stages = tuple(dict.fromkeys(stage for _, stage in stage_map))
        note = f"stages from {stage_file}"
    else:
        stages = tuple(name for name, _ in module.named_children())
        note = "stages: the model's top-level modules"
    if not stages:
        raise UsageError(f"the model {title} has no submodules to make stages of: give --stages FILE.toml")
    renamed = user_stages(stages)

    def stage_of(module: str) -> str | None:
        """The module's stage; the root's own ops (unless a pattern names the root) are the root stage's."""
        stage = found(module)
        if stage is None:
            return ROOT_STAGE if module == "" else None
        return renamed.get(stage, stage)

    stages = tuple(renamed.get(stage, stage) for stage in stages)
    note += "".join(f"; the modules' stage {old!r} is named {new!r} ({old!r} is the {_TOOL_STAGES[old]})"
                    for old, new in renamed.items())
    # ops before any stage ran are the root's (its own, or those of modules no pattern names)
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: subject_for(run, stage_of, ROOT_STAGE),
                        stage_of=stage_of, stages=stages, call_order=True, root_stage=ROOT_STAGE,
                        variant=lambda run: ", ".join(f"{k}={v}" for k, v in run.model_args),
                        slug_variants=slug_variants, note=note)
