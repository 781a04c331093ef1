"""From a trace to a `RunRecord`: stage table, totals, the peak, and the formula checks."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

from dstt_profile.analysis.footprint import footprint
from dstt_profile.engine.hooks import NONE_DTYPE, ModuleCall
from dstt_profile.engine.trace import Trace
from dstt_profile.profiles.dstt.formulas import ELEMENTS, FLOPS, FUSED_ELEMENTS, Formula, Symbols, general
from dstt_profile.profiles.dstt.stages import (
    ATTENTION_MODULE,
    ATTENTION_STAGES,
    EXTRA_TENSORS,
    HEADLINES,
    STAGES,
    stage_of,
)
from dstt_profile.records.schema import (
    CheckRecord,
    FlopsRecord,
    ModuleRecord,
    OpRecord,
    PeakRecord,
    RunRecord,
    StageRecord,
    TensorInfo,
)


def _instances(trace: Trace, pattern: str, stage: str | None) -> list[ModuleCall]:
    regex = re.compile(pattern)
    block_kind = trace.run.model_config().block_kind
    found = [
        call
        for name, call in trace.calls.items()
        if regex.fullmatch(name) and (stage is None or stage_of(name, block_kind) == stage)
    ]
    return sorted(found, key=lambda c: c.order)


def _largest_in(ops: tuple[OpRecord, ...], first: int, last: int) -> tuple[TensorInfo, str]:
    best: tuple[TensorInfo, str] = (TensorInfo((), NONE_DTYPE), "")
    for op in ops[first : last + 1]:
        if op.alloc_bytes == 0:
            continue
        for info in op.outputs:
            if info.elements > best[0].elements:
                best = (info, op.op)
    return best


def _attention_scope(call: ModuleCall, trace: Trace) -> ModuleCall:
    m = ATTENTION_MODULE.fullmatch(call.name)
    name = f"transformer.{m.group('block')}.attention" if m else call.name
    return trace.calls.get(name, call)


def _stage_record(trace: Trace, stage: str, sym: Symbols, totals: dict[str, list[int]], total_flops: int) -> StageRecord:
    spec = HEADLINES[stage]
    calls = _instances(trace, spec.module, stage)
    flops, other, alloc, peak = totals.get(stage, [0, 0, 0, 0])
    materialised = True
    what = spec.what
    info = TensorInfo((), NONE_DTYPE)
    module = ""
    if calls:
        first = calls[0]
        module = first.name
        outputs = first.outputs
        info = outputs[spec.output] if spec.output < len(outputs) else TensorInfo((), NONE_DTYPE)
        if info.dtype == NONE_DTYPE:
            materialised = False
            scope = _attention_scope(first, trace)
            info, op = _largest_in(trace.ops, scope.first_op, scope.last_op)
            module = scope.name
            what = f"largest tensor of the stage ({op}); attention matrix not materialised"
    formula = FUSED_ELEMENTS[stage] if not materialised else ELEMENTS[stage]
    expected = formula.value(sym)
    return StageRecord(
        name=stage,
        shape=info.shape,
        elements=info.elements if info.dtype != NONE_DTYPE else 0,
        bytes=info.elements * trace.run.element_bytes if info.dtype != NONE_DTYPE else 0,
        flops=flops,
        other_flops=other,
        instances=len(calls),
        share=flops / total_flops if total_flops else 0.0,
        alloc_bytes=alloc,
        peak_bytes=peak,
        headline=what,
        module=module,
        materialised=materialised,
        formula=general(formula, sym),
        formula_substituted=formula.substituted(sym),
        formula_elements=expected,
        match=info.elements == expected and info.dtype != NONE_DTYPE,
    )


def _check(name: str, formula: Formula, sym: Symbols, measured: int, unit: str) -> CheckRecord:
    return CheckRecord(name, general(formula, sym), formula.substituted(sym), formula.value(sym), measured, unit)


def _checks(trace: Trace, stages: dict[str, StageRecord], sym: Symbols) -> tuple[CheckRecord, ...]:
    checks = []
    for stage in STAGES:
        rec = stages[stage]
        formula = ELEMENTS[stage] if rec.materialised else FUSED_ELEMENTS[stage]
        checks.append(_check(f"{stage}.elements", formula, sym, rec.elements, "elements"))
    for name, (pattern, index, _what) in EXTRA_TENSORS.items():
        calls = _instances(trace, pattern, None)
        outputs = calls[0].outputs if calls else ()
        measured = outputs[index].elements if index < len(outputs) else 0
        checks.append(_check(f"{name}.elements", ELEMENTS[name], sym, measured, "elements"))
    for stage, formula in FLOPS.items():
        checks.append(_check(f"{stage}.flops", formula, sym, stages[stage].flops, "FLOPs"))
    return tuple(checks)


def _kernels(trace: Trace) -> dict[str, str]:
    """Which op computed each attention stage, on which device."""
    found: dict[str, str] = {}
    for op in trace.ops:
        computes = "attention" in op.op or op.op == "aten.bmm"
        if op.stage in ATTENTION_STAGES and op.stage not in found and op.flops and computes:
            found[op.stage] = f"{op.op} on {trace.run.device}"
    return found


def _module_records(trace: Trace) -> tuple[ModuleRecord, ...]:
    block_kind = trace.run.model_config().block_kind
    records = []
    for call in sorted(trace.calls.values(), key=lambda c: c.order):
        stage = stage_of(call.name, block_kind)
        if stage is None:
            stage = trace.ops[call.first_op].stage if call.first_op >= 0 else ""
        records.append(
            ModuleRecord(
                name=call.name,
                type=call.type,
                stage=stage,
                depth=call.depth,
                order=call.order,
                calls=call.calls,
                params=call.params,
                inputs=call.inputs,
                outputs=call.outputs,
                flops=call.flops,
                other_flops=call.other_flops,
                alloc_bytes=call.alloc_bytes,
                first_op=call.first_op,
                last_op=call.last_op,
            )
        )
    return tuple(records)


def _peak(trace: Trace) -> PeakRecord:
    """Both views of the peak: the allocator's (the headline) and the tensors'."""
    ops = trace.ops
    top = ops[trace.allocator_peak_index] if trace.allocator_peak_index >= 0 else None
    tensor_top = ops[trace.peak_index] if trace.peak_index >= 0 else None
    return PeakRecord(
        bytes=trace.allocator_peak_bytes,
        stage=top.stage if top else "",
        op=top.op if top else "",
        op_index=trace.allocator_peak_index,
        module=top.module if top else "",
        tensor_bytes=trace.peak_bytes,
        tensor_stage=tensor_top.stage if tensor_top else "",
        tensor_op=tensor_top.op if tensor_top else "",
        tensor_op_index=trace.peak_index,
        tensor_module=tensor_top.module if tensor_top else "",
        transient_bytes=top.transient_bytes if top else 0,
        basis=trace.basis,
    )


def summarize(trace: Trace, keep_ops: bool = True) -> RunRecord:
    sym = Symbols.of(trace.run)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_op: dict[str, int] = defaultdict(int)
    other_by_op: dict[str, int] = defaultdict(int)
    for op in trace.ops:
        row = totals[op.stage]
        row[0] += op.flops
        row[1] += op.other_flops
        row[2] += op.alloc_bytes
        row[3] = max(row[3], op.allocator_bytes)
        if op.flops:
            by_op[op.op] += op.flops
        if op.other_flops:
            other_by_op[op.op] += op.other_flops
    total = sum(by_op.values())
    stages = {stage: _stage_record(trace, stage, sym, totals, total) for stage in STAGES}
    peak = _peak(trace)
    flops = FlopsRecord(
        total=total,
        by_op=dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
        other_total=sum(other_by_op.values()),
        other_by_op=dict(sorted(other_by_op.items(), key=lambda kv: -kv[1])),
        unsupported=dict(trace.unsupported),
    )
    return RunRecord(
        config=dataclasses.asdict(trace.run),
        params=trace.params,
        flops=flops,
        peak=peak,
        stages=stages,
        checks=_checks(trace, stages, sym),
        modules=_module_records(trace),
        ops=trace.ops if keep_ops else (),
        kernels=_kernels(trace),
        input_bytes=trace.input_bytes,
        param_bytes=trace.param_bytes,
        seconds=trace.seconds,
        footprint=footprint(trace.run, trace.params, trace.param_bytes, trace.input_bytes, peak.bytes),
    )
