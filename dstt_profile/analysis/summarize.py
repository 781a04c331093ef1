"""From a trace to a `RunRecord`, by the model's profile: stage table, totals, the peak, the formula checks."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import fields

from dstt_profile.engine.hooks import NONE_DTYPE, ModuleCall
from dstt_profile.engine.trace import Trace
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.profiles.registry import normalised, resolve
from dstt_profile.records.footprint import footprint
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


def _instances(trace: Trace, profile: ModelProfile, pattern: str, stage: str | None) -> list[ModuleCall]:
    """The modules whose name fully matches `pattern` (in `stage`, where given), in call order."""
    regex = re.compile(pattern)
    found = [c for n, c in trace.calls.items() if regex.fullmatch(n) and (stage is None or profile.stage_of(n) == stage)]
    return sorted(found, key=lambda c: c.order)


def _roots(trace: Trace, profile: ModelProfile, stage: str) -> list[ModuleCall]:
    """The stage's outermost modules (their parent is in another stage), in call order."""
    of = profile.stage_of
    found = [c for n, c in trace.calls.items() if n and of(n) == stage and of(n.rpartition(".")[0]) != stage]
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


def _scope(call: ModuleCall, trace: Trace, up: int) -> ModuleCall:
    """The module `up` name parts above `call` (the call itself where there is none)."""
    parts = call.name.split(".")
    name = ".".join(parts[: len(parts) - up]) if 0 < up < len(parts) else call.name
    return trace.calls.get(name, call)


def _stage_record(
    trace: Trace, profile: ModelProfile, stage: str, totals: dict[str, list[int]], total_flops: int
) -> StageRecord:
    spec = profile.headlines.get(stage)
    if spec is not None:
        calls = _instances(trace, profile, spec.module, stage)
        index, what = spec.output, spec.what
    else:
        calls = _roots(trace, profile, stage)
        index, what = 0, f"output of {calls[0].name}" if calls else "stage output"
    flops, other, alloc, peak = totals.get(stage, [0, 0, 0, 0])
    materialised, info, module = True, TensorInfo((), NONE_DTYPE), ""
    if calls:
        first = calls[0]
        module, outputs = first.name, first.outputs
        info = outputs[index] if index < len(outputs) else info
        if info.dtype == NONE_DTYPE and spec is not None and spec.scope_up:
            materialised = False
            scope = _scope(first, trace, spec.scope_up)
            info, op = _largest_in(trace.ops, scope.first_op, scope.last_op)
            module = scope.name
            what = f"largest tensor of the stage ({op}); attention matrix not materialised"
    formula = profile.formulas.stage(trace.run, stage, materialised) if profile.formulas is not None else None
    present = info.dtype != NONE_DTYPE
    elements = info.elements if present else 0
    return StageRecord(
        name=stage, shape=info.shape, elements=elements, bytes=elements * trace.run.element_bytes, flops=flops,
        other_flops=other, instances=len(calls), share=flops / total_flops if total_flops else 0.0, alloc_bytes=alloc,
        peak_bytes=peak, headline=what, module=module, materialised=materialised,
        formula=formula.general if formula else "", formula_substituted=formula.substituted if formula else "",
        formula_elements=formula.value if formula else 0,
        match=(info.elements == formula.value and present) if formula is not None else present,
    )


def _checks(trace: Trace, profile: ModelProfile, stages: dict[str, StageRecord]) -> tuple[CheckRecord, ...]:
    if profile.formulas is None:
        return ()

    def tensor(pattern: str, index: int) -> int:
        calls = _instances(trace, profile, pattern, None)
        outputs = calls[0].outputs if calls else ()
        return outputs[index].elements if index < len(outputs) else 0

    return profile.formulas.checks(trace.run, stages, tensor)


def _kernels(trace: Trace, profile: ModelProfile) -> dict[str, str]:
    """Which op computed each of the profile's kernel stages (attention), on which device."""
    found: dict[str, str] = {}
    for op in trace.ops:
        computes = "attention" in op.op or op.op == "aten.bmm"
        if op.stage in profile.kernel_stages and op.stage not in found and op.flops and computes:
            found[op.stage] = f"{op.op} on {trace.run.device}"
    return found


def _stage_order(trace: Trace, profile: ModelProfile) -> tuple[str, ...]:
    """The profile's stages, in network order, or in the order the pass first runs them (those never run last)."""
    if not profile.call_order:
        return profile.stages
    first: dict[str, int] = {}
    for op in trace.ops:
        first.setdefault(op.stage, op.index)
    ran = [s for s in profile.stages if s in first]
    return tuple(sorted(ran, key=lambda s: first[s])) + tuple(s for s in profile.stages if s not in first)


def _module_records(trace: Trace, profile: ModelProfile) -> tuple[ModuleRecord, ...]:
    """Every module's first call, in call order, with its stage (a glue module's: its first op's)."""
    records = []
    for call in sorted(trace.calls.values(), key=lambda c: c.order):
        stage = profile.stage_of(call.name)
        if stage is None:
            stage = trace.ops[call.first_op].stage if call.first_op >= 0 else ""
        records.append(ModuleRecord(stage=stage, **{name: getattr(call, name) for name in _MODULE_FIELDS}))
    return tuple(records)


_MODULE_FIELDS = tuple(f.name for f in fields(ModuleRecord) if f.name != "stage")


def summarize(trace: Trace, keep_ops: bool = True, profile: ModelProfile | None = None) -> RunRecord:
    """The record of `trace`, by `profile` (by default the profile of the trace's model)."""
    profile = profile or resolve(trace.run)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_op: dict[str, int] = defaultdict(int)
    other_by_op: dict[str, int] = defaultdict(int)
    for op in trace.ops:
        row = totals[op.stage]
        row[:] = row[0] + op.flops, row[1] + op.other_flops, row[2] + op.alloc_bytes, max(row[3], op.allocator_bytes)
        if op.flops:
            by_op[op.op] += op.flops
        if op.other_flops:
            other_by_op[op.op] += op.other_flops
    total = sum(by_op.values())
    order = _stage_order(trace, profile)
    stages = {stage: _stage_record(trace, profile, stage, totals, total) for stage in order}
    top = trace.allocator_peak_index
    transient = trace.ops[top].transient_bytes if top >= 0 else 0
    peak = PeakRecord.at_op(trace.ops, top, trace.allocator_peak_bytes, transient, trace.basis)
    flops = FlopsRecord(total, _largest_first(by_op), sum(other_by_op.values()), _largest_first(other_by_op),
                        dict(trace.unsupported))
    return RunRecord(
        config=normalised(trace.run), params=trace.params, flops=flops, peak=peak, stages=stages,
        checks=_checks(trace, profile, stages), modules=_module_records(trace, profile),
        ops=trace.ops if keep_ops else (), kernels=_kernels(trace, profile), input_bytes=trace.input_bytes,
        param_bytes=trace.param_bytes, seconds=trace.seconds,
        tensor_peak=PeakRecord.at_op(trace.ops, trace.tensor_peak_index, trace.tensor_peak_bytes),
        footprint=footprint(trace.run, trace.params, trace.param_bytes, trace.input_bytes, peak.bytes),
        profile=profile.record(trace.run, order),
    )


def _largest_first(values: dict[str, int]) -> dict[str, int]:
    return dict(sorted(values.items(), key=lambda kv: -kv[1]))
