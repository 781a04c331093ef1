"""Traces as polynomials in t: every integer of a trace at t >= 2 from three traces, exactly, checked against
a fourth (README.md, "Sweeps cost five traces"); the peaks are recomputed, as their place moves with t."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from dstt_profile.engine.devicerules import DeviceRules
from dstt_profile.engine.liveness import what_if_bytes, what_if_element
from dstt_profile.engine.subject import Subject
from dstt_profile.engine.trace import Trace, trace, with_peaks
from dstt_profile.poly import Quadratics
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import OpRecord

BASE_FRAMES: tuple[int, int, int] = (2, 3, 4)  # the traces every derived t is interpolated from
DIRECT_BELOW = BASE_FRAMES[0]  # always traced below: size-1 dimensions change strides, and which ops copy
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
    if issubclass(kind, dict):  # from a mapping: a Counter built from pairs would count the pairs
        return kind({k: rebuild(s, ints) for k, s in items})
    return kind(**{name: rebuild(s, ints) for name, s in items})


def _flatten(tr: Trace) -> tuple[Any, list[int]]:
    """A trace's structure and integers, leaving out its run config, peak (recomputed) and timing."""
    ints: list[int] = []
    skeleton = flatten_ints((tr.ops, tr.calls, tr.unsupported, tr.params, tr.param_bytes, tr.input_bytes), ints)
    return skeleton, ints


def _recompute_rules(ops: tuple[OpRecord, ...], run: RunConfig) -> tuple[OpRecord, ...]:
    """Each op's temporary-rule bytes recomputed from its derived params (affine in t): the formula need
    not be a polynomial in t (flash attention's block sizes switch); the rest stays interpolated."""
    rules = DeviceRules(run.device)
    out = []
    for op in ops:
        rule = rules.temporary_rule(op.op) if op.rule_params else None
        if rule is not None:
            exact = scaled(rule.bytes(op.rule_params), op, run)
            op = dataclasses.replace(op, transient_bytes=op.transient_bytes - op.rule_transient + exact,
                                     rule_transient=exact)
        out.append(op)
    return tuple(out)


def scaled(raw: int, op: OpRecord, run: RunConfig) -> int:
    """`raw` bytes at the run's what-if element size, as the liveness scales them (int8: floating only)."""
    dtype = getattr(torch, op.outputs[0].dtype, None) if op.outputs else None
    return what_if_bytes(raw, dtype, what_if_element(run)) if isinstance(dtype, torch.dtype) else raw


class TraceFamily:
    """Every trace of one configuration across t, derived from the traces at `BASE_FRAMES`."""

    def __init__(self, base: RunConfig, subject: Subject) -> None:
        self.base = base
        self.subject = subject
        self.traces = {t: trace(base.replace(frames=t), subject) for t in BASE_FRAMES}
        flat = [_flatten(self.traces[t]) for t in BASE_FRAMES]
        self.skeleton = flat[0][0]
        self.consistent = flat[0][0] == flat[1][0] == flat[2][0]
        # ops that change in number with t (a loop over frames) leave nothing to interpolate
        self.poly = Quadratics(BASE_FRAMES[0], [ints for _, ints in flat] if self.consistent else [[], [], []])

    def derive(self, t: int) -> Trace | None:
        """The trace at t, derived; None where it cannot be (t below `DIRECT_BELOW`, or no exact fit)."""
        if t in self.traces:
            return self.traces[t]
        if t < DIRECT_BELOW or not self.consistent:
            return None
        started = time.perf_counter()
        ops, calls, unsupported, params, param_bytes, input_bytes = rebuild(self.skeleton, iter(self.poly.at(t)))
        ops = _recompute_rules(ops, self.base)
        basis = self.traces[BASE_FRAMES[0]].basis
        return with_peaks(Trace(self.base.replace(frames=t), ops, calls, unsupported, 0, -1, params,
                                param_bytes, input_bytes, time.perf_counter() - started, basis=basis))

    def agrees(self, traced: Trace) -> bool:
        """True when the trace derived at `traced`'s t equals it in structure and every integer."""
        derived = self.derive(traced.run.frames)
        if derived is None:
            return False
        peaks = [(tr.tensor_peak_bytes, tr.tensor_peak_index, tr.allocator_peak_bytes, tr.allocator_peak_index)
                 for tr in (derived, traced)]
        return _flatten(derived) == _flatten(traced) and peaks[0] == peaks[1]


def worth_deriving(frames: Iterable[int]) -> bool:
    """True when deriving costs fewer traces than tracing every t (three bases, t = 1, one check)."""
    wanted = set(frames)
    derived_cost = len(set(BASE_FRAMES) | {t for t in wanted if t < DIRECT_BELOW} | {max(wanted, default=0)})
    return derived_cost < len(wanted)
