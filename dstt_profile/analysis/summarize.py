"""From a trace to a `RunRecord`, by the model's profile: stage table, totals, the peak, the formula checks."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import fields

from dstt_profile.analysis.attention import AttentionMatrix, attention_matrices
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


def _attention(stage: str, matrices: list[AttentionMatrix]) -> tuple[AttentionMatrix, int] | None:
    """The stage's headline attention matrix, the largest of its first module making any (one block), and how
    many modules make one (its instances); None where the stage makes none."""
    mine = [m for m in matrices if m.stage == stage]
    if not mine:
        return None
    modules = list(dict.fromkeys(m.module for m in mine))
    return max((m for m in mine if m.module == modules[0]), key=lambda m: m.tensor.elements), len(modules)


def _root_headline(trace: Trace, stage: str) -> tuple[TensorInfo, str, str]:
    """The largest tensor the root stage's ops make (the root module's own; with a stage map, also those of
    modules no pattern names while it ran), what it is, and the module that made it."""
    best: tuple[TensorInfo, OpRecord] | None = None
    for op in trace.ops:
        if op.stage == stage and op.alloc_bytes:
            for out in op.outputs:
                if best is None or out.elements > best[0].elements:
                    best = (out, op)
    if best is None:
        return TensorInfo((), NONE_DTYPE), "no tensor made (views and in-place ops only)", ""
    info, op = best
    if op.module:
        return info, f"largest tensor made outside every stage's modules ({op.op} in {op.module})", op.module
    return info, f"largest tensor the root module's own ops make ({op.op})", ""


def _stage_record(trace: Trace, profile: ModelProfile, stage: str, totals: dict[str, list[int]], total_flops: int,
                  matrices: list[AttentionMatrix]) -> StageRecord:
    spec = profile.headlines.get(stage)
    attention = _attention(stage, matrices) if spec is None else None
    flops, other, alloc, peak = totals.get(stage, [0, 0, 0, 0])
    materialised, info, module = True, TensorInfo((), NONE_DTYPE), ""
    if attention is not None:
        matrix, instances = attention
        info, module, what, materialised = matrix.tensor, matrix.module, matrix.what, not matrix.kernel
    elif stage == profile.root_stage:
        (info, what, module), instances = _root_headline(trace, stage), 1
    else:
        if spec is not None:
            calls = _instances(trace, profile, spec.module, stage)
            index, what = spec.output, spec.what
        else:
            calls = _roots(trace, profile, stage)
            index, what = 0, f"output of {calls[0].name}" if calls else "no module of the stage ran"
        instances = len(calls)
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
        other_flops=other, instances=instances, share=flops / total_flops if total_flops else 0.0, alloc_bytes=alloc,
        peak_bytes=peak, headline=what, module=module, materialised=materialised,
        formula=formula.general if formula else "", formula_substituted=formula.substituted if formula else "",
        formula_elements=formula.value if formula else 0,
        match=(info.elements == formula.value and present) if formula is not None else None,
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
    """The profile's stages in network order, or (`call_order`) in the order the pass first runs them: a stage
    at its first op, one whose modules ran no op at the next op after its first module was entered, one that
    never ran last; the root stage among them where its own ops allocate or compute."""
    if not profile.call_order:
        return profile.stages
    first: dict[str, tuple[int, int]] = {}  # stage -> (op index, 1 at that op, 0 just before it)
    for op in trace.ops:
        first.setdefault(op.stage, (op.index, 1))
    idle: dict[str, tuple[int, int]] = {}
    upcoming = len(trace.ops)  # the first op after a module's entry: that of the next module entered with ops
    for call in sorted(trace.calls.values(), key=lambda c: c.order, reverse=True):
        if call.first_op >= 0:
            upcoming = call.first_op
        elif call.name and (stage := profile.stage_of(call.name)) is not None and stage not in first:
            idle[stage] = (upcoming, 0)  # walking back: the stage's first module entered wins
    first.update(idle)
    root = profile.root_stage
    shown = [root] if root and any(o.stage == root and (o.alloc_bytes or o.flops or o.other_flops) for o in trace.ops) else []
    ran = [s for s in (*shown, *profile.stages) if s in first]
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
    # the data-flow walk only for profiles leaving a stage without a headline (the generic profile's)
    matrices = attention_matrices(trace.ops) if any(s not in profile.headlines for s in order) else []
    stages = {stage: _stage_record(trace, profile, stage, totals, total, matrices) for stage in order}
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
