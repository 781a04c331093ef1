"""What a result must hold beyond its types: the invariants `Result.from_dict` checks.

A result file may come from anyone, so loading it checks what its figures mean, not only their types:
every count, size, FLOP figure and time is 0 or more (`_FLOORS` lists the fields that may go lower),
ops are listed in execution order and read only what earlier ops produced, every index points into
`ops`, the footprint's parts add up to its total, and the profile's hints are what the renderers can
use (`#rrggbb` colours, a graph depth of 1 or more, note patterns that compile and are short).

The checks read the records by their fields and name their types as text (`_FLOORS`), so this module
imports no record type and schema.py, which defines them, can import it.
"""

from __future__ import annotations

import re
from typing import Any

from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import check_floors, describe

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


def floor(cls: type, name: str) -> float | None:
    """The lowest value a record field may take: 0 unless `_FLOORS` says otherwise."""
    return _FLOORS.get((cls.__name__, name), 0)


def check_run(run: Any, where: str) -> None:
    """SchemaError naming the first field of `run` that no genuine run could hold."""
    check_floors(run, floor, where)
    _check_ops(run.ops, where)
    _check_indexes(run, where)
    _check_footprint(run, where)
    _check_profile(run.profile, f"{where}.profile")


def _check_ops(ops: tuple[Any, ...], where: str) -> None:
    """Ops in execution order (op i has index i), each reading only data of earlier ops (or -1)."""
    for i, op in enumerate(ops):
        if op.index != i:
            raise SchemaError(f"{where}.ops[{i}].index", f"expected {i} (ops are listed in execution order), got {op.index}")
        for j, tensor in enumerate(op.inputs):
            if tensor.producer >= i:
                raise SchemaError(
                    f"{where}.ops[{i}].inputs[{j}].producer",
                    f"expected an earlier op (-1 to {i - 1}), got {tensor.producer}",
                )


def _check_indexes(run: Any, where: str) -> None:
    """The peaks' ops and each module's op span inside `ops` where the run keeps them (a derived run
    keeps none: its indexes are the trace's); the peak's op temporaries inside the peak."""
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
    """`total == weights + input + activations + optimizer + context`, with the weights, the input and
    the activations the run's own figures; all 0 in a result saved before footprints."""
    fp = run.footprint
    at = f"{where}.footprint"
    parts = fp.weights + fp.input + fp.activations + fp.optimizer + fp.context
    if fp.total == 0 and parts == 0:
        return
    if fp.total != parts:
        raise SchemaError(
            f"{at}.total", f"expected weights + input + activations + optimizer + context = {parts:,}, got {fp.total:,}"
        )
    for name, source, value in (
        ("weights", "param_bytes", run.param_bytes),
        ("input", "input_bytes", run.input_bytes),
        ("activations", "peak.bytes", run.peak.bytes),
    ):
        if getattr(fp, name) != value:
            raise SchemaError(f"{at}.{name}", f"expected {source} {value:,}, got {getattr(fp, name):,}")


def _check_profile(profile: Any, where: str) -> None:
    """Colours the renderers can draw, and note patterns that compile."""
    for stage, colour in profile.colours.items():
        if not HEX_COLOUR.fullmatch(colour):
            raise SchemaError(f"{where}.colours.{stage}", f"expected a colour #rrggbb, got {describe(colour)}")
    for i, note in enumerate(profile.graph.module_notes):
        _check_pattern(note.module, f"{where}.graph.module_notes[{i}].module")
    for i, op_note in enumerate(profile.graph.op_notes):
        _check_pattern(op_note.module, f"{where}.graph.op_notes[{i}].module")


def _check_pattern(pattern: str, where: str) -> None:
    if len(pattern) > MAX_PATTERN:
        raise SchemaError(where, f"expected a pattern of at most {MAX_PATTERN} characters, got {len(pattern):,}")
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise SchemaError(where, f"expected a regular expression, got {describe(pattern)} ({exc})") from None
