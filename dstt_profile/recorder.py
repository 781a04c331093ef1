"""The op recorder: a TorchDispatchMode that sees every aten op of the pass.

For each op it records the owning module (from the `ModuleTracker`), the stage (from the stage map),
output shapes, the bytes its new storages hold, and its costs; liveness gives live bytes after it.
It works the same on fake tensors (FakeTensorMode sits below it) and on real ones.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dstt_profile.costs import Costs, op_name
from dstt_profile.hooks import ModuleTracker, tensor_infos
from dstt_profile.liveness import Liveness
from dstt_profile.records import OpRecord
from dstt_profile.stages import BlockKind, stage_of

aten = torch.ops.aten

# Metadata queries that some tensor types route through dispatch; they are not operations.
_METADATA = {
    aten.sym_size.default,
    aten.sym_stride.default,
    aten.sym_numel.default,
    aten.sym_storage_offset.default,
    aten.size.default,
    aten.stride.default,
    aten.numel.default,
    aten.dim.default,
    aten.is_contiguous.default,
    aten.storage_offset.default,
    torch.ops.prim.device.default,
    torch.ops.prim.layout.default,
}


class OpRecorder(TorchDispatchMode):
    """Records ops while active. Read `ops`, `unsupported`, `peak_*` after the pass."""

    def __init__(self, tracker: ModuleTracker, liveness: Liveness, block_kind: BlockKind, first_stage: str) -> None:
        super().__init__()
        self.tracker = tracker
        self.liveness = liveness
        self.block_kind = block_kind
        self.costs = Costs()
        self.ops: list[OpRecord] = []
        self.unsupported: Counter[str] = Counter()
        self.stage = first_stage
        self.peak_bytes = 0
        self.peak_index = -1
        self.fixed_stage: str | None = None  # set for the backward pass, where no module runs
        self._stage_cache: dict[str, str | None] = {}

    def _stage_for(self, module: str) -> str:
        if self.fixed_stage is not None:
            return self.fixed_stage
        if module not in self._stage_cache:
            self._stage_cache[module] = stage_of(module, self.block_kind)
        stage = self._stage_cache[module]
        if stage is not None:
            self.stage = stage
        return self.stage

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _METADATA:
            return out
        name = op_name(func)
        flops, other, supported = self.costs(func, name, args, kwargs, out)
        if not supported:
            self.unsupported[name] += 1
        freed = self.liveness.take_freed()
        alloc = self.liveness.observe(out)
        live = self.liveness.live
        index = len(self.ops)
        module = self.tracker.current
        stage = self._stage_for(module)
        if live > self.peak_bytes:
            self.peak_bytes, self.peak_index = live, index
        self.ops.append(OpRecord(index, name, module, stage, tensor_infos(out), alloc, freed, live, flops, other))
        for frame in self.tracker.stack:
            call = self.tracker.calls[frame]
            call.flops += flops
            call.other_flops += other
            call.alloc_bytes += alloc
            if call.first_op < 0:
                call.first_op = index
            call.last_op = index
        return out
