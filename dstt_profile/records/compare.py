"""A comparison of several models on one clip (`dstt-profile compare`, docs/cli.md): for each model its run at the
clip's t, its scaling series and laws in t, and the largest t within a memory budget. Plain frozen data, computed
by analysis/compare.py and rendered by render/compare.py."""

from __future__ import annotations

from dataclasses import dataclass

from dstt_profile.records.laws import Law, PeakSegment
from dstt_profile.records.runconfig import ArgValue, RunConfig
from dstt_profile.records.schema import MemoryView, PeakRecord, RunRecord, ScalingRecord
from dstt_profile.records.search import FitAnswer

SCHEMA = "dstt-profile-compare/1"  # the tag of a comparison's JSON file


@dataclass(frozen=True)
class ModelEntry:
    """One model of a comparison: `run` its record at the clip's t (no per-op detail), `scaling` the exact
    series of its default sweep in t, `peak_laws` the peak's law (the run's memory view) over each run of t
    where one stage holds it, `flops_law` the total FLOPs' law, `fit` the largest t within the budget;
    `given_args` the model arguments as the user gave them (the run's own are complete)."""

    label: str
    run: RunRecord
    scaling: ScalingRecord
    peak_laws: tuple[PeakSegment, ...]
    flops_law: Law
    fit: FitAnswer
    given_args: tuple[tuple[str, ArgValue], ...] = ()

    @property
    def peak(self) -> PeakRecord:
        """The peak in the run's memory view."""
        return self.run.peak_view

    @property
    def peak_series(self) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The peak's bytes and stage at each t of the scaling series, in the run's memory view."""
        return self.scaling.peaks(self.run.memory)

    @property
    def checks_failed(self) -> int:
        return sum(not c.passed for c in self.run.checks)


@dataclass(frozen=True)
class Comparison:
    """Models run on one clip (each entry's run has the same t, frame size, batch, dtype, device, mode, memory
    view and optimizer), the budget every largest t was searched within and what was held to it (`gate`)."""

    models: tuple[ModelEntry, ...]
    budget_bytes: int
    gate: str  # footprint or peak (analysis/fit.py GATES)
    schema: str = SCHEMA

    @property
    def clip(self) -> RunConfig:
        """The first model's configuration: what every model shares."""
        return self.models[0].run.config

    @property
    def memory(self) -> MemoryView:
        return self.models[0].run.memory

    @property
    def failed(self) -> bool:
        """Whether a model's formula checks failed (its figures do not match their closed forms)."""
        return any(m.checks_failed for m in self.models)
