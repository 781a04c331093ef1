"""The search for the largest clip length t within a memory budget (`dstt-profile fit`, run by pipeline/search.py):
t = 1, 2, 4, ... until one misses, then binary search, every figure exact. The gate is the footprint (the
default: "will it fit" is asked of the whole memory) or the activation peak in the run's view; both grow with t."""

from __future__ import annotations

from collections.abc import Callable

from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig
from dstt_profile.records.schema import RunRecord
from dstt_profile.records.search import FitAnswer

GATES = ("peak", "footprint")


def search_max(peak: Callable[[int], int], budget: int, limit: int = MAX_FRAMES) -> int:
    """Largest t in [0, limit] with peak(t) <= budget (0: none), assuming peak grows with t."""
    if peak(1) > budget:
        return 0
    lo, hi = 1, 2  # peak(lo) fits; probe hi
    while hi <= limit and peak(hi) <= budget:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if peak(mid) <= budget else (lo, mid)
    return lo


def gated(record: RunRecord, gate: str) -> int:
    return record.footprint.total if gate == "footprint" else record.peak_view.bytes


def answer(base: RunConfig, budget: int, gate: str, best: int, seen: dict[int, RunRecord], runs: int,
           derived: int) -> FitAnswer:
    """The answer of a search that found `best`, from the records it made (`seen`, by t)."""
    at, nxt = seen.get(best), seen.get(best + 1)
    return FitAnswer(best, at.peak_view.bytes if at else 0, nxt.peak_view.bytes if nxt else None, budget, runs,
                     at.peak_view.stage if at else "", gate, at.footprint.total if at else 0,
                     nxt.footprint.total if nxt else None, base.replace(frames=max(best, 1)), derived)
