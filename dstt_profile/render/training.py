"""The `training` subcommand's table: a training step's tensor peak split by what holds it."""

from __future__ import annotations

from dstt_profile.records.footprint import TrainingSplit
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.units import fmt_bytes


def render(split: TrainingSplit, run: RunConfig) -> str:
    def row(name: str, n: int) -> str:
        return f"  {name:<46s} {fmt_bytes(n):>10s}  {n:>16,} B"

    return "\n".join([
        f"Training step at {run.res}, t = {run.frames}, batch {run.batch}, {run.dtype}: peak in "
        f"{split.tensor_peak.stage} ({split.tensor_peak.op}, op {split.tensor_peak.op_index})",
        row("gradients (parameter .grad)", split.gradients),
        row("activations saved for backward", split.saved),
        row("temporaries", split.temporaries),
        row("= tensor peak (tensors only, during the step)", split.tensor_peak.bytes),
        row("parameters (resident)", split.parameters),
        row("Adam state (2 x parameters, added)", split.adam_state),
        row("= footprint", split.footprint),
        row("saved for backward, end of forward", split.saved_total),
    ])
