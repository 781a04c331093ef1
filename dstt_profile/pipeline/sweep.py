"""One configuration across many t, for the cost of a few traces: every caller that needs many t goes
through `Sweep`. t = 1 is always traced; t >= 2 is derived from the traces at t = 2, 3, 4, and used only
once checked equal, integer for integer, to a real trace; else every t is traced. Real runs are never derived."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from dstt_profile.analysis.polysummary import SummaryFamily, comparable
from dstt_profile.analysis.summarize import summarize
from dstt_profile.engine.polytrace import BASE_FRAMES, DIRECT_BELOW, TRACED, TraceFamily, worth_deriving
from dstt_profile.engine.trace import Trace, trace
from dstt_profile.profiles.registry import normalised, subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import RunRecord

DERIVED = f"derived from the traces at t={','.join(map(str, BASE_FRAMES))}"


def traced_record(run: RunConfig, keep_ops: bool = True, found: Trace | None = None) -> RunRecord:
    """`run` traced (or its trace `found`) and summarised by its profile, marked as traced."""
    record = summarize(found if found is not None else trace(run, subject_for(run)), keep_ops=keep_ops)
    return replace(record, extra={**record.extra, "source": TRACED})


class Sweep:
    """Records of `base` (its frames ignored) at any t. `traced` and `derived` count what was done."""

    def __init__(self, base: RunConfig, derive: bool = True) -> None:
        self.base = normalised(base).replace(frames=1)
        self.derive = derive and not self.base.real
        self.traced = 0
        self.derived = 0
        self._family: TraceFamily | None = None
        self._summary: SummaryFamily | None = None

    def _trace(self, t: int) -> Trace:
        self.traced += 1
        return trace(self.base.replace(frames=t), subject_for(self.base))

    def family(self) -> TraceFamily | None:
        """The traces at t = 2, 3, 4 (made on first use), None where they do not agree in structure."""
        if self._family is None:
            self._family = TraceFamily(self.base, subject_for(self.base))
            self.traced += len(self._family.traces)
            self._summary = SummaryFamily(self._family) if self._family.consistent else None
        return self._family if self._family.consistent else None

    def family_traces(self) -> dict[int, Trace]:
        """The traces the derivation's bases made so far (t = 2, 3, 4), consistent or not; none before `family()`."""
        return dict(self._family.traces) if self._family is not None else {}

    def consistent(self) -> bool:
        """Whether the bases' traces agree in structure (the same ops at every t); True before they are made."""
        return self._family is None or self._family.consistent

    def record(self, t: int, keep_ops: bool = False) -> RunRecord:
        """The record at t: derived where it can be (no per-op detail), else traced."""
        family = self.family() if self.derive and t >= DIRECT_BELOW else None
        if family is not None and t in family.traces:
            return traced_record(self.base.replace(frames=t), keep_ops, family.traces[t])
        if family is not None and not keep_ops and self._summary is not None:
            derived = self._summary.record(t)
            if derived is not None:
                self.derived += 1
                return replace(derived, extra={"source": DERIVED})
        return self._traced(t, keep_ops)

    def check(self, t: int, against: RunRecord | None = None, found: Trace | None = None) -> bool:
        """Whether what `record(t)` derives equals a real trace at t, op for op and figure for figure: `against`
        (`base`'s traced record at t, its ops compared where it kept them), else a new trace. True where nothing
        at t is derived. `found`: a trace at t already made, compared where `against` is not given."""
        family = self.family() if self.derive else None
        if family is None or self._summary is None or t < DIRECT_BELOW or t in family.traces:
            return True
        if against is None:
            found = found or self._trace(t)
            if not family.agrees(found):
                return False
            against = traced_record(self.base.replace(frames=t), False, found)
        else:
            derived = family.derive(t)
            if derived is None or _exact(summarize(derived, keep_ops=bool(against.ops))) != _exact(against):
                return False
        return self._summary.record(t) == comparable(against)

    def records(self, frames: Iterable[int], keep_ops: Callable[[int], bool] = lambda t: False) -> dict[int, RunRecord]:
        """The record at every t of `frames`: derived and checked against a trace at the largest t where that
        costs fewer traces than tracing each; otherwise, or where the check fails, traced."""
        wanted = sorted(set(frames))
        if not (self.derive and worth_deriving(wanted)):
            return {t: self._traced(t, keep_ops(t)) for t in wanted}
        last = wanted[-1]
        found = self._trace(last)
        check = traced_record(self.base.replace(frames=last), keep_ops(last), found)
        family = self.family()
        if family is None or not self.check(last, found=found):
            return {t: check if t == last else self._traced(t, keep_ops(t)) for t in wanted}
        how = f"{DERIVED}; checked exactly against the trace at t={last}"
        out = {last: check}
        for t in wanted[:-1]:
            if t < DIRECT_BELOW or t in family.traces:
                out[t] = self.record(t, keep_ops(t))
            else:
                out[t] = replace(self.record(t), extra={"source": how})
        return out

    def _traced(self, t: int, keep_ops: bool) -> RunRecord:
        self.traced += 1
        return traced_record(self.base.replace(frames=t), keep_ops)


def _exact(record: RunRecord) -> RunRecord:
    """A record without what differs between equal runs."""
    return replace(record, seconds=0.0, extra={}, fvcore=None, measured=None)
