"""Training memory: the train-mode peak split into what holds it, plus Adam's state as an addition.

The engine's train run (forward + `output.float().mean().backward()`) gives the peak of bytes
allocated during the step (weights and input excluded). This module traces the same step with the
engine's storage split riding along (engine/storagesplit.py), which at every new peak classifies the live
storages:

- gradients: the `.grad` storages of parameters accumulated so far;
- saved for backward: storages autograd packed for backward (`saved_tensors_hooks`), not yet released;
- temporaries: everything else live (the output, gradients of activations, workspaces).

These three sum to the peak exactly. (Autograd packs an op's saved outputs after the op returns, so
at a peak set inside the forward pass, that op's own output still counts as a temporary.) Parameters (resident, outside the engine's peak) and Adam's
state (exp_avg and exp_avg_sq: 2 x parameter bytes, allocated by the first `optimizer.step()`) are
stated beside it, and the whole step's footprint is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dstt_profile.engine.storagesplit import OpAt, StorageSplit
from dstt_profile.engine.trace import trace
from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.units import fmt_bytes

ADAM_STATES = 2  # exp_avg, exp_avg_sq
__all__ = ["ADAM_STATES", "OpAt", "TrainingSplit", "render", "split_at_op", "training_split"]


@dataclass(frozen=True)
class TrainingSplit:
    """Bytes at the train-mode peak, by what holds them; `gradients + saved + temporaries == peak_bytes`."""

    peak_bytes: int
    peak_stage: str
    peak_op: str
    peak_index: int
    parameters: int  # resident weights (outside peak_bytes)
    gradients: int
    saved: int  # activations saved for backward
    temporaries: int
    saved_total: int  # bytes saved for backward when the forward pass ends

    @property
    def adam_state(self) -> int:
        return ADAM_STATES * self.parameters

    @property
    def footprint(self) -> int:
        """Parameters + the step's peak + Adam state: what a training step needs resident."""
        return self.parameters + self.peak_bytes + self.adam_state


def training_split(run: RunConfig) -> TrainingSplit:
    """Trace one training step of `run` (fake tensors) and split its peak."""
    if run.mode != "train":
        raise UsageError(f"training_split needs mode 'train', got {run.mode!r}")
    if run.real:
        raise UsageError("training_split traces fake tensors only")
    split = StorageSplit()
    tr = trace(run, subject_for(run), split=split)
    peak = tr.ops[tr.peak_index]
    grads, kept, temps = split.split
    return TrainingSplit(
        peak_bytes=tr.peak_bytes,
        peak_stage=peak.stage,
        peak_op=peak.op,
        peak_index=tr.peak_index,
        parameters=tr.param_bytes - _buffer_bytes(run),
        gradients=grads,
        saved=kept,
        temporaries=temps,
        saved_total=split.saved_total,
    )


def split_at_op(run: RunConfig, at: OpAt, held_bytes: int) -> tuple[int, int] | None:
    """(gradients, activations saved for backward) the allocator holds right after the op `at` of
    `run`'s training step (fake tensors, storages at their real sizes): the parts of a train-mode
    allocator peak at that op that are gradients and saved activations. None where the op is not
    found holding `held_bytes`, as it did in the engine's trace."""
    if run.mode != "train":
        raise UsageError(f"split_at_op needs mode 'train', got {run.mode!r}")
    split = StorageSplit(at)
    trace(run, subject_for(run), split=split)
    if split.held_split is None or split.held_at != held_bytes:
        return None
    grads, saved, _rest = split.held_split
    return grads, saved


def _buffer_bytes(run: RunConfig) -> int:
    """Bytes of the model's buffers (resident, but not parameters) at the run's dtype."""
    size = run.element_bytes if run.dtype == "int8" else None
    total = 0
    with torch.device("meta"):
        model = subject_for(run).build(False)
    for b in model.buffers():
        floating = b.dtype.is_floating_point
        per = size if size is not None and floating else run.torch_dtype.itemsize if floating else b.element_size()
        total += b.numel() * per
    return total


def render(split: TrainingSplit, run: RunConfig) -> str:
    def row(name: str, n: int) -> str:
        return f"  {name:<46s} {fmt_bytes(n):>10s}  {n:>16,} B"

    head = (
        f"Training step at {run.res}, t = {run.frames}, batch {run.batch}, {run.dtype}: peak in "
        f"{split.peak_stage} ({split.peak_op}, op {split.peak_index})"
    )
    return "\n".join(
        [
            head,
            row("gradients (parameter .grad)", split.gradients),
            row("activations saved for backward", split.saved),
            row("temporaries", split.temporaries),
            row("= tensor peak (tensors only, during the step)", split.peak_bytes),
            row("parameters (resident)", split.parameters),
            row("Adam state (2 x parameters, added)", split.adam_state),
            row("= footprint", split.footprint),
            row("saved for backward, end of forward", split.saved_total),
        ]
    )
