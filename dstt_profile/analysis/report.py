"""A `Report` from a result's records alone (never running the model): the scaling series it draws and
their laws, computed once here, so that renderers only render."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.analysis.laws import laws_of
from dstt_profile.errors import UsageError
from dstt_profile.records.report import Report, detail_run
from dstt_profile.records.runconfig import MAX_FRAMES
from dstt_profile.records.schema import Result, RunRecord, ScalingRecord, StageSeries


def default_upto(t: int) -> int:
    """The largest t the main job's scaling plots reach: 2t, at least 16, at most MAX_FRAMES (14 -> 28).
    Every t up to it is derived exactly from three traces, so this costs the same whatever it is."""
    return min(max(2 * t, 16), MAX_FRAMES)


def scaling_series(runs: Sequence[RunRecord], source: str) -> ScalingRecord:
    """The series of `runs` (one configuration, one run per t), sorted by t: the stages every run holds,
    in the first run's order; `source` says how the runs were obtained."""
    ordered = sorted(runs, key=lambda r: r.frames)
    if len({r.frames for r in ordered}) != len(ordered):
        raise ValueError("scaling series need one run per t")
    names = [s for s in ordered[0].stages if all(s in r.stages for r in ordered)] if ordered else []
    stages = {name: StageSeries(*(tuple(getattr(r.stages[name], k) for r in ordered)
                                  for k in ("bytes", "flops", "peak_bytes"))) for name in names}
    return ScalingRecord(source, tuple(r.frames for r in ordered), stages, tuple(r.flops.total for r in ordered),
                         tuple(r.peak.bytes for r in ordered), tuple(r.peak.stage for r in ordered),
                         tuple(r.tensor_peak.bytes for r in ordered), tuple(r.tensor_peak.stage for r in ordered))


def report_of(result: Result) -> Report:
    """The report of `result`: one configuration, one run per t (UsageError otherwise). Its series are those
    the result stores, else its runs' (a sweep, or one run saved without them: one point per stage)."""
    if not result.runs:
        raise UsageError("the result holds no runs: nothing to report")
    twice = result.same_t()
    if twice is not None:
        first, second = twice
        raise UsageError(f"the result holds two runs at t={result.runs[second].frames} (runs[{first}] and "
                         f"runs[{second}]): a report shows one configuration, one run per t")
    runs, t = result.runs, result.runs[0].frames
    scaling = result.scaling or scaling_series(runs, f"from this sweep's {len(runs)} runs" if len(runs) > 1 else (
        f"this saved result holds one run (t={t}) and no scaling series, and `report` does not run the model: "
        f"one point per stage, no fitted curve. Run `dstt-profile --frames {t}` again for the scaling curves."))
    main = detail_run(runs)
    return Report(result, scaling, laws_of(scaling, main.memory, main.profile.quadratic_stage))
