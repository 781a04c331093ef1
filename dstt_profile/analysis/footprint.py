"""The footprint: the whole memory one pass needs on its device, and how it is composed.

    total = weights + input + activations + optimizer state + CUDA context

- weights: every parameter and buffer, resident before the pass (`RunRecord.param_bytes`);
- input: the clip, resident before the pass (`RunRecord.input_bytes`);
- activations: the allocator peak of the pass above those two (`PeakRecord.bytes`). In train mode the
  pass is forward + backward, so this peak already holds the gradients accumulated by then and the
  activations saved for backward still alive at that op: they are parts of it, never added again
  (`split_train_peak` says how much of each);
- optimizer state (train mode only): what the optimizer keeps between steps, allocated by its first
  step. Adam: exp_avg and exp_avg_sq, 2 x parameter bytes; SGD with momentum: the momentum buffer,
  1 x; none: 0. Gradients are assumed freed before each forward pass (`zero_grad(set_to_none=True)`,
  PyTorch's default), so the traced pass starts with none, as the trace does;
- CUDA context: an assumed allowance, not traced (`CUDA_CONTEXT_BYTES`); 0 on CPU.
"""

from __future__ import annotations

import dataclasses

from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import FootprintRecord, RunRecord
from dstt_profile.units import fmt_bytes

# Optimizer name -> tensors of parameter size it keeps per parameter.
OPTIMIZER_STATES: dict[str, int] = {"adam": 2, "sgd": 1, "none": 0}

# ASSUMPTION, not traced or measured here: what the CUDA context (driver, kernels, cuBLAS/cuDNN
# handles) takes on the device before the first tensor, added to every CUDA footprint. It varies with
# the driver, the GPU and lazy module loading; 512 MiB is a typical figure for PyTorch on a current GPU.
CUDA_CONTEXT_BYTES = 512 * 1024**2


def footprint(
    run: RunConfig, params: int, param_bytes: int, input_bytes: int, activations: int
) -> FootprintRecord:
    """The footprint of `run`, whose pass has `params` parameters (`param_bytes` with buffers), an
    input of `input_bytes` and an allocator peak of `activations` bytes."""
    train = run.mode == "train"
    optimizer = run.optimizer if train else "none"
    state = OPTIMIZER_STATES[optimizer] * params * run.element_bytes
    context = CUDA_CONTEXT_BYTES if run.device == "cuda" else 0
    return FootprintRecord(
        total=param_bytes + input_bytes + activations + state + context,
        mode=run.mode,
        weights=param_bytes,
        input=input_bytes,
        activations=activations,
        optimizer=state,
        optimizer_name=optimizer,
        context=context,
        gradients_in_peak=-1 if train else 0,
        saved_in_peak=-1 if train else 0,
    )


def of_record(record: RunRecord) -> FootprintRecord:
    """The record's footprint; computed from its figures for a result saved before footprints were."""
    if record.footprint.total:
        return record.footprint
    run = RunConfig.from_dict(record.config)
    return footprint(run, record.params, record.param_bytes, record.input_bytes, record.peak.bytes)


def with_train_split(record: RunRecord) -> RunRecord:
    """A train-mode record with the gradients and saved activations inside its peak filled in (from a
    second trace of the step; the record must keep its ops). Unchanged where that cannot be done."""
    from dstt_profile.analysis.training import split_at_op

    run = RunConfig.from_dict(record.config)
    index = record.peak.op_index
    if run.mode != "train" or run.real or not 0 <= index < len(record.ops):
        return record
    peak = record.ops[index]
    occurrence = sum(1 for op in record.ops[: index + 1] if (op.op, op.module) == (peak.op, peak.module))
    found = split_at_op(run, (peak.op, peak.module, occurrence), peak.held_bytes)
    if found is None:
        return record
    fp = dataclasses.replace(of_record(record), gradients_in_peak=found[0], saved_in_peak=found[1])
    return dataclasses.replace(record, footprint=fp)


def parts(fp: FootprintRecord) -> list[tuple[str, int, str]]:
    """(part, bytes, note) for every part of the footprint, then the total; the parts sum to it."""
    rows = [
        ("weights", fp.weights, "parameters and buffers, resident"),
        ("input clip", fp.input, "resident"),
        ("activation peak", fp.activations, _activation_note(fp)),
    ]
    if fp.mode == "train":
        states = OPTIMIZER_STATES[fp.optimizer_name]
        rows.append((f"optimizer state ({fp.optimizer_name})", fp.optimizer, f"{states} x parameter bytes"))
    if fp.context:
        rows.append(("CUDA context", fp.context, f"assumed allowance of {fmt_bytes(fp.context)}, not traced"))
    return rows


def _activation_note(fp: FootprintRecord) -> str:
    if fp.mode != "train":
        return "allocator peak of the pass"
    if fp.gradients_in_peak < 0:
        return "allocator peak of forward + backward: gradients and saved activations alive then are in it"
    return (
        f"allocator peak of forward + backward; inside it, not added again: gradients "
        f"{fp.gradients_in_peak:,} B, activations saved for backward {fp.saved_in_peak:,} B"
    )


def sentence(fp: FootprintRecord) -> str:
    """'1.6 GiB (1,662,682,636 B) = weights 131.7 MiB + input clip 16.6 MiB + activation peak 1.4 GiB'"""
    terms = " + ".join(f"{name} {fmt_bytes(n)}" for name, n, _ in parts(fp))
    return f"{fmt_bytes(fp.total)} ({fp.total:,} B) = {terms}"


def lines(fp: FootprintRecord) -> list[str]:
    """The terminal's footprint lines: the total as a sum of its parts, then what is inside the peak."""
    out = [f"footprint    {sentence(fp)}"]
    if fp.mode == "train":
        out.append(f"             {_activation_note(fp)}")
    if fp.context:
        out.append(f"             CUDA context: an assumed allowance of {fp.context:,} B, not traced")
    return out
