"""Liveness: the bytes of the storages allocated during the pass that are alive, op by op, in the tensor
view (`live`) and the allocator view (`held`); docs/memory.md ("Lifetimes")."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch

from dstt_profile.engine.hooks import tensors

if TYPE_CHECKING:
    from dstt_profile.records.runconfig import RunConfig

HeldBytes = Callable[[torch.Tensor], int | None]  # real storage bytes of a new output, None: its own size


def needed_bytes(tensor: torch.Tensor) -> int:
    """Bytes of storage the tensor's shape, strides and offset reach (what a fake tensor's storage holds)."""
    if tensor.numel() == 0:
        return 0
    span = 1 + sum((int(size) - 1) * abs(int(stride)) for size, stride in zip(tensor.shape, tensor.stride()))
    return (int(tensor.storage_offset()) + span) * tensor.element_size()


def what_if_element(run: RunConfig) -> int | None:
    """The element size floating storages are counted at in `run` (the int8 what-if), else None."""
    return run.element_bytes if run.dtype == "int8" else None


def what_if_bytes(nbytes: int, dtype: torch.dtype, element_bytes: int | None) -> int:
    """`nbytes` of a `dtype` tensor at `element_bytes` per element where that is set and `dtype` floating."""
    if element_bytes is not None and dtype.is_floating_point:
        return nbytes * element_bytes // dtype.itemsize
    return nbytes


class Liveness:
    """Live bytes of storages created while it watches; weights and inputs marked external count 0."""

    def __init__(self, element_bytes: int | None = None) -> None:
        self.element_bytes = element_bytes
        self.live = 0  # tensor view
        self.held = 0  # allocator view: on a real run the storage's own size, on fake tensors a device rule's
        self.freed = 0  # tensor view, released since the last `take_freed`
        self.closed = False
        self._known: dict[int, tuple[weakref.ref[Any], int, int]] = {}

    def scaled(self, tensor: torch.Tensor, nbytes: int) -> int:
        """`nbytes` of `tensor`'s dtype at the what-if element size (unchanged when there is none)."""
        return what_if_bytes(nbytes, tensor.dtype, self.element_bytes)

    def _release(self, key: int) -> None:
        entry = self._known.pop(key, None)
        if entry is not None and not self.closed:
            self.live -= entry[1]
            self.held -= entry[2]
            self.freed += entry[1]

    def _watch(self, tensor: torch.Tensor, counted: bool, held_bytes: HeldBytes | None = None) -> tuple[int, int]:
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self._known:
            return 0, 0
        tensor_bytes = held = 0
        if counted:
            own = int(storage.nbytes())
            tensor_bytes = self.scaled(tensor, min(own, needed_bytes(tensor)))
            rule = held_bytes(tensor) if held_bytes is not None else None
            held = self.scaled(tensor, own if rule is None else rule)
        self._known[key] = (weakref.ref(storage, lambda _ref: self._release(key)), tensor_bytes, held)
        self.live += tensor_bytes
        self.held += held
        return tensor_bytes, held

    def mark_external(self, values: Any) -> int:
        """Storages that exist before the pass (weights, input): known, never counted. Returns their bytes."""
        total = 0
        for t in tensors(values):
            if id(t.untyped_storage()) not in self._known:
                self._watch(t, counted=False)
                total += self.scaled(t, int(t.untyped_storage().nbytes()))
        return total

    def observe(self, values: Any, held_bytes: HeldBytes | None = None) -> int:
        """Count an op's new output storages (`held_bytes`: a device rule's real size); tensor-view bytes."""
        return sum(self._watch(t, counted=True, held_bytes=held_bytes)[0] for t in tensors(values))

    def storages(self) -> Iterator[tuple[int, Any, int, int]]:
        """(key, storage, tensor-view bytes, allocator-view bytes) of every storage still alive."""
        for key, (ref, tensor_bytes, held) in list(self._known.items()):
            storage = ref()
            if storage is not None:
                yield key, storage, tensor_bytes, held

    def take_freed(self) -> int:
        freed, self.freed = self.freed, 0
        return freed

    def close(self) -> None:
        self.closed = True
        self._known.clear()
