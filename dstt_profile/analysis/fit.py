"""The search for the largest clip length t within a memory budget (`dstt-profile fit`; run by
pipeline/search.py over a Sweep's records).

The gate is the footprint (`--gate footprint`, the default, since "will it fit" is asked of the whole
memory: weights + input + allocator peak [+ optimizer state in train mode] [+ the assumed CUDA
context], records/footprint.py) or the activation peak alone (`--gate peak`: the allocator peak above weights
and input, or the tensor peak with `--memory tensors`).

Found by search, every figure exact: t = 1, 2, 4, ... until t exceeds the budget, then binary search
between the last fit and the first miss. Assumes the gated figure grows with t (it does: every stage is
linear or quadratic in t with positive coefficients).
"""

from __future__ import annotations

from collections.abc import Callable

from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig
from dstt_profile.records.schema import RunRecord
from dstt_profile.records.search import FitAnswer

PeakOf = Callable[[int], int]  # t -> gated bytes
GATES = ("peak", "footprint")


def search_max(peak: PeakOf, budget: int, limit: int = MAX_FRAMES) -> int:
    """Largest t in [0, limit] with peak(t) <= budget (0: none), assuming peak grows with t."""
    if peak(1) > budget:
        return 0
    lo, hi = 1, 2  # peak(lo) fits; probe hi
    while hi <= limit and peak(hi) <= budget:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if peak(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def gated(record: RunRecord, gate: str) -> int:
    """The figure `gate` holds to the budget: the activation peak in the run's view, or the footprint."""
    return record.footprint.total if gate == "footprint" else record.peak_view.bytes


def answer(base: RunConfig, budget: int, gate: str, best: int, seen: dict[int, RunRecord], runs: int,
           derived: int) -> FitAnswer:
    """The answer of a search that found `best`, from the records it made (`seen`, by t)."""
    at, nxt = seen.get(best), seen.get(best + 1)
    return FitAnswer(
        max_frames=best,
        peak_bytes=at.peak_view.bytes if at else 0,
        next_peak_bytes=nxt.peak_view.bytes if nxt else None,
        budget_bytes=budget,
        runs=runs,
        peak_stage=at.peak_view.stage if at else "",
        gate=gate,
        footprint_bytes=at.footprint.total if at else 0,
        next_footprint_bytes=nxt.footprint.total if nxt else None,
        run=base.replace(frames=max(best, 1)),
        derived=derived,
    )
