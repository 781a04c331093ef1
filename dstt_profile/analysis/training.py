"""Training memory: the train-mode peak split into what holds it, plus Adam's state as an addition.

The engine's train run (forward + `output.float().mean().backward()`) gives the peak of bytes
allocated during the step (weights and input excluded). This module traces the same step with the
engine's own building blocks, and at every new peak classifies the live storages:

- gradients: the `.grad` storages of parameters accumulated so far;
- saved for backward: storages autograd packed for backward (`saved_tensors_hooks`), not yet released;
- temporaries: everything else live (the output, gradients of activations, workspaces).

These three sum to the peak exactly. (Autograd packs an op's saved outputs after the op returns, so
at a peak set inside the forward pass, that op's own output still counts as a temporary.) Parameters (resident, outside the engine's peak) and Adam's
state (exp_avg and exp_avg_sq: 2 x parameter bytes, allocated by the first `optimizer.step()`) are
stated beside it, and the whole step's footprint is their sum.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dstt_profile.engine.devicerules import DeviceRules
from dstt_profile.engine.hooks import ModuleTracker
from dstt_profile.engine.liveness import Liveness
from dstt_profile.engine.recorder import OpRecorder
from dstt_profile.engine.trace import _check_device, _fake_session, build
from dstt_profile.errors import UsageError
from dstt_profile.profiles.dstt.stages import BACKWARD, STAGES
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.units import fmt_bytes

ADAM_STATES = 2  # exp_avg, exp_avg_sq
# An op of the pass by (aten name, module, its occurrence among ops with that name and module, from 1):
# the split trace records a few more ops than the engine's (autograd's detaches), so indices differ.
OpAt = tuple[str, str, int]


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


class _SavedStorages:
    """Storages autograd packs for backward (new storages only; weights and input are external)."""

    def __init__(self) -> None:
        self.refs: dict[int, weakref.ref[Any]] = {}

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self.refs.setdefault(id(storage), weakref.ref(storage))
        return tensor

    @staticmethod
    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def holds(self, key: int, storage: Any) -> bool:
        ref = self.refs.get(key)
        return ref is not None and ref() is storage


class _SplitRecorder(OpRecorder):
    """The engine's recorder, classifying live storages each time the peak rises."""

    def __init__(
        self, *args: Any, model: nn.Module, saved: _SavedStorages, at: OpAt | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        self.saved = saved
        self.split: tuple[int, int, int] = (0, 0, 0)  # gradients, saved, temporaries
        self.at = at  # also split the storages held (real sizes) right after this op
        self._seen = 0
        self.held_split: tuple[int, int, int] | None = None
        self.held_at = -1  # the bytes held right after that op

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        before = self.peak_index
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if self.peak_index != before:
            self.split = self._classify()
        if self.at is not None and self.ops and (self.ops[-1].op, self.ops[-1].module) == self.at[:2]:
            self._seen += 1
            if self._seen == self.at[2]:
                self.held_split = self._classify(held=True)
                self.held_at = self.ops[-1].held_bytes
        return out

    def _grad_storages(self) -> set[int]:
        return {id(p.grad.untyped_storage()) for p in self.model.parameters() if p.grad is not None}

    def _classify(self, held: bool = False) -> tuple[int, int, int]:
        """(gradients, saved for backward, the rest) of the live storages: tensor sizes, or with `held`
        the sizes the allocator holds."""
        grads = self._grad_storages()
        split = [0, 0, 0]
        for key, (ref, tensor_bytes, held_bytes) in list(self.liveness._known.items()):
            storage = ref()
            nbytes = held_bytes if held else tensor_bytes
            if storage is None or nbytes == 0:
                continue
            if key in grads:
                split[0] += nbytes
            elif self.saved.holds(key, storage):
                split[1] += nbytes
            else:
                split[2] += nbytes
        return split[0], split[1], split[2]


def _clear_grads(model: nn.Module) -> None:
    for p in model.parameters():
        p.grad = None


def training_split(run: RunConfig) -> TrainingSplit:
    """Trace one training step of `run` (fake tensors) and split its peak."""
    if run.mode != "train":
        raise UsageError(f"training_split needs mode 'train', got {run.mode!r}")
    if run.real:
        raise UsageError("training_split traces fake tensors only")
    _check_device(run)
    with _fake_session().mode:
        model, frames = build(run)
        _clear_grads(model)
        try:
            return _traced_split(run, model, frames)
        finally:
            _clear_grads(model)


def split_at_op(run: RunConfig, at: OpAt, held_bytes: int) -> tuple[int, int] | None:
    """(gradients, activations saved for backward) the allocator holds right after the op `at` of
    `run`'s training step (fake tensors, storages at their real sizes): the parts of a train-mode
    allocator peak at that op that are gradients and saved activations. None where the op is not
    found holding `held_bytes`, as it did in the engine's trace."""
    if run.mode != "train":
        raise UsageError(f"split_at_op needs mode 'train', got {run.mode!r}")
    _check_device(run)
    with _fake_session().mode:
        model, frames = build(run)
        _clear_grads(model)
        try:
            recorder = _traced_recorder(run, model, frames, at)[0]
        finally:
            _clear_grads(model)
    if recorder.held_split is None or recorder.held_at != held_bytes:
        return None
    grads, saved, _rest = recorder.held_split
    return grads, saved


def _traced_split(run: RunConfig, model: nn.Module, frames: torch.Tensor) -> TrainingSplit:
    recorder, param_bytes, saved_total = _traced_recorder(run, model, frames)
    peak = recorder.ops[recorder.peak_index]
    grads, kept, temps = recorder.split
    return TrainingSplit(
        peak_bytes=recorder.peak_bytes,
        peak_stage=peak.stage,
        peak_op=peak.op,
        peak_index=recorder.peak_index,
        parameters=param_bytes - _buffer_bytes(model, run),
        gradients=grads,
        saved=kept,
        temporaries=temps,
        saved_total=saved_total,
    )


def _traced_recorder(
    run: RunConfig, model: nn.Module, frames: torch.Tensor, at: OpAt | None = None
) -> tuple[_SplitRecorder, int, int]:
    """The split recorder after one training step, the parameter bytes and the bytes saved for
    backward when the forward pass ends."""
    liveness = Liveness(run.element_bytes if run.dtype == "int8" else None)
    param_bytes = liveness.mark_external(list(model.parameters()) + list(model.buffers()))
    liveness.mark_external(frames)
    tracker = ModuleTracker(model, train=True)
    saved = _SavedStorages()
    recorder = _SplitRecorder(
        tracker,
        liveness,
        run.model_config().block_kind,
        first_stage=STAGES[0],
        rules=DeviceRules(run.device),
        model=model,
        saved=saved,
        at=at,
    )
    hooks = torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack)
    try:
        with tracker, torch.enable_grad(), recorder:
            with hooks:
                output = model(frames)
            saved_total = recorder._classify()[1]
            recorder.fixed_stage = BACKWARD
            output.float().mean().backward()
            del output
    finally:
        liveness.close()
    return recorder, param_bytes, saved_total


def _buffer_bytes(model: nn.Module, run: RunConfig) -> int:
    size = run.element_bytes if run.dtype == "int8" else None
    total = 0
    for b in model.buffers():
        per = size if size is not None and b.dtype.is_floating_point else b.element_size()
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
