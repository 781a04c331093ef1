"""What changed between two saved results (`dstt-profile diff A.json B.json`: cli/diff.py).

Runs are paired by t (one run each: paired whatever their t); a t that only one result holds is
named as not compared, and a result holding two runs at one t is refused (which to pair would be a
guess). For each pair: the configuration keys that differ (the model's arguments apart from the run's
own settings, as `model_args.<name>`), the totals (allocator peak, tensor peak, FLOPs, parameters),
stage by stage (headline bytes, FLOPs, the stage's highest live bytes) and op family by op family
(aten op name: FLOPs, and with per-op records calls and bytes allocated), and the first op where the
two traces diverge.

`--max-growth +2%` gates a change: exit 1 when the peak (in B's memory view), the FLOPs or any stage's
headline bytes grew by more than that fraction of A's figure, exactly (no rounding), and when a t of
either result has no partner in the other: a gate passes only on everything it was given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.records.diff import ABSENT, Change, Comparison, Divergence, Failure, RunDiff
from dstt_profile.records.legacy import DSTT_CONFIG_FIELDS
from dstt_profile.records.schema import OpRecord, Result, RunRecord

_GROWTH = re.compile(r"\s*\+?([0-9]+(?:\.[0-9]+)?)\s*%\s*", re.ASCII)
MODEL_ARGS = "model_args."  # the prefix of a model argument among a run's settings


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
    """A run's configuration with each model argument a setting of its own, `model_args.<name>`, so
    that no argument stands for the run's own settings (a model's `width` is not the frame width).
    The built-in DSTT's sizes keep their names (`attention`, `heads`, ...): its JSON holds them flat
    in `config` too, and none of them is a setting of the run."""
    config = {k: v for k, v in run.config.to_dict().items() if k != "model_args"}
    flat = DSTT_CONFIG_FIELDS if run.config.model == "dstt" else ()
    args = run.config.args
    return {**config, **{(k if k in flat else MODEL_ARGS + k): v for k, v in args.items()}}


def config_changes(a: RunRecord, b: RunRecord) -> tuple[tuple[str, Any, Any], ...]:
    """(setting, A's value, B's value) for every setting that differs, ABSENT where a run has none."""
    before, after = _settings(a), _settings(b)
    keys = sorted(set(before) | set(after))
    return tuple(
        (k, before.get(k, ABSENT), after.get(k, ABSENT))
        for k in keys
        if k not in before or k not in after or before[k] != after[k]
    )


def diff_runs(a: RunRecord, b: RunRecord) -> RunDiff:
    config = config_changes(a, b)
    view = b.memory
    other = "tensors" if view == "allocator" else "allocator"
    totals = (
        Change(f"peak ({'allocator' if view == 'allocator' else 'tensors only'})", a.peak_in(view).bytes, b.peak_in(view).bytes),
        Change(f"peak ({'allocator' if other == 'allocator' else 'tensors only'})", a.peak_in(other).bytes, b.peak_in(other).bytes),
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
    peak = run.peak_in(view)
    return f"{peak.stage} ({peak.op} in {peak.module or '<root>'})"


def _one_run_per_t(result: Result, which: str) -> None:
    """UsageError where `result` holds two runs at one t: which of them to pair would be a guess."""
    twice = result.same_t()
    if twice is not None:
        first, second = twice
        raise UsageError(
            f"diff: result {which} holds two runs at t={result.runs[second].frames} (runs[{first}] and "
            f"runs[{second}]): runs are paired by t, so each t must appear once"
        )


def pair_runs(a: Result, b: Result) -> list[tuple[RunRecord, RunRecord]]:
    """Runs paired by t; a single run on each side is paired whatever its t. UsageError where a result
    holds two runs at one t, or where the two share no t."""
    if len(a.runs) == 1 and len(b.runs) == 1:
        return [(a.runs[0], b.runs[0])]
    _one_run_per_t(a, "A")
    _one_run_per_t(b, "B")
    by_t = {r.frames: r for r in b.runs}
    pairs = [(r, by_t[r.frames]) for r in a.runs if r.frames in by_t]
    if not pairs:
        ta = ",".join(str(r.frames) for r in a.runs)
        tb = ",".join(str(r.frames) for r in b.runs)
        raise UsageError(f"diff: the two results share no t (A: t={ta}; B: t={tb})")
    return pairs


def diff_results(a: Result, b: Result) -> Comparison:
    """Every pair of runs compared, with the t values left without a partner."""
    pairs = pair_runs(a, b)
    paired_a = {ra.frames for ra, _ in pairs}
    paired_b = {rb.frames for _, rb in pairs}
    return Comparison(
        diffs=tuple(diff_runs(ra, rb) for ra, rb in pairs),
        only_a=tuple(r.frames for r in a.runs if r.frames not in paired_a),
        only_b=tuple(r.frames for r in b.runs if r.frames not in paired_b),
    )


def over_limit(diffs: Sequence[RunDiff], limit: Fraction) -> list[Failure]:
    """Every gated figure that grew by more than `limit`, then every t of a `Comparison` that only one
    result holds: a gate must not pass on less than it was given."""
    found = []
    for d in diffs:
        names = ["peak", "FLOPs", *(f"{stage} bytes" for stage in d.stages)]
        found += [Failure(d.frames_b, name, change) for name, change in zip(names, d.gated()) if change.exceeds(limit)]
    if isinstance(diffs, Comparison):
        found += [Failure(t, "only in A") for t in diffs.only_a]
        found += [Failure(t, "only in B") for t in diffs.only_b]
    return found
