"""Data flow: which op last wrote the storage each op reads (its new outputs and the arguments its schema
marks as written); a view writes nothing, so views never break the chain."""

from __future__ import annotations

import weakref
from typing import Any

import torch

from dstt_profile.engine.hooks import dtype_name, ints, tensors
from dstt_profile.records.schema import OpInput

EXTERNAL = -1  # no op of the pass produced it: a parameter, a buffer or the model input


class Producers:
    """The last writer of every storage written during the pass, op by op."""

    def __init__(self) -> None:
        self._writers: dict[int, tuple[weakref.ref[Any], int]] = {}

    def producer(self, tensor: torch.Tensor) -> int:
        """Index of the op that last wrote `tensor`'s storage, `EXTERNAL` when none did."""
        storage = tensor.untyped_storage()
        entry = self._writers.get(id(storage))
        if entry is None or entry[0]() is not storage:
            return EXTERNAL
        return entry[1]

    def inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[OpInput, ...]:
        """Every tensor among an op's arguments, in order, with its producer; read before the op runs."""
        found = tensors((args, kwargs))
        return tuple(OpInput(self.producer(t), ints(t.shape), dtype_name(t.dtype)) for t in found)

    def _write(self, tensor: torch.Tensor, index: int) -> None:
        storage = tensor.untyped_storage()
        self._writers[id(storage)] = (weakref.ref(storage), index)

    def wrote(self, func: Any, index: int, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        """Note what op `index` wrote: its new output storages, and arguments its schema marks as written."""
        read = {id(t.untyped_storage()) for t in tensors((args, kwargs))}
        for t in tensors(out):
            if id(t.untyped_storage()) not in read:
                self._write(t, index)
        schema = func._schema
        if not schema.is_mutable:
            return
        for position, argument in enumerate(schema.arguments):
            info = argument.alias_info
            if info is None or not info.is_write:
                continue
            value = args[position] if position < len(args) and not argument.kwarg_only else kwargs.get(argument.name)
            for t in tensors(value):
                self._write(t, index)
