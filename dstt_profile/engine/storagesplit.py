"""What holds the bytes of a training step (`trace(..., split=StorageSplit())`): gradients, activations
saved for backward (noted by autograd's saved-tensor hooks), the rest; the three sum to the live bytes."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from dstt_profile.engine.liveness import Liveness

# An op of the pass by (aten name, module, its occurrence among ops with that name and module, from 1):
# a split trace records a few more ops than a plain one (autograd's detaches), so indices differ.
OpAt = tuple[str, str, int]


class StorageSplit:
    """Read after the trace: `split` (at the tensor peak), `saved_total` (at the end of the forward pass),
    `held_split` and `held_at` (right after the op `at`, allocator view; None and -1 where not met)."""

    def __init__(self, at: OpAt | None = None) -> None:
        self.at = at
        self.split: tuple[int, int, int] = (0, 0, 0)  # gradients, saved, the rest
        self.saved_total = 0
        self.held_split: tuple[int, int, int] | None = None
        self.held_at = -1
        self._saved: dict[int, weakref.ref[Any]] = {}  # storages autograd packs for backward
        self._model: nn.Module | None = None
        self._liveness: Liveness | None = None
        self._peak_index = -1
        self._seen = 0

    def attach(self, model: nn.Module, liveness: Liveness) -> None:
        self._model, self._liveness = model, liveness

    def saved_hooks(self) -> Any:
        """The context that notes what autograd saves for backward (around the forward pass only)."""
        return torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self._saved.setdefault(id(storage), weakref.ref(storage))
        return tensor

    def forward_done(self) -> None:
        self.saved_total = self.classify()[1]

    def after_op(self, peak_index: int, op: str, module: str, held_bytes: int) -> None:
        """Called by the recorder after each op with its tensor-peak index so far."""
        if peak_index != self._peak_index:
            self._peak_index = peak_index
            self.split = self.classify()
        if self.at is not None and (op, module) == self.at[:2]:
            self._seen += 1
            if self._seen == self.at[2]:
                self.held_split = self.classify(held=True)
                self.held_at = held_bytes

    def classify(self, held: bool = False) -> tuple[int, int, int]:
        """(parameters' gradients, saved for backward, the rest) of the live storages (`held`: as held)."""
        assert self._model is not None and self._liveness is not None, "attach() first"
        grads = {id(p.grad.untyped_storage()) for p in self._model.parameters() if p.grad is not None}
        split = [0, 0, 0]
        for key, storage, tensor_bytes, held_bytes in self._liveness.storages():
            ref = self._saved.get(key)
            slot = 0 if key in grads else 1 if ref is not None and ref() is storage else 2
            split[slot] += held_bytes if held else tensor_bytes
        return split[0], split[1], split[2]
