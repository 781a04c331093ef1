"""A training step's peak split into what holds it (engine/storagesplit.py rides along a second trace of the
step), for the report's footprint and the `training` subcommand."""

from __future__ import annotations

from dataclasses import replace

import torch

from dstt_profile.engine.storagesplit import StorageSplit
from dstt_profile.engine.trace import trace
from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.figures import PeakRecord
from dstt_profile.records.footprint import Held, TrainingSplit
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import RunRecord


def _held(split: tuple[int, int, int]) -> dict[Held, int]:
    return dict(zip((Held.GRADIENTS, Held.SAVED, Held.TEMPORARIES), split, strict=True))


def training_split(run: RunConfig) -> TrainingSplit:
    if run.mode != "train" or run.real:
        raise UsageError("the training split traces one training step with fake tensors: mode 'train', real off")
    split = StorageSplit()
    tr = trace(run, subject_for(run), split=split)
    peak = PeakRecord.at_op(tr.ops, tr.tensor_peak_index, tr.tensor_peak_bytes)
    return TrainingSplit(peak, tr.param_bytes - _buffer_bytes(run), _held(split.split), split.saved_total)


def split_at_op(run: RunConfig, op: str, module: str, occurrence: int, held_bytes: int) -> dict[Held, int] | None:
    """What holds the bytes right after the `occurrence`-th `op` in `module` of `run`'s training step;
    None where that op is not found holding `held_bytes`, as it did in the engine's trace."""
    split = StorageSplit((op, module, occurrence))
    trace(run, subject_for(run), split=split)
    if split.held_split is None or split.held_at != held_bytes:
        return None
    return _held(split.held_split)


def with_train_split(record: RunRecord) -> RunRecord:
    """A train-mode record (with its ops) with the gradients and saved activations in its allocator peak
    filled in; unchanged where that cannot be done."""
    run = record.config
    index = record.peak.op_index
    if run.mode != "train" or run.real or not 0 <= index < len(record.ops):
        return record
    peak = record.ops[index]
    occurrence = sum(1 for op in record.ops[: index + 1] if (op.op, op.module) == (peak.op, peak.module))
    found = split_at_op(run, peak.op, peak.module, occurrence, peak.held_bytes)
    if found is None:
        return record
    fp = replace(record.footprint, gradients_in_peak=found[Held.GRADIENTS], saved_in_peak=found[Held.SAVED])
    return replace(record, footprint=fp)


def _buffer_bytes(run: RunConfig) -> int:
    """Bytes of the model's buffers at the run's dtype."""
    size = run.element_bytes if run.dtype == "int8" else None
    with torch.device("meta"):
        model = subject_for(run).build(False)
    total = 0
    for b in model.buffers():
        floating = b.dtype.is_floating_point
        total += b.numel() * (size if size is not None and floating else run.torch_dtype.itemsize if floating else b.element_size())
    return total
