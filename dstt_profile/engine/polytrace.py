"""Traces as polynomials in t: a sweep over many clip lengths from a handful of traces.

A forward pass with no branch on the clip length t (DSTT's, and most video models') runs, for t >= 2,
the same ops on the same modules in the same order, and holds the same integers in the same places:
each dimension of each shape is affine in t, and the bytes allocated, freed and live after each op
and the FLOPs of each op are polynomials of degree at most 2 in t (DSTT's temporal attention matrix
is (t*n)^2). A model for which that does not hold fails the check below and is traced at every t.

So three traces fix every integer of a trace at every t, exactly (poly.Quadratics, in integers). `TraceFamily` builds them and checks the result against a fourth, independent trace
(the largest t asked for): same structure, every integer equal. Where any of that fails, the caller
traces every t instead. The peak and where it falls are recomputed from the derived live bytes, so
they stay exact where the peak moves from one op to another as t grows.

t = 1 is always traced: size-1 dimensions change strides, and with them which ops copy.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from dstt_profile.engine.devicerules import DeviceRules
from dstt_profile.engine.liveness import what_if_bytes
from dstt_profile.engine.subject import Subject
from dstt_profile.engine.trace import Trace, trace, with_peaks
from dstt_profile.poly import Quadratics
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import OpRecord

BASE_FRAMES: tuple[int, int, int] = (2, 3, 4)  # the traces every derived t is interpolated from
DIRECT_BELOW = BASE_FRAMES[0]  # clip lengths under this are always traced
TRACED = "traced"


class _Slot:
    """Where an integer sat in a flattened trace."""

    def __repr__(self) -> str:
        return "<int>"


_SLOT = _Slot()


def flatten_ints(value: Any, ints: list[int]) -> Any:
    """The structure of `value` with every int replaced by `_SLOT`; the ints are appended in order."""
    kind = type(value)
    if kind is int:
        ints.append(value)
        return _SLOT
    if value is None or kind in (str, float, bool):
        return value
    if isinstance(value, (tuple, list)):
        return (kind, tuple(flatten_ints(v, ints) for v in value))
    if isinstance(value, dict):
        return (kind, tuple((k, flatten_ints(v, ints)) for k, v in value.items()))
    if dataclasses.is_dataclass(value):
        return (kind, tuple((f.name, flatten_ints(getattr(value, f.name), ints)) for f in dataclasses.fields(value)))
    raise TypeError(f"cannot flatten a {kind.__name__}")


def rebuild(skeleton: Any, ints: Iterator[int]) -> Any:
    """The inverse of `flatten_ints`: rebuild the value, taking its ints from `ints` in order."""
    if skeleton is _SLOT:
        return next(ints)
    if not isinstance(skeleton, tuple):
        return skeleton
    kind, items = skeleton
    if issubclass(kind, (tuple, list)):
        return kind(rebuild(s, ints) for s in items)
    if issubclass(kind, dict):
        return kind((k, rebuild(s, ints)) for k, s in items)
    return kind(**{name: rebuild(s, ints) for name, s in items})


def _flatten(tr: Trace) -> tuple[Any, list[int]]:
    """A trace's structure and integers, leaving out its run config, peak (recomputed) and timing."""
    ints: list[int] = []
    skeleton = flatten_ints((tr.ops, tr.calls, tr.unsupported, tr.params, tr.param_bytes, tr.input_bytes), ints)
    return skeleton, ints


def _recompute_rules(ops: tuple[OpRecord, ...], run: RunConfig) -> tuple[OpRecord, ...]:
    """Each op's temporary-rule bytes computed again from its derived params.

    The params (shapes, sizes) are affine in t and so derived exactly; the rule's formula need not be
    a polynomial in t (the CPU flash-attention kernel switches block sizes with the sequence length),
    so its bytes are recomputed rather than interpolated. The rest of the op's transient bytes (a
    convolution's workspace, affine in the batch) is interpolated as before."""
    rules = DeviceRules(run.device)
    out = []
    for op in ops:
        if op.rule_params:
            rule = rules.temporary_rule(op.op)
            if rule is not None:
                raw = rule.bytes(op.rule_params)
                exact = scaled(raw, op, run)
                op = dataclasses.replace(op, transient_bytes=op.transient_bytes - op.rule_transient + exact, rule_transient=exact)
        out.append(op)
    return tuple(out)


def scaled(raw: int, op: OpRecord, run: RunConfig) -> int:
    """`raw` bytes at the run's what-if element size, as the liveness scales them (int8: floating only)."""
    dtype = getattr(torch, op.outputs[0].dtype, None) if op.outputs else None
    if not isinstance(dtype, torch.dtype):
        return raw
    return what_if_bytes(raw, dtype, run.element_bytes if run.dtype == "int8" else None)


def _peaks(tr: Trace) -> tuple[int, int, int, int]:
    return tr.peak_bytes, tr.peak_index, tr.allocator_peak_bytes, tr.allocator_peak_index


class TraceFamily:
    """Every trace of one configuration across t, derived from the traces at `BASE_FRAMES`."""

    def __init__(self, base: RunConfig, subject: Subject) -> None:
        self.base = base
        self.subject = subject
        self.traces = {t: trace(base.replace(frames=t), subject) for t in BASE_FRAMES}
        flat = [_flatten(self.traces[t]) for t in BASE_FRAMES]
        skeletons = [s for s, _ in flat]
        self.consistent = skeletons[0] == skeletons[1] == skeletons[2]
        self.skeleton = skeletons[0]
        self.poly = Quadratics(BASE_FRAMES[0], [ints for _, ints in flat])

    def derive(self, t: int) -> Trace | None:
        """The trace at t, derived; None where it cannot be (t below `DIRECT_BELOW`, or no exact fit)."""
        if t in self.traces:
            return self.traces[t]
        if t < DIRECT_BELOW or not self.consistent:
            return None
        started = time.perf_counter()
        ops, calls, unsupported, params, param_bytes, input_bytes = rebuild(self.skeleton, iter(self.poly.at(t)))
        ops = _recompute_rules(ops, self.base)
        base = self.traces[BASE_FRAMES[0]]
        return with_peaks(
            Trace(
                run=self.base.replace(frames=t),
                ops=ops,
                calls=calls,
                unsupported=unsupported,
                peak_bytes=0,
                peak_index=-1,
                params=params,
                param_bytes=param_bytes,
                input_bytes=input_bytes,
                seconds=time.perf_counter() - started,
                basis=base.basis,
            )
        )

    def agrees(self, traced: Trace) -> bool:
        """True when the trace derived at `traced`'s t equals it in structure and every integer."""
        derived = self.derive(traced.run.frames)
        if derived is None:
            return False
        return _flatten(derived) == _flatten(traced) and _peaks(derived) == _peaks(traced)


def worth_deriving(frames: Iterable[int]) -> bool:
    """True when deriving costs fewer traces than tracing every t (three bases, t = 1, one check)."""
    wanted = set(frames)
    derived_cost = len(set(BASE_FRAMES) | {t for t in wanted if t < DIRECT_BELOW} | {max(wanted, default=0)})
    return derived_cost < len(wanted)
