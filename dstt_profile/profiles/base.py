"""`ModelProfile`: what the toolkit knows of one model beside the engine's `Subject`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dstt_profile.engine.subject import Subject
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import (
    BACKWARD,
    ROOT_STAGE,
    CheckRecord,
    GraphHintsRecord,
    ProfileRecord,
    StageRecord,
)

# Stage names the toolkit gives ops no module runs (train mode's backward pass), which no profile may take.
RESERVED_STAGES = frozenset({BACKWARD})


def user_stages(stages: Iterable[str]) -> dict[str, str]:
    """A model's stage names that are the toolkit's (reserved, or the root stage's), each with the name it is
    shown as (`backward (module)`, `(root) (module)`, ...)"""
    taken = set(stages)
    renamed: dict[str, str] = {}
    for name in sorted(taken & (RESERVED_STAGES | {ROOT_STAGE})):
        candidates = (f"{name} (module{'' if n == 1 else f' {n}'})" for n in itertools.count(1))
        renamed[name] = next(new for new in candidates if new not in taken)
        taken.add(renamed[name])
    return renamed


@dataclass(frozen=True)
class Headline:
    """A stage's headline tensor: output `output` of the first module fully matching the regex `module` (its
    matches: the stage's instances); where that is None, the largest made `scope_up` name parts above."""

    module: str
    output: int
    what: str
    scope_up: int = 0


@dataclass(frozen=True)
class FormulaValue:

    general: str
    substituted: str
    value: int


class Formulas(Protocol):
    """Closed-form figures to check a trace against: `stage` one instance's headline elements (None: none);
    `tensor(pattern, index)` gives output `index` of the first module matching `pattern` (0: none)."""

    def stage(self, run: RunConfig, stage: str, materialised: bool) -> FormulaValue | None: ...

    def checks(self, run: RunConfig, stages: Mapping[str, StageRecord], tensor: Callable[[str, int], int]) -> tuple[CheckRecord, ...]: ...


@dataclass(frozen=True, eq=False)
class ModelProfile:
    """One model, resolved for a run's model reference and arguments: `stages` in network order (with
    `call_order`: as the pass first runs them); a stage without a headline shows the attention matrix its
    modules make (analysis/attention.py), else its first module's output. `root_stage` (not one of `stages`)
    takes the ops the root module runs itself, and is shown (in call order) where they allocate or compute."""

    name: str
    title: str
    subject_for: Callable[[RunConfig], Subject]
    stage_of: Callable[[str], str | None]
    stages: tuple[str, ...]
    headlines: Mapping[str, Headline] = field(default_factory=dict)
    formulas: Formulas | None = None
    call_order: bool = False
    quadratic_stage: str = ""
    quadratic_words: str = ""
    quadratic_headline: str = ""
    colours: Mapping[str, str] = field(default_factory=dict)
    graph: GraphHintsRecord = field(default_factory=GraphHintsRecord)
    kernel_stages: tuple[str, ...] = ()
    variant: Callable[[RunConfig], str] = lambda _run: ""
    slug_variants: Callable[[RunConfig], tuple[str, ...]] = lambda _run: ()
    note: str = ""
    check_checkpoint: Callable[[str, RunConfig], str] | None = None
    root_stage: str = ""

    def __post_init__(self) -> None:
        reserved = sorted(RESERVED_STAGES.intersection((*self.stages, self.root_stage)))
        if reserved:
            raise ValueError(f"profile {self.name!r}: the stage name {reserved[0]!r} is reserved (see user_stages)")
        if self.root_stage and self.root_stage in self.stages:
            raise ValueError(f"profile {self.name!r}: the root stage {self.root_stage!r} is also a module's stage")

    def slug(self, run: RunConfig) -> str:
        return run.slug(self.slug_variants(run))

    def record(self, run: RunConfig, stages: tuple[str, ...]) -> ProfileRecord:
        """What a run's record carries of this profile (all the renderers read of it), stages as shown."""
        quadratic = self.quadratic_stage if self.quadratic_stage in stages else ""
        return ProfileRecord(name=self.name, title=self.title, variant=self.variant(run), stages=stages,
                             quadratic_stage=quadratic, colours=dict(self.colours), note=self.note, graph=self.graph,
                             quadratic_words=self.quadratic_words if quadratic else "",
                             quadratic_headline=self.quadratic_headline if quadratic else "")
