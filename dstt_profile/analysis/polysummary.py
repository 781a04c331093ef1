"""A sweep's records (no per-op or per-module detail) for thousands of t at the cost of a few traces: every
integer is a quadratic in t fixed by the summaries at t = 2, 3, 4, except the peaks (a maximum over ops,
found in floating point and settled in integers), device-rule temporaries (recomputed from the derived
shapes) and FLOP shares and the footprint (recomputed from the derived integers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dstt_profile.analysis.summarize import summarize
from dstt_profile.engine.devicerules import DeviceRules
from dstt_profile.engine.polytrace import BASE_FRAMES, TraceFamily, flatten_ints, rebuild, scaled
from dstt_profile.poly import Quadratics
from dstt_profile.records.footprint import footprint
from dstt_profile.records.schema import PeakRecord, RunRecord, StageRecord


def _bare(record: RunRecord) -> RunRecord:
    """The record without what is not a polynomial in t (peaks, shares, timing, FLOPs by op's order) or not kept."""
    stages = {k: dataclasses.replace(s, share=0.0, peak_bytes=0) for k, s in record.stages.items()}
    f = record.flops
    flops = dataclasses.replace(f, by_op=dict(sorted(f.by_op.items())), other_by_op=dict(sorted(f.other_by_op.items())))
    none = PeakRecord(0, "", "", -1, "")
    return dataclasses.replace(comparable(record), peak=dataclasses.replace(none, basis=record.peak.basis),
                               tensor_peak=none, stages=stages, flops=flops)


def _by_size(values: dict[str, int], order: list[str]) -> dict[str, int]:
    """`values` largest first, ties in `order` (ops' first appearance), as summarize.py sorts."""
    return dict(sorted(((k, values[k]) for k in order if k in values), key=lambda kv: -kv[1]))


class _OpCurves:
    """Each op's held bytes (tensor view, allocator view) as exact quadratics in t, with the rule ops apart."""

    def __init__(self, family: TraceFamily) -> None:
        bases = [family.traces[t].ops for t in BASE_FRAMES]
        self.ops = bases[0]
        self.run = family.base
        self.rules = DeviceRules(self.run.device)
        first = BASE_FRAMES[0]
        self.live = Quadratics(first, [[o.live_bytes for o in ops] for ops in bases])
        self.alloc = Quadratics(first, [[o.allocator_bytes - o.rule_transient for o in ops] for ops in bases])  # rules apart
        self.held = Quadratics(first, [[o.held_bytes for o in ops] for ops in bases])
        self.rule_ops = [i for i, o in enumerate(self.ops) if o.rule_params]
        self.rule_params = {i: Quadratics(first, [list(ops[i].rule_params) for ops in bases]) for i in self.rule_ops}
        self.stage_of = [o.stage for o in self.ops]

    def rule_bytes(self, t: int) -> dict[int, int]:
        out = {}
        for i in self.rule_ops:
            op = self.ops[i]
            rule = self.rules.temporary_rule(op.op)
            if rule is None:
                raise ValueError(f"op #{i} {op.op}: no temporary rule at t={t}")
            out[i] = scaled(rule.bytes(tuple(self.rule_params[i].at(t))), op, self.run)
        return out


def _first_max(approx: np.ndarray[Any, np.dtype[np.float64]], exact: Callable[[int], int], members: Sequence[int]) -> tuple[int, int]:
    """(the highest value, the first op index reaching it) over `members`: `approx` (every op's value in
    floating point) picks the candidates, `exact(i)` decides."""
    if not members:
        return 0, -1
    index = np.asarray(members)
    values = approx[index]
    top = float(values.max())
    slack = max(1.0, abs(top) * 1e-9) + 1.0
    best, where = 0, -1
    for i in index[values >= top - slack].tolist():
        value = exact(i)
        if value > best:
            best, where = value, i
    return best, where


class SummaryFamily:
    """The records of one configuration at any t >= 2, without per-op detail, from `family`."""

    def __init__(self, family: TraceFamily) -> None:
        self.family = family
        flat = []
        for t in BASE_FRAMES:
            ints: list[int] = []
            flat.append((flatten_ints(_bare(summarize(family.traces[t], keep_ops=False)), ints), ints))
        self.consistent = family.consistent and flat[0][0] == flat[1][0] == flat[2][0]
        self.skeleton = flat[0][0]
        self.poly = Quadratics(BASE_FRAMES[0], [ints for _, ints in flat])
        self.curves = _OpCurves(family)
        ops = family.traces[BASE_FRAMES[0]].ops
        self.flop_order = list(dict.fromkeys(o.op for o in ops if o.flops))
        self.other_order = list(dict.fromkeys(o.op for o in ops if o.other_flops))
        self.by_stage: dict[str, list[int]] = {}
        for i, stage in enumerate(self.curves.stage_of):
            self.by_stage.setdefault(stage, []).append(i)

    def record(self, t: int) -> RunRecord | None:
        """The record at t (no ops, no modules), or None where it cannot be derived."""
        if not self.consistent or t < BASE_FRAMES[0]:
            return None
        record: RunRecord = rebuild(self.skeleton, iter(self.poly.at(t)))
        curves = self.curves
        rules = curves.rule_bytes(t)
        every = range(len(curves.ops))
        tensor_bytes, tensor_at = _first_max(curves.live.approx(t), lambda i: curves.live.exact(i, t), every)
        alloc_approx = curves.alloc.approx(t)  # one evaluation serves the peak and every stage's peak
        for i, add in rules.items():
            alloc_approx[i] += add

        def alloc_exact(i: int) -> int:
            return curves.alloc.exact(i, t) + rules.get(i, 0)

        alloc_bytes, alloc_at = _first_max(alloc_approx, alloc_exact, every)
        ops = curves.ops
        transient = alloc_bytes - curves.held.exact(alloc_at, t) if alloc_at >= 0 else 0
        peak = PeakRecord.at_op(ops, alloc_at, alloc_bytes, transient, record.peak.basis)
        tensor_peak = PeakRecord.at_op(ops, tensor_at, tensor_bytes)
        total = record.flops.total
        stages: dict[str, StageRecord] = {}
        for name, s in record.stages.items():
            stage_peak = _first_max(alloc_approx, alloc_exact, self.by_stage.get(name, []))[0]
            stages[name] = dataclasses.replace(s, share=s.flops / total if total else 0.0, peak_bytes=stage_peak)
        f = record.flops
        flops = dataclasses.replace(f, by_op=_by_size(f.by_op, self.flop_order),
                                    other_by_op=_by_size(f.other_by_op, self.other_order))
        run = record.config
        fp = footprint(run, record.params, record.param_bytes, record.input_bytes, peak.bytes)
        return dataclasses.replace(record, peak=peak, tensor_peak=tensor_peak, stages=stages, flops=flops, footprint=fp)


def comparable(record: RunRecord) -> RunRecord:
    """A record as a derived one would hold it: no detail, no timing, no provenance."""
    return dataclasses.replace(record, modules=(), ops=(), seconds=0.0, extra={}, fvcore=None, measured=None)
