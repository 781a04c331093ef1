"""Liveness: which storages allocated during the pass are alive, op by op.

Storage-aware: a tensor whose storage is already known (a view, an in-place result, a weight, the
input) allocates nothing. A new storage is counted when an op returns it and released when its last
reference goes (a weak reference's callback), exactly as Python and the allocator see it.
Floating storages can be counted at another element size (the int8 storage what-if).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_leaves


class Liveness:
    """Live bytes of storages created while it watches; weights and inputs marked external count 0."""

    def __init__(self, element_bytes: int | None = None) -> None:
        self.element_bytes = element_bytes
        self.live = 0
        self.freed = 0  # released since the last `take_freed`
        self.closed = False
        self._known: dict[int, tuple[weakref.ref[Any], int]] = {}

    def _bytes(self, tensor: torch.Tensor, storage: Any) -> int:
        nbytes = int(storage.nbytes())
        if self.element_bytes is not None and tensor.dtype.is_floating_point:
            return nbytes * self.element_bytes // tensor.element_size()
        return nbytes

    def _release(self, key: int) -> None:
        entry = self._known.pop(key, None)
        if entry is not None and not self.closed:
            self.live -= entry[1]
            self.freed += entry[1]

    def _releaser(self, key: int) -> Callable[[weakref.ref[Any]], None]:
        return lambda _ref: self._release(key)

    def _watch(self, tensor: torch.Tensor, counted: bool) -> int:
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self._known:
            return 0
        nbytes = self._bytes(tensor, storage) if counted else 0
        ref = weakref.ref(storage, self._releaser(key))
        self._known[key] = (ref, nbytes)
        self.live += nbytes
        return nbytes

    def mark_external(self, values: Any) -> int:
        """Storages that exist before the pass (weights, input): known, never counted. Returns their bytes."""
        total = 0
        for t in tree_leaves(values):
            if isinstance(t, torch.Tensor) and id(t.untyped_storage()) not in self._known:
                self._watch(t, counted=False)
                total += self._bytes(t, t.untyped_storage())
        return total

    def observe(self, values: Any) -> int:
        """Count the new storages among an op's outputs; returns the bytes they hold."""
        return sum(self._watch(t, counted=True) for t in tree_leaves(values) if isinstance(t, torch.Tensor))

    def take_freed(self) -> int:
        freed, self.freed = self.freed, 0
        return freed

    def close(self) -> None:
        self.closed = True
        self._known.clear()
