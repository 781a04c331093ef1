"""A comparison's records from each model's report and its largest-t answer (records/compare.py): the laws the
main report states, per model, and the check that every model ran on the same clip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dstt_profile.analysis.laws import law
from dstt_profile.records.compare import Comparison, ModelEntry
from dstt_profile.records.report import Report
from dstt_profile.records.runconfig import ArgValue, RunConfig
from dstt_profile.records.search import FitAnswer

# What every model of a comparison shares: the clip and how it is run.
CLIP_FIELDS = ("frames", "height", "width", "batch", "dtype", "device", "mode", "memory", "optimizer", "threads", "real")


def model_entry(label: str, report: Report, fit: FitAnswer, given_args: Sequence[tuple[str, ArgValue]] = ()) -> ModelEntry:
    """One model's entry: its run (per-op and per-module detail dropped), its scaling series, the peak's law per
    segment of one peak stage (as the main report states it) and the law of its total FLOPs in t."""
    scaling = report.scaling
    flops = law("FLOPs", list(zip(scaling.frames, scaling.flops, strict=True)))
    run = replace(report.run, ops=(), modules=())
    return ModelEntry(label, run, scaling, report.laws.peaks, flops, fit, tuple(given_args))


def clip_of(run: RunConfig) -> tuple[object, ...]:
    return tuple(getattr(run, name) for name in CLIP_FIELDS)


def comparison(models: Sequence[ModelEntry], budget_bytes: int, gate: str) -> Comparison:
    """The comparison of `models` (at least two, labels unique, one clip: ValueError otherwise)."""
    if len(models) < 2:
        raise ValueError("a comparison needs at least two models")
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two models are labelled {next(x for i, x in enumerate(labels) if x in labels[:i])!r}")
    first = clip_of(models[0].run.config)
    if other := next((m for m in models if clip_of(m.run.config) != first), None):
        raise ValueError(f"{other.label} was run on another clip than {models[0].label}")
    return Comparison(tuple(models), budget_bytes, gate)
