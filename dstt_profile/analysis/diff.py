"""What changed between two saved results (`dstt-profile diff A.json B.json`: cli/diff.py).

Runs are paired by t (one run each: paired whatever their t). For each pair: the configuration keys
that differ, the totals (allocator peak, tensor peak, FLOPs, parameters), stage by stage (headline
bytes, FLOPs, the stage's highest live bytes) and op family by op family (aten op name: FLOPs, and
with per-op records calls and bytes allocated), and the first op where the two traces diverge.

`--max-growth +2%` gates a change: exit 1 when the peak (in B's memory view), the FLOPs or any stage's
headline bytes grew by more than that fraction of A's figure, exactly (no rounding).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.records.schema import OpRecord, Result, RunRecord

_GROWTH = re.compile(r"\s*\+?([0-9]+(?:\.[0-9]+)?)\s*%\s*", re.ASCII)


@dataclass(frozen=True)
class Change:
    """One figure in A and in B."""

    name: str
    a: int
    b: int

    @property
    def delta(self) -> int:
        return self.b - self.a

    @property
    def growth(self) -> Fraction | None:
        """(b - a) / a exactly; None where a is 0 (any growth from nothing is unbounded)."""
        return Fraction(self.delta, self.a) if self.a else None

    def exceeds(self, limit: Fraction) -> bool:
        if self.a == 0:
            return self.b > 0
        return Fraction(self.delta, self.a) > limit


@dataclass(frozen=True)
class Divergence:
    """The first op where two traces differ: in what they run (op, module, output shapes) or, where
    they run the same ops, in the bytes an op allocates."""

    index: int
    kind: str  # "structure" or "bytes"
    a: str  # A's op there ("" past its end)
    b: str


@dataclass(frozen=True)
class RunDiff:
    frames_a: int
    frames_b: int
    config: tuple[tuple[str, Any, Any], ...]  # key, A's value, B's value
    totals: tuple[Change, ...]  # peak (B's view), the other view, FLOPs, other FLOPs, parameters
    stages: dict[str, tuple[Change, Change, Change]]  # headline bytes, FLOPs, highest live bytes
    families: dict[str, tuple[Change, ...]]  # FLOPs [, calls, bytes allocated]
    ops_a: int
    ops_b: int
    divergence: Divergence | None
    same_ops: bool  # both kept per-op records and they agree op for op
    peak_at: tuple[str, str]  # where the headline peak is in A and in B: "stage (module)"

    def gated(self) -> list[Change]:
        """The figures --max-growth applies to: the headline peak, FLOPs, each stage's bytes."""
        return [self.totals[0], self.totals[2], *(changes[0] for changes in self.stages.values())]


def parse_growth(text: str) -> Fraction:
    """'+2%' / '2%' / '0.5%' -> the fraction 1/50, 1/50, 1/200."""
    m = _GROWTH.fullmatch(text)
    if m is None:
        raise UsageError(f"--max-growth {text!r} is not a percentage such as +2% or 0.5%")
    return Fraction(m.group(1)) / 100


def _op_key(op: OpRecord) -> tuple[str, str, tuple[tuple[int, ...], ...]]:
    return op.op, op.module, tuple(o.shape for o in op.outputs)


def _op_text(op: OpRecord | None) -> str:
    if op is None:
        return ""
    shapes = ",".join("x".join(map(str, o.shape)) for o in op.outputs)
    return f"#{op.index} {op.op} ({op.module or '<root>'}) -> {shapes or '-'}"


def divergence(a: Sequence[OpRecord], b: Sequence[OpRecord]) -> Divergence | None:
    """The first op where the traces differ (structure first, then bytes); None where they agree."""
    for i in range(max(len(a), len(b))):
        oa = a[i] if i < len(a) else None
        ob = b[i] if i < len(b) else None
        if oa is None or ob is None or _op_key(oa) != _op_key(ob):
            return Divergence(i, "structure", _op_text(oa), _op_text(ob))
    for oa, ob in zip(a, b):
        if (oa.alloc_bytes, oa.held_bytes, oa.transient_bytes) != (ob.alloc_bytes, ob.held_bytes, ob.transient_bytes):
            return Divergence(oa.index, "bytes", _op_text(oa), _op_text(ob))
    return None


