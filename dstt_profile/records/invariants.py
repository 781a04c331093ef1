"""What a loaded result must hold beyond its types: every number at least its field's floor (0 unless
`_FLOORS` says), ops in order, indexes in range, footprint parts adding up, hints the renderers can use.
Record types are named as text, so schema.py, which defines them, can import this module."""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from typing import Any

from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import describe, hints_of

# (record, field) -> the lowest value allowed where it is not 0; None: any (a signed error, in %).
_FLOORS: dict[tuple[str, str], float | None] = {
    ("OpInput", "producer"): -1,  # -1: data from before the pass
    ("PeakRecord", "op_index"): -1,  # -1: the pass allocates nothing
    ("ModuleRecord", "first_op"): -1,  # -1, -1: a module that ran no op of its own
    ("ModuleRecord", "last_op"): -1,
    ("FootprintRecord", "gradients_in_peak"): -1,  # -1: not split
    ("FootprintRecord", "saved_in_peak"): -1,
    ("MeasuredRecord", "peak_error_pct"): None,
    ("MeasuredRecord", "tensor_peak_error_pct"): None,
    ("MeasuredRecord", "headline_error_pct"): None,
    ("GraphHintsRecord", "depth"): 1,  # 1: the top-level modules
    ("ScalingRecord", "frames"): 1,
    ("RunConfig", "model_args"): None,  # a model's own arguments: any number
}
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}", re.ASCII)  # what profiles write and every renderer reads
MAX_PATTERN = 256  # characters of a note's module pattern (DSTT's longest is 14)


def check_floors(record: Any, where: str = "") -> None:
    """SchemaError at the first number of `record` (nested records, lists and objects walked; free-form
    fields, typed `Any` or holding `Any`, are not) below its field's floor."""
    for name, lowest in _walked(record.__class__):
        _check_value(getattr(record, name), lowest, f"{where}.{name}" if where else name)


@functools.cache
def _walked(cls: type) -> tuple[tuple[str, float | None], ...]:
    hints = hints_of(cls)
    return tuple((f.name, _FLOORS.get((cls.__name__, f.name), 0)) for f in dataclasses.fields(cls)
                 if hints[f.name] is not Any and Any not in typing.get_args(hints[f.name]))


def _check_value(value: Any, lowest: float | None, where: str) -> None:
    kind = type(value)
    if kind is int or kind is float:
        if lowest is not None and value < lowest:
            raise SchemaError(where, f"expected {lowest:g} or more, got {describe(value)}")
    elif kind is tuple:
        if lowest is not None and all(type(v) is int for v in value) and (not value or min(value) >= lowest):
            return  # a shape, a series: every item a number within bounds
        for i, item in enumerate(value):
            _check_value(item, lowest, f"{where}[{i}]")
    elif kind is dict:
        for key, item in value.items():
            _check_value(item, lowest, f"{where}.{key}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        check_floors(value, where)


def check_run(run: Any, where: str) -> None:
    """SchemaError naming the first field of `run` that no genuine run could hold."""
    check_floors(run, where)
    _check_ops(run.ops, where)
    _check_indexes(run, where)
    _check_footprint(run, where)
    _check_profile(run.profile, f"{where}.profile")


def _check_ops(ops: tuple[Any, ...], where: str) -> None:
    for i, op in enumerate(ops):
        if op.index != i:
            raise SchemaError(f"{where}.ops[{i}].index", f"expected {i} (ops are listed in execution order), got {op.index}")
        for j, tensor in enumerate(op.inputs):
            if tensor.producer >= i:
                raise SchemaError(f"{where}.ops[{i}].inputs[{j}].producer",
                                  f"expected an earlier op (-1 to {i - 1}), got {tensor.producer}")


def _check_indexes(run: Any, where: str) -> None:
    """Indexes into `ops` where the run keeps them (a derived run's are the trace's)."""
    n = len(run.ops)
    peak = run.peak
    if peak.transient_bytes > peak.bytes:
        raise SchemaError(f"{where}.peak.transient_bytes", f"expected at most peak.bytes {peak.bytes:,}, got {peak.transient_bytes:,}")
    if not n:
        return
    for name in ("peak", "tensor_peak"):
        index = getattr(run, name).op_index
        if index >= n:
            raise SchemaError(f"{where}.{name}.op_index", f"expected an index into ops (-1 to {n - 1}), got {index}")
    for k, m in enumerate(run.modules):
        if (m.first_op, m.last_op) == (-1, -1):
            continue
        if not 0 <= m.first_op < n:
            raise SchemaError(f"{where}.modules[{k}].first_op", f"expected an index into ops (0 to {n - 1}), got {m.first_op}")
        if not m.first_op <= m.last_op < n:
            raise SchemaError(f"{where}.modules[{k}].last_op", f"expected {m.first_op} to {n - 1}, got {m.last_op}")


def _check_footprint(run: Any, where: str) -> None:
    fp = run.footprint  # all 0: a result saved before footprints
    at = f"{where}.footprint"
    parts = fp.weights + fp.input + fp.activations + fp.optimizer + fp.context
    if fp.total == 0 and parts == 0:
        return
    if fp.total != parts:
        raise SchemaError(f"{at}.total",
                          f"expected weights + input + activations + optimizer + context = {parts:,}, got {fp.total:,}")
    for name, source, value in (("weights", "param_bytes", run.param_bytes), ("input", "input_bytes", run.input_bytes),
                                ("activations", "peak.bytes", run.peak.bytes)):
        if getattr(fp, name) != value:
            raise SchemaError(f"{at}.{name}", f"expected {source} {value:,}, got {getattr(fp, name):,}")


def _check_profile(profile: Any, where: str) -> None:
    for stage, colour in profile.colours.items():
        if not HEX_COLOUR.fullmatch(colour):
            raise SchemaError(f"{where}.colours.{stage}", f"expected a colour #rrggbb, got {describe(colour)}")
    notes = [(f"module_notes[{i}]", n.module) for i, n in enumerate(profile.graph.module_notes)]
    for at, pattern in notes + [(f"op_notes[{i}]", n.module) for i, n in enumerate(profile.graph.op_notes)]:
        if len(pattern) > MAX_PATTERN:
            raise SchemaError(f"{where}.graph.{at}.module",
                              f"expected a pattern of at most {MAX_PATTERN} characters, got {len(pattern):,}")
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise SchemaError(f"{where}.graph.{at}.module",
                              f"expected a regular expression, got {describe(pattern)} ({exc})") from None
