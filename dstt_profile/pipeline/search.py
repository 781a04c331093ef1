"""Searches over t, each probed t a Sweep's record (derived, then checked against a trace at the answer;
where the check fails the search is made again tracing every probed t)."""

from __future__ import annotations

from collections.abc import Callable

from dstt_profile.analysis.fit import GATES, answer, gated, search_max
from dstt_profile.errors import UsageError
from dstt_profile.pipeline.sweep import Sweep
from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig
from dstt_profile.records.schema import RunRecord
from dstt_profile.records.search import FitAnswer


def _search(probe: Callable[[int], RunRecord], budget: int, gate: str) -> tuple[int, dict[int, RunRecord]]:
    seen: dict[int, RunRecord] = {}

    def record(t: int) -> RunRecord:
        if t not in seen:
            seen[t] = probe(t)
        return seen[t]

    best = search_max(lambda t: gated(record(t), gate), budget, MAX_FRAMES)
    for t in (best + 1, best):
        if 1 <= t <= MAX_FRAMES:
            record(t)
    return best, seen


def solve(base: RunConfig, budget: int, probe: Callable[[RunConfig], RunRecord] | None = None,
          gate: str = "footprint") -> FitAnswer:
    """The largest t of `base` (its frames ignored) whose `gate` figure fits `budget` bytes. Each probed
    t is a Sweep's record, or `probe`'s where given (then nothing is derived or checked)."""
    if gate not in GATES:
        raise UsageError(f"--gate {gate!r}: choose {' or '.join(GATES)}")
    if probe is not None:
        best, seen = _search(lambda t: probe(base.replace(frames=t)), budget, gate)
        return answer(base, budget, gate, best, seen, len(seen), 0)
    sweep = Sweep(base)
    best, seen = _search(sweep.record, budget, gate)
    if sweep.check(max(best, 1)):
        return answer(base, budget, gate, best, seen, sweep.traced, sweep.derived)
    again = Sweep(base, derive=False)  # the derivation did not hold: trace every probed t
    best, seen = _search(again.record, budget, gate)
    return answer(base, budget, gate, best, seen, sweep.traced + again.traced, 0)


def peak_crossover(base: RunConfig, limit: int = 1 << 16) -> int | None:
    """Smallest t from which the peak (in the run's view) is set inside the stage the profile says grows
    with t^2 (DSTT's temporal blocks); None where there is no such stage, or no t up to `limit`."""

    def first(sweep: Sweep) -> int | None:
        def outside(t: int) -> int:
            record = sweep.record(t)
            stage = record.profile.quadratic_stage
            return 0 if not stage or record.peak_view.stage != stage else 1

        last = search_max(outside, 0, limit)  # the largest t whose peak is outside it, assuming none after
        return None if last >= limit else last + 1

    sweep = Sweep(base)
    found = first(sweep)
    return found if found is None or sweep.check(found) else first(Sweep(base, derive=False))
