"""The Python API and the one orchestrator every edge calls: `profile(...)` returns the `Report` the command
line renders (`dstt_profile.profile(frames=14).stages`: a DataFrame, one row per stage; `sweep(frames=range(1,
65))`: one row per t x stage)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torch import nn

from dstt_profile.analysis.report import report_of
from dstt_profile.errors import UsageError
from dstt_profile.pipeline.runs import (
    measured_run,
    plot_frames,
    profile_many,
    profile_run,
    require_real_memory,
    scaling_runs,
    with_fvcore,
    with_scaling,
)
from dstt_profile.pipeline.training import with_train_split
from dstt_profile.profiles.inputs import register_inputs
from dstt_profile.profiles.registry import instance_factory, register_factory
from dstt_profile.records.report import Report, stages_frame
from dstt_profile.records.runconfig import (
    DEFAULT_MODEL,
    MAX_FRAMES,
    MAX_SWEEP,
    RunConfig,
    check_frames,
    model_args_of,
    parse_frames,
)
from dstt_profile.records.schema import Result
from dstt_profile.runs import build_run
from dstt_profile.units import parse_bytes
from dstt_profile.values import shown, whole_number

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Profile", "max_frames", "measured_run", "plot_frames", "profile", "profile_many", "profile_run", "profile_runs",
           "run_config", "scaling_runs", "sweep", "with_scaling"]

_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig))


def run_config(frames: int = 14, res: str | tuple[int, int] = "240x432", **options: Any) -> RunConfig:
    """A validated RunConfig from API-style arguments: `model` may also be an nn.Module, or a factory returning one;
    `inputs` a function making the forward's arguments (profiles/inputs.py);
    options that are not RunConfig fields are model arguments (`heads=8`; a factory's keywords)."""
    if "height" in options or "width" in options:
        raise UsageError("give the frame size as res='HxW' or res=(height, width)")
    model = options.pop("model", DEFAULT_MODEL)
    if isinstance(model, nn.Module):
        model = register_factory(instance_factory(model))
    elif not isinstance(model, str):
        model = register_factory(model)
    if (inputs := options.get("inputs")) is not None and not isinstance(inputs, str):
        options["inputs"] = register_inputs(inputs)
    args = {k: options.pop(k) for k in list(options) if k not in _FIELDS}
    if args:
        given = options.pop("model_args", {})
        options["model_args"] = {**(dict(given) if isinstance(given, dict) else dict(model_args_of(given))), **args}
    return build_run(frames, res, model=model, **options)


class Profile(Report):
    """A `Report` that renders as an HTML table in a notebook."""

    def _repr_html_(self) -> str:
        from html import escape

        from dstt_profile.render.terminal import describe, peak_lines

        head = "<br>".join(escape(line.strip()) for line in [describe(self.run), *peak_lines(self.run)])
        return f"<p>{head}</p>" + self.stages.drop(columns=["t"]).to_html(index=False)


def profile_runs(runs: Sequence[RunConfig], *, measure: bool = False, repeats: int = 3, fvcore: bool = False,
                 keep_ops: str = "last", scaling: bool = True, meta: dict[str, Any] | None = None,
                 progress: Callable[[int, int, RunConfig], None] | None = None,
                 step: Callable[[RunConfig], Callable[[str], None] | None] | None = None) -> Profile:
    """The report of `runs` (one configuration, one run per t), with a single run's scaling series (unless
    `scaling=False`) and a single train run's peak split. `keep_ops`: "last" keeps the largest t's per-op
    detail, "traced" every traced run's. `step(run)` gives a function told each step of a measured run."""
    if measure or fvcore:
        require_real_memory(runs, "--measure" if measure else "--fvcore")
    if measure:
        if any(r.mode != "inference" for r in runs):
            raise UsageError("--measure runs the forward pass: use --mode inference")
        records = (measured_run(r, repeats=repeats, progress=step(r) if step else None) for r in runs)
        result = Result(tuple(with_fvcore(r, fvcore) for r in records))
    else:
        result = profile_many(runs, keep_ops=keep_ops != "none", fvcore=fvcore, progress=progress, detail=keep_ops)
    if scaling:
        result = with_scaling(result)  # before the train split: checked against the traced record itself
    if len(result.runs) == 1:
        result = replace(result, runs=(with_train_split(result.runs[0]),))
    if meta:
        result = replace(result, meta={**result.meta, **meta})
    report = report_of(result)
    return Profile(report.result, report.scaling, report.laws)


def _frames_of(frames: int | str | Iterable[int]) -> tuple[int, ...]:
    if isinstance(frames, str):
        return parse_frames(frames, "frames")
    if isinstance(frames, int) and not isinstance(frames, bool):
        return (whole_number(frames, "frames", 1, MAX_FRAMES),)
    if isinstance(frames, Sized) and len(frames) > MAX_SWEEP:
        raise UsageError(f"frames {shown(frames)}: {len(frames)} frame counts is more than {MAX_SWEEP} in one run")
    try:
        items = list(itertools.islice(iter(frames), MAX_SWEEP + 1))  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"frames must be an int, text such as '1:32', or ints, got {shown(frames)}") from None
    values = tuple(whole_number(f, "frames: each frame count", 1, MAX_FRAMES) for f in items)
    return check_frames(values, frames, "frames")


def profile(model: Any = DEFAULT_MODEL, frames: int | str | Iterable[int] = 14,
            res: str | tuple[int, int] = "240x432", *, measure: bool = False, repeats: int = 3, fvcore: bool = False,
            scaling: bool = True, **options: Any) -> Profile:
    """The report of `model` at every t of `frames` (an int, '1:32' or ints): what the command line's main
    job renders. Options: RunConfig's fields and the model's arguments (run_config)."""
    ts = _frames_of(frames) if isinstance(frames, (str, Iterable)) else (frames,)  # a single t: RunConfig's rules
    runs = [run_config(t, res, model=model, **options) for t in ts]
    return profile_runs(runs, measure=measure, repeats=repeats, fvcore=fvcore, scaling=scaling)


def sweep(frames: int | str | Iterable[int] = range(1, 65), res: str | tuple[int, int] = "240x432",
          **options: Any) -> pd.DataFrame:
    """Profile every t in `frames`; returns a tidy DataFrame, one row per t x stage."""
    runs = [run_config(t, res, **options) for t in _frames_of(frames)]
    return stages_frame(profile_many(runs, keep_ops=False).runs)


def max_frames(budget_bytes: int | str, res: str | tuple[int, int] = "240x432", gate: str = "footprint",
               **options: Any) -> int:
    """The largest t whose footprint (gate="peak": activation peak) fits `budget_bytes` ('16GiB' or an int)."""
    from dstt_profile.pipeline.search import solve

    return solve(run_config(1, res, **options), parse_bytes(budget_bytes), gate=gate).max_frames
