"""The generic profile: any `nn.Module`, its stages from its module names (docs/models.md).

By default each top-level child is a stage of its own name, shown in the order the pass first runs them; a stage
map (`--stages FILE.toml`, a `[stages]` table of 'regex' = "stage", the first pattern that matches a whole module
name wins) names them instead. Modules no pattern matches run glue ops, which belong to the stage that was
running. A stage's headline is the output of its first outermost module. No formulas, so no checks. A model's own
`backward` stage is renamed (base.user_stages)."""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.errors import UsageError
from dstt_profile.profiles.base import ModelProfile, user_stages
from dstt_profile.records.runconfig import RunConfig

NAME = "generic"


def slug_variants(run: RunConfig) -> tuple[str, ...]:
    """File-name words for a run's model arguments: 'width16'. Characters a file name should not hold become '-',
    and a word so changed ends in a digest of what it was, so 'tag=a/b' and 'tag=a-b' name different files."""
    raws = [f"{key}{value}" for key, value in run.model_args]
    words = [(raw, re.sub(r"[^A-Za-z0-9.-]+", "-", raw)) for raw in raws]
    return tuple(word if word == raw else f"{word}-{hashlib.sha256(raw.encode()).hexdigest()[:6]}" for raw, word in words)


def _top_level(module: str) -> str | None:
    """The default stage map: a module's top-level ancestor; None for the root."""
    return module.partition(".")[0] or None


StageMap = tuple[tuple[re.Pattern[str], str], ...]


def read_stage_map(path: str) -> StageMap:
    """The patterns of a stage-map file, in order (UsageError naming the file and the problem)."""
    where = f"--stages {path}"
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot be read ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not TOML ({exc})") from None
    table = data.get("stages")
    unknown = sorted(set(data) - {"stages"})
    if unknown:
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


def mapped(stage_map: StageMap) -> Callable[[str], str | None]:
    """The stage of a module name: the first pattern's that matches it whole (looked up once per name,
    so a map of thousands of patterns costs each module one pass over them)."""

    @functools.cache
    def stage_of(module: str) -> str | None:
        return next((stage for regex, stage in stage_map if regex.fullmatch(module)), None)

    return stage_of


def renaming(stage_of: Callable[[str], str | None], renamed: dict[str, str]) -> Callable[[str], str | None]:
    """`stage_of` with the stages in `renamed` given their new names (user_stages)."""

    def renamed_stage_of(module: str) -> str | None:
        stage = stage_of(module)
        return None if stage is None else renamed.get(stage, stage)

    return renamed_stage_of if renamed else stage_of


def generic(title: str, subject_for: Callable[[RunConfig, Callable[[str], str | None], str], Subject],
            module: nn.Module, stage_file: str | None) -> ModelProfile:
    """The generic profile of `module` (one instance, for its children's names); `subject_for(run,
    stage_of, first_stage)` makes the engine's subject."""
    if stage_file is not None:
        stage_map = read_stage_map(stage_file)
        names = [name for name, _ in module.named_modules() if name]
        # each pattern tried against every name: one shadowed by an earlier pattern still matches
        missing = [regex.pattern for regex, _ in stage_map if not any(regex.fullmatch(name) for name in names)]
        if missing:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise UsageError(f"--stages {stage_file}: the pattern {missing[0]!r} matches no module of {title}"
                             f"{f' ({len(missing)} patterns match none)' if len(missing) > 1 else ''}; its modules are {shown}")
        stage_of = mapped(stage_map)
        stages = tuple(dict.fromkeys(stage for _, stage in stage_map))
        note = f"stages from {stage_file}"
    else:
        stage_of = _top_level
        stages = tuple(name for name, _ in module.named_children())
        note = "stages: the model's top-level modules"
    if not stages:
        raise UsageError(f"the model {title} has no submodules to make stages of: give --stages FILE.toml")
    renamed = user_stages(stages)
    stage_of = renaming(stage_of, renamed)
    stages = tuple(renamed.get(stage, stage) for stage in stages)
    note += "".join(f"; the modules' stage {old!r} is named {new!r} ({old!r} is the backward pass's)"
                    for old, new in renamed.items())
    first = stages[0]
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: subject_for(run, stage_of, first), stage_of=stage_of,
                        stages=stages, call_order=True, variant=lambda run: ", ".join(f"{k}={v}" for k, v in run.model_args),
                        slug_variants=slug_variants, note=note)
