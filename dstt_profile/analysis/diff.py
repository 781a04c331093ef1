"""What changed between two saved results (`dstt-profile diff A.json B.json`). Runs are paired by t (one
run each: whatever their t); a result holding two runs at one t is refused. `--max-growth` fails on
growth past the limit, exactly, and on any t without a partner: a gate passes only on all it was given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.records.diff import ABSENT, Change, Comparison, Divergence, Failure, RunDiff
from dstt_profile.records.legacy import DSTT_CONFIG_FIELDS
from dstt_profile.records.schema import MemoryView, OpRecord, Result, RunRecord

_GROWTH = re.compile(r"\s*\+?([0-9]+(?:\.[0-9]+)?)\s*%\s*", re.ASCII)
MODEL_ARGS = "model_args."  # the prefix of a model argument among a run's settings


def parse_growth(text: str) -> Fraction:
    """'+2%' / '2%' / '0.5%' -> 1/50, 1/50, 1/200."""
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
        oa, ob = a[i] if i < len(a) else None, b[i] if i < len(b) else None
        if oa is None or ob is None or _op_key(oa) != _op_key(ob):
            return Divergence(i, "structure", _op_text(oa), _op_text(ob))
    for oa, ob in zip(a, b):
        if (oa.alloc_bytes, oa.held_bytes, oa.transient_bytes) != (ob.alloc_bytes, ob.held_bytes, ob.transient_bytes):
            return Divergence(oa.index, "bytes", _op_text(oa), _op_text(ob))
    return None


def _families(run: RunRecord) -> dict[str, tuple[int, int, int]]:
    """aten op name -> (FLOPs counted, calls, bytes allocated); calls and bytes need per-op records."""
    flops, calls, alloc = dict(run.flops.by_op), dict[str, int](), dict[str, int]()
    for name, value in run.flops.other_by_op.items():
        flops[name] = flops.get(name, 0) + value
    for op in run.ops:
        calls[op.op] = calls.get(op.op, 0) + 1
        alloc[op.op] = alloc.get(op.op, 0) + op.alloc_bytes
    return {n: (flops.get(n, 0), calls.get(n, 0), alloc.get(n, 0)) for n in sorted(set(flops) | set(calls))}


def _settings(run: RunRecord) -> dict[str, Any]:
    """A run's configuration with each model argument a setting `model_args.<name>` (a model's `width` is not
    the frame width), except the built-in DSTT's sizes, flat in its JSON too and no setting of the run."""
    config = {k: v for k, v in run.config.to_dict().items() if k != "model_args"}
    flat = DSTT_CONFIG_FIELDS if run.config.model == "dstt" else ()
    return {**config, **{(k if k in flat else MODEL_ARGS + k): v for k, v in run.config.args.items()}}


def config_changes(a: RunRecord, b: RunRecord) -> tuple[tuple[str, Any, Any], ...]:
    """(setting, A's value, B's value) for every setting that differs, ABSENT where a run has none."""
    before, after = _settings(a), _settings(b)
    return tuple((k, before.get(k, ABSENT), after.get(k, ABSENT)) for k in sorted(set(before) | set(after))
                 if k not in before or k not in after or before[k] != after[k])


def diff_runs(a: RunRecord, b: RunRecord) -> RunDiff:
    views = (b.memory, MemoryView.TENSORS if b.memory == MemoryView.ALLOCATOR else MemoryView.ALLOCATOR)
    totals = (*(Change(f"peak ({'allocator' if v == 'allocator' else 'tensors only'})", a.peak_in(v).bytes,
                       b.peak_in(v).bytes) for v in views),
              Change("FLOPs", a.flops.total, b.flops.total),
              Change("other arithmetic", a.flops.other_total, b.flops.other_total),
              Change("parameters", a.params, b.params))
    stages = {}
    for name in [*a.stages, *(s for s in b.stages if s not in a.stages)]:
        sa, sb = a.stages.get(name), b.stages.get(name)
        sa_, sb_ = [(s.bytes, s.flops, s.peak_bytes) if s else (0, 0, 0) for s in (sa, sb)]
        stages[name] = (Change("bytes", sa_[0], sb_[0]), Change("FLOPs", sa_[1], sb_[1]), Change("peak", sa_[2], sb_[2]))
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
    pa, pb = (f"{p.stage} ({p.op} in {p.module or '<root>'})" for p in (a.peak_in(b.memory), b.peak_in(b.memory)))
    return RunDiff(a.frames, b.frames, config_changes(a, b), totals, stages, families, len(a.ops), len(b.ops), found,
                   with_ops and found is None, (pa, pb))


def pair_runs(a: Result, b: Result) -> list[tuple[RunRecord, RunRecord]]:
    """Runs paired by t; a single run on each side is paired whatever its t. UsageError where a result
    holds two runs at one t (which to pair would be a guess), or where the two share no t."""
    if len(a.runs) == 1 and len(b.runs) == 1:
        return [(a.runs[0], b.runs[0])]
    for which, result in (("A", a), ("B", b)):
        if (twice := result.same_t()) is not None:
            raise UsageError(f"diff: result {which} holds two runs at t={result.runs[twice[1]].frames} (runs[{twice[0]}] "
                             f"and runs[{twice[1]}]): runs are paired by t, so each t must appear once")
    by_t = {r.frames: r for r in b.runs}
    pairs = [(r, by_t[r.frames]) for r in a.runs if r.frames in by_t]
    if not pairs:
        ta, tb = (",".join(str(r.frames) for r in x.runs) for x in (a, b))
        raise UsageError(f"diff: the two results share no t (A: t={ta}; B: t={tb})")
    return pairs


def diff_results(a: Result, b: Result) -> Comparison:
    """Every pair of runs compared, with the t values left without a partner."""
    pairs = pair_runs(a, b)
    paired_a, paired_b = {ra.frames for ra, _ in pairs}, {rb.frames for _, rb in pairs}
    return Comparison(tuple(diff_runs(ra, rb) for ra, rb in pairs),
                      tuple(r.frames for r in a.runs if r.frames not in paired_a),
                      tuple(r.frames for r in b.runs if r.frames not in paired_b))


def over_limit(diffs: Sequence[RunDiff], limit: Fraction) -> list[Failure]:
    """Every gated figure (the headline peak, FLOPs, each stage's bytes) that grew by more than `limit`, then
    every t of a `Comparison` that only one result holds."""
    found = []
    for d in diffs:
        gated = [("peak", d.totals[0]), ("FLOPs", d.totals[2]), *((f"{s} bytes", c[0]) for s, c in d.stages.items())]
        found += [Failure(d.frames_b, name, change) for name, change in gated if change.exceeds(limit)]
    if isinstance(diffs, Comparison):
        found += [Failure(t, "only in A") for t in diffs.only_a] + [Failure(t, "only in B") for t in diffs.only_b]
    return found
