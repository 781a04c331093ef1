"""The op recorder: a TorchDispatchMode that records every aten op of the pass (fake or real tensors) with
its module, stage, shapes, both memory views, costs and producers, and each convolution's signature."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dstt_profile.engine.allocations import annotate
from dstt_profile.engine.convsig import ConvSignature, signature_of
from dstt_profile.engine.costs import Costs, op_name
from dstt_profile.engine.devicerules import SCALAR_RULE, WRAPPED_NUMBER, DeviceRules
from dstt_profile.engine.hooks import ModuleTracker, tensor_infos, tensors
from dstt_profile.engine.liveness import Liveness
from dstt_profile.engine.producers import Producers
from dstt_profile.engine.storagesplit import StorageSplit
from dstt_profile.engine.subject import CostFunction
from dstt_profile.engine.workspace import CONVOLUTION
from dstt_profile.records.schema import OpRecord

aten = torch.ops.aten

# Metadata queries that some tensor types route through dispatch; they are not operations.
_METADATA = {
    aten.sym_size.default, aten.sym_stride.default, aten.sym_numel.default, aten.sym_storage_offset.default,
    aten.size.default, aten.stride.default, aten.numel.default, aten.dim.default, aten.is_contiguous.default,
    aten.storage_offset.default, torch.ops.prim.device.default, torch.ops.prim.layout.default,
}


@dataclass(frozen=True)
class OpMemory:
    """An op's allocator view beyond its new storages (which the liveness counts)."""

    lingering: int  # held around the op and released right after it (wrapped Python numbers)
    transient: int  # held inside the op on top of what it returns
    rules: str  # names of the rules applied
    rule_params: tuple[int, ...]  # what the temporary rule was computed from
    rule_transient: int  # the temporary rule's part of `transient`


class OpRecorder(TorchDispatchMode):
    """Records ops while active. Read `ops`, `unsupported`, `convolutions`, `peak_*` after the pass."""

    def __init__(self, tracker: ModuleTracker, liveness: Liveness, stage_of: Callable[[str], str | None],
                 first_stage: str, rules: DeviceRules | None = None, real: bool = False,
                 annotate_prefix: str = "", costs: Mapping[str, CostFunction] | None = None,
                 split: StorageSplit | None = None) -> None:
        super().__init__()
        self.tracker = tracker
        self.liveness = liveness
        self.stage_of = stage_of
        self.rules = rules if rules is not None else DeviceRules("cpu")
        self.real = real
        self.annotate_prefix = annotate_prefix
        self.costs = Costs(costs)
        self.split = split
        self.producers = Producers()
        self.ops: list[OpRecord] = []
        self.unsupported: Counter[str] = Counter()
        self.convolutions: dict[int, tuple[ConvSignature, int]] = {}  # op index -> (signature, batch)
        self.stage = first_stage
        self.tensor_peak_bytes = 0
        self.tensor_peak_index = -1
        self.fixed_stage: str | None = None  # set for the backward pass, where no module runs
        self._stage_cache: dict[str, str | None] = {}

    def _stage_for(self, module: str) -> str:
        if self.fixed_stage is not None:
            return self.fixed_stage
        if module not in self._stage_cache:
            self._stage_cache[module] = self.stage_of(module)
        stage = self._stage_cache[module]
        if stage is not None:
            self.stage = stage
        return self.stage

    def _allocator_view(self, func: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                        out: Any) -> OpMemory:
        """What the op holds beyond its new storages, which are counted in the liveness at their real size."""
        applied: list[str] = []
        storage = None if self.real else self.rules.storage_rule(name)
        held_before = self.liveness.held
        self.liveness.observe(out, partial(storage.bytes, args, kwargs) if storage is not None else None)
        if storage is not None and self.liveness.held != held_before:
            applied.append(storage.name)
        transient = lingering = converted = 0
        params: tuple[int, ...] = ()
        temporary = self.rules.temporary_rule(name)
        numbers = any(type(a) in (int, float) for a in args)
        first = next(iter(tensors(out)), None) if temporary is not None or numbers else None
        if temporary is not None:
            params = temporary.params(args, kwargs, out)
            raw = temporary.bytes(params)
            transient = self.liveness.scaled(first, raw) if first is not None else raw
            if transient:
                applied.append(temporary.name)
        rule_transient = transient
        if numbers:
            size = first.element_size() if first is not None else 8
            lingering, converted = self.rules.scalar_operands(func._schema, args, size)
        if lingering:
            transient += converted
            count = lingering // WRAPPED_NUMBER
            applied.append(SCALAR_RULE if count == 1 else f"{SCALAR_RULE}*{count}")
        return OpMemory(lingering, transient, ",".join(applied), params if rule_transient else (), rule_transient)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        index = len(self.ops)
        if func in _METADATA:
            return func(*args, **kwargs)
        inputs = self.producers.inputs(args, kwargs)
        with annotate(f"{self.annotate_prefix}{index}") if self.annotate_prefix else nullcontext():
            out = func(*args, **kwargs)
        self.producers.wrote(func, index, args, kwargs, out)
        name = op_name(func)
        flops, other, supported = self.costs(func, name, args, kwargs, out)
        if not supported:
            self.unsupported[name] += 1
        freed = self.liveness.take_freed()
        live_before = self.liveness.live
        memory = self._allocator_view(func, name, args, kwargs, out)
        live = self.liveness.live
        if name == CONVOLUTION:
            self.convolutions[index] = signature_of(args, kwargs)
        module = self.tracker.current
        if live > self.tensor_peak_bytes:
            self.tensor_peak_bytes, self.tensor_peak_index = live, index
        self.ops.append(OpRecord(
            index, name, module, self._stage_for(module), tensor_infos(out), live - live_before, freed, live,
            flops, other, held_bytes=self.liveness.held + memory.lingering, transient_bytes=memory.transient,
            rules=memory.rules, rule_params=memory.rule_params, rule_transient=memory.rule_transient,
            inputs=inputs))
        for frame in self.tracker.stack:
            call = self.tracker.calls[frame]
            call.flops += flops
            call.other_flops += other
            call.alloc_bytes += live - live_before
            if call.first_op < 0:
                call.first_op = index
            call.last_op = index
        if self.split is not None:
            self.split.after_op(self.tensor_peak_index, name, module, self.ops[-1].held_bytes)
        return out
