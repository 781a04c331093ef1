"""The largest clip length t that stays within a memory budget (`dstt-profile fit`: cli/fit.py).

The gate is the footprint (`--gate footprint`, the default, since "will it fit" is asked of the whole
memory: weights + input + allocator peak [+ optimizer state in train mode] [+ the assumed CUDA
context], footprint.py) or the activation peak alone (`--gate peak`: the allocator peak above weights
and input, or the tensor peak with `--memory tensors`).

Found by search, every figure exact: t = 1, 2, 4, ... until t exceeds the budget, then binary search
between the last fit and the first miss. Each probed t is derived from the traces at t = 2, 3, 4
(polytrace.py, exact integers) and t = 1 is traced; the answer is then checked against a trace at
the largest t found, and where that check fails the search is made again tracing every probed t.
Assumes the gated figure grows with t (it does: every stage is linear or quadratic in t with positive
coefficients). One answer per configuration; fit_grid.py renders several as a table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dstt_profile.analysis.footprint import of_record
from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig
from dstt_profile.records.schema import RunRecord
from dstt_profile.units import fmt_bytes, parse_bytes

PeakOf = Callable[[int], int]  # t -> gated bytes
GATES = ("peak", "footprint")


@dataclass(frozen=True)
class FitAnswer:
    max_frames: int  # 0 when even t = 1 does not fit
    peak_bytes: int  # the activation peak (run's memory view) at max_frames (0 when max_frames is 0)
    next_peak_bytes: int | None  # at max_frames + 1; None when max_frames is the largest t accepted
    budget_bytes: int
    runs: int  # traces the search made (the other probed t were derived from them)
    peak_stage: str = ""  # stage holding the peak at max_frames
    gate: str = "footprint"  # what was held to the budget: footprint or peak
    footprint_bytes: int = 0  # at max_frames (0 when max_frames is 0)
    next_footprint_bytes: int | None = None  # at max_frames + 1
    run: RunConfig | None = None  # the configuration searched (its frames: max_frames, at least 1)
    derived: int = 0  # probed t derived from traces, not traced

    @property
    def limit_reached(self) -> bool:
        """The search stopped at the largest t the tool accepts, not at the budget."""
        return self.next_peak_bytes is None

    @property
    def gated_bytes(self) -> int:
        return self.footprint_bytes if self.gate == "footprint" else self.peak_bytes

    @property
    def next_gated_bytes(self) -> int | None:
        return self.next_footprint_bytes if self.gate == "footprint" else self.next_peak_bytes

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "max_frames", "peak_bytes", "next_peak_bytes", "budget_bytes", "gate", "footprint_bytes",
            "next_footprint_bytes",
        )  # next_*: null at the limit
        return {k: getattr(self, k) for k in keys}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


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
    return of_record(record).total if gate == "footprint" else record.peak_view.bytes


class _Derived:
    """t -> record of `base` at t: t = 1 traced, every other t derived from the traces at 2, 3, 4."""

    def __init__(self, base: RunConfig) -> None:
        from dstt_profile.engine.polytrace import TraceFamily

        self.base = base
        self.family: TraceFamily | None = None
        self.traces = 0
        self.derived = 0

    def __call__(self, run: RunConfig) -> RunRecord:
        from dstt_profile.analysis.summarize import summarize
        from dstt_profile.engine.polytrace import DIRECT_BELOW, TraceFamily
        from dstt_profile.engine.trace import trace

        if run.frames >= DIRECT_BELOW:
            if self.family is None:
                self.family = TraceFamily(self.base, subject_for(self.base))
                self.traces += len(self.family.traces)
            derived = self.family.derive(run.frames) if self.family.consistent else None
            if derived is not None:
                self.derived += run.frames not in self.family.traces
                return summarize(derived, keep_ops=False)
        self.traces += 1
        return summarize(trace(run, subject_for(run)), keep_ops=False)

    def agrees_at(self, t: int) -> bool:
        """True when t was not derived, or its derivation equals a fresh trace at t, integer for integer."""
        from dstt_profile.engine.trace import trace

        if self.family is None or t in self.family.traces or not self.family.consistent:
            return True
        self.traces += 1
        return self.family.agrees(trace(self.base.replace(frames=t), subject_for(self.base)))


def _profile(run: RunConfig) -> RunRecord:
    from dstt_profile.api import profile_run

    return profile_run(run, keep_ops=False)


def _search(
    base: RunConfig, budget: int, run: Callable[[RunConfig], RunRecord], gate: str
) -> tuple[int, dict[int, RunRecord]]:
    seen: dict[int, RunRecord] = {}

    def record(t: int) -> RunRecord:
        if t not in seen:
            seen[t] = run(base.replace(frames=t))
        return seen[t]

    best = search_max(lambda t: gated(record(t), gate), budget, MAX_FRAMES)
    if best < MAX_FRAMES:
        record(best + 1)
    if best:
        record(best)
    return best, seen


def solve(
    base: RunConfig,
    budget: int,
    profile: Callable[[RunConfig], RunRecord] | None = None,
    gate: str = "footprint",
) -> FitAnswer:
    """Search t for `base` (its frames ignored). With `profile` every probed t is run by it; by
    default probed t are derived from three traces and the answer checked against a trace."""
    if gate not in GATES:
        raise UsageError(f"--gate {gate!r}: choose {' or '.join(GATES)}")
    derived = 0
    if profile is not None:
        best, seen = _search(base, budget, profile, gate)
        runs = len(seen)
    else:
        fast = _Derived(base)
        best, seen = _search(base, budget, fast, gate)
        if fast.agrees_at(max(best, 1)):
            runs, derived = fast.traces, fast.derived
        else:  # the derivation did not hold: trace every probed t
            best, seen = _search(base, budget, _profile, gate)
            runs = fast.traces + len(seen)
    at = seen.get(best)
    nxt = seen.get(best + 1)
    return FitAnswer(
        max_frames=best,
        peak_bytes=at.peak_view.bytes if at else 0,
        next_peak_bytes=nxt.peak_view.bytes if nxt else None,
        budget_bytes=budget,
        runs=runs,
        peak_stage=at.peak_view.stage if at else "",
        gate=gate,
        footprint_bytes=of_record(at).total if at else 0,
        next_footprint_bytes=of_record(nxt).total if nxt else None,
        run=base.replace(frames=max(best, 1)),
        derived=derived,
    )


def max_frames(
    budget_bytes: int | str, res: str | tuple[int, int] = "240x432", gate: str = "footprint", **options: Any
) -> int:
    """For notebooks: the largest t whose footprint (or with gate="peak" activation peak) fits `budget_bytes`
    ('16GiB' or an int); options are RunConfig fields (dtype, attention, mode, batch, ...)."""
    from dstt_profile.api import run_config

    return solve(run_config(1, res, **options), parse_bytes(budget_bytes), gate=gate).max_frames


_VIEWS = {
    "allocator": "allocator peak above weights and input: storages at real size, op workspaces included",
    "tensors": "tensor peak: live tensors only, no workspaces; weights and input excluded",
}
GATE_TEXT = {
    "footprint": "footprint: weights + input + allocator peak (+ optimizer state in train mode, + the assumed "
    "CUDA context on cuda)",
}


def gate_text(gate: str, memory: str) -> str:
    return GATE_TEXT.get(gate, f"activation peak ({_VIEWS[memory]})")


def _how(answer: FitAnswer) -> str:
    derived = f", {answer.derived} more t derived from them exactly and checked against a trace" if answer.derived else ""
    return f"{answer.runs} fake-tensor traces{derived}"


def render_text(answer: FitAnswer, base: RunConfig) -> str:
    words = [base.res, base.dtype, str(base.arg("attention", "")), base.mode, f"batch {base.batch}"]
    what = f"{' '.join(w for w in words if w)} (gate: {gate_text(answer.gate, base.memory)})"
    budget = f"{fmt_bytes(answer.budget_bytes)} ({answer.budget_bytes:,} B)"
    at = f"{fmt_bytes(answer.peak_bytes)} ({answer.peak_bytes:,} B, in {answer.peak_stage})"
    fp = f"{fmt_bytes(answer.footprint_bytes)} ({answer.footprint_bytes:,} B)"
    if answer.next_peak_bytes is None:
        return (
            f"{what}: every t up to {answer.max_frames}, the largest t this tool accepts, fits in {budget}\n"
            f"  peak at t = {answer.max_frames}: {at}; footprint {fp}\n"
            f"  (the search reached the largest t accepted; {_how(answer)})"
        )
    nxt = f"{fmt_bytes(answer.next_peak_bytes)} ({answer.next_peak_bytes:,} B)"
    nfp = answer.next_footprint_bytes or 0
    next_fp = f"{fmt_bytes(nfp)} ({nfp:,} B)"
    if answer.max_frames == 0:
        return f"{what}: even t = 1 does not fit in {budget}: its peak is {nxt}, its footprint {next_fp}"
    return (
        f"{what}: at most t = {answer.max_frames} frames fit in {budget}\n"
        f"  peak at t = {answer.max_frames}: {at}; footprint {fp}\n"
        f"  peak at t = {answer.max_frames + 1}: {nxt}; footprint {next_fp} ({answer.gate} over budget)\n"
        f"  ({_how(answer)})"
    )
