"""The scaling series of a result: per-stage bytes, FLOPs and peaks, the totals and the peak, at every t.

This is what the report's scaling laws, plots and crossovers read (`ScalingRecord`). A sweep's series
come from its own runs; a single run's come from the default sweep around its t, which the main job
derives (api.py) and stores in the result, so a saved result re-renders without running the model.
"""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.records.schema import Result, RunRecord, ScalingRecord, StageSeries


def default_upto(t: int) -> int:
    """The largest t the main job's scaling plots reach: twice the requested t, at least 16, and never
    past the largest t a run may ask for (MAX_FRAMES).

    14 -> 28. Every t up to it is derived exactly from three traces (polytrace.py), so the curves are
    drawn through every whole t and cost the same whatever this is.
    """
    from dstt_profile.records.runconfig import MAX_FRAMES

    return min(max(2 * t, 16), MAX_FRAMES)


def scaling_series(runs: Sequence[RunRecord], source: str) -> ScalingRecord:
    """The series of `runs` (one configuration, one run per t), sorted by t; `source` says how the runs
    were obtained. Stages are those every run holds, in the first run's (network) order."""
    ordered = sorted(runs, key=lambda r: r.frames)
    if len({r.frames for r in ordered}) != len(ordered):
        raise ValueError("scaling series need one run per t")
    names = [s for s in ordered[0].stages if all(s in r.stages for r in ordered)] if ordered else []
    stages = {
        name: StageSeries(
            bytes=tuple(r.stages[name].bytes for r in ordered),
            flops=tuple(r.stages[name].flops for r in ordered),
            peak_bytes=tuple(r.stages[name].peak_bytes for r in ordered),
        )
        for name in names
    }
    return ScalingRecord(
        source=source,
        frames=tuple(r.frames for r in ordered),
        stages=stages,
        flops=tuple(r.flops.total for r in ordered),
        peak_bytes=tuple(r.peak.bytes for r in ordered),
        peak_stage=tuple(r.peak.stage for r in ordered),
        tensor_peak_bytes=tuple(r.tensor_peak.bytes for r in ordered),
        tensor_peak_stage=tuple(r.tensor_peak.stage for r in ordered),
    )


def of_result(result: Result) -> ScalingRecord:
    """The series a result's report shows: those it stores, else its runs' (a sweep, or one run saved
    without them: one point per stage)."""
    if result.scaling is not None:
        return result.scaling
    runs = result.runs
    if len(runs) > 1:
        return scaling_series(runs, f"from this sweep's {len(runs)} runs")
    t = runs[0].frames
    return scaling_series(
        runs,
        f"this saved result holds one run (t={t}) and no scaling series, and `report` does not run the model: "
        f"one point per stage, no fitted curve. Run `dstt-profile --frames {t}` again for the scaling curves.",
    )


def peaks(series: ScalingRecord, memory: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The peak's bytes and stage at each t, in the memory view `memory` (allocator | tensors)."""
    if memory == "tensors":
        return series.tensor_peak_bytes, series.tensor_peak_stage
    return series.peak_bytes, series.peak_stage