def _families(run: RunRecord) -> dict[str, tuple[int, int, int]]:
    """aten op name -> (FLOPs counted, calls, bytes allocated); calls and bytes need per-op records."""
    flops: dict[str, int] = {}
    for table in (run.flops.by_op, run.flops.other_by_op):
        for name, value in table.items():
            flops[name] = flops.get(name, 0) + value
    calls: dict[str, int] = {}
    alloc: dict[str, int] = {}
    for op in run.ops:
        calls[op.op] = calls.get(op.op, 0) + 1
        alloc[op.op] = alloc.get(op.op, 0) + op.alloc_bytes
    names = sorted(set(flops) | set(calls))
    return {n: (flops.get(n, 0), calls.get(n, 0), alloc.get(n, 0)) for n in names}


def _settings(run: RunRecord) -> dict[str, Any]:
    """A run's configuration with its model arguments as settings of their own (`attention`, ...)."""
    config = {k: v for k, v in run.config.items() if k != "model_args"}
    return {**config, **run.config.get("model_args", {})}


def diff_runs(a: RunRecord, b: RunRecord) -> RunDiff:
    before, after = _settings(a), _settings(b)
    keys = sorted(set(before) | set(after))
    config = tuple((k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k))
    view = b.memory
    other = "tensors" if view == "allocator" else "allocator"
    totals = (
        Change(f"peak ({'allocator' if view == 'allocator' else 'tensors only'})", a.peak.view(view)[0], b.peak.view(view)[0]),
        Change(f"peak ({'allocator' if other == 'allocator' else 'tensors only'})", a.peak.view(other)[0], b.peak.view(other)[0]),
        Change("FLOPs", a.flops.total, b.flops.total),
        Change("other arithmetic", a.flops.other_total, b.flops.other_total),
        Change("parameters", a.params, b.params),
    )
    stages = {}
    for name in [*a.stages, *(s for s in b.stages if s not in a.stages)]:
        sa, sb = a.stages.get(name), b.stages.get(name)
        stages[name] = (
            Change("bytes", sa.bytes if sa else 0, sb.bytes if sb else 0),
            Change("FLOPs", sa.flops if sa else 0, sb.flops if sb else 0),
            Change("peak", sa.peak_bytes if sa else 0, sb.peak_bytes if sb else 0),
        )
    with_ops = bool(a.ops) and bool(b.ops)
    fa, fb = _families(a), _families(b)
    families: dict[str, tuple[Change, ...]] = {}
    for name in sorted(set(fa) | set(fb)):
        va, vb = fa.get(name, (0, 0, 0)), fb.get(name, (0, 0, 0))
        changes = [Change("FLOPs", va[0], vb[0])]
        if with_ops:
            changes += [Change("calls", va[1], vb[1]), Change("bytes allocated", va[2], vb[2])]
        if any(c.a or c.b for c in changes):
            families[name] = tuple(changes)
    found = divergence(a.ops, b.ops) if with_ops else None
    return RunDiff(
        frames_a=a.frames,
        frames_b=b.frames,
        config=config,
        totals=totals,
        stages=stages,
        families=families,
        ops_a=len(a.ops),
        ops_b=len(b.ops),
        divergence=found,
        same_ops=with_ops and found is None,
        peak_at=(_where(a, view), _where(b, view)),
    )


def _where(run: RunRecord, view: str) -> str:
    _, stage, op, _, module = run.peak.view(view)
    return f"{stage} ({op} in {module or '<root>'})"


def pair_runs(a: Result, b: Result) -> list[tuple[RunRecord, RunRecord]]:
    """Runs paired by t; a single run on each side is paired whatever its t."""
    if len(a.runs) == 1 and len(b.runs) == 1:
        return [(a.runs[0], b.runs[0])]
    by_t = {r.frames: r for r in b.runs}
    pairs = [(r, by_t[r.frames]) for r in a.runs if r.frames in by_t]
    if not pairs:
        ta = ",".join(str(r.frames) for r in a.runs)
        tb = ",".join(str(r.frames) for r in b.runs)
        raise UsageError(f"diff: the two results share no t (A: t={ta}; B: t={tb})")
    return pairs


def diff_results(a: Result, b: Result) -> list[RunDiff]:
    return [diff_runs(ra, rb) for ra, rb in pair_runs(a, b)]


def over_limit(diffs: Sequence[RunDiff], limit: Fraction) -> list[tuple[RunDiff, str, Change]]:
    """Every gated figure that grew by more than `limit`: (its run, where it is, the change)."""
    found = []
    for d in diffs:
        gated = d.gated()
        names = ["peak", "FLOPs", *(f"{stage} bytes" for stage in d.stages)]
        found += [(d, name, change) for name, change in zip(names, gated) if change.exceeds(limit)]
    return found
