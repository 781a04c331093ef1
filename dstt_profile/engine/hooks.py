"""Forward hooks on every module (`ModuleTracker`), and the small readers of tensors the engine shares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_leaves
from torch.utils.hooks import RemovableHandle

from dstt_profile.records.schema import TensorInfo

NONE_DTYPE = "none"  # a None where a tensor output could be (the attention matrix of a fused kernel)


def tensors(value: Any) -> list[torch.Tensor]:
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def ints(values: Iterable[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def dtype_name(dtype: torch.dtype) -> str:  # 'float32' for torch.float32
    return str(dtype).removeprefix("torch.")


def tensor_infos(value: Any) -> tuple[TensorInfo, ...]:
    """Shapes and dtypes of the tensors in a (nested) value; a top-level None keeps its place."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    out: list[TensorInfo] = []
    for item in items:
        if item is None:
            out.append(TensorInfo((), NONE_DTYPE))
        out.extend(TensorInfo(ints(t.shape), dtype_name(t.dtype)) for t in tensors(item))
    return tuple(out)


@dataclass
class ModuleCall:
    """What is known of one module while the pass runs (mutable; frozen into a ModuleRecord later)."""

    name: str
    type: str
    depth: int
    order: int
    params: int
    calls: int = 0
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    flops: int = 0
    other_flops: int = 0
    alloc_bytes: int = 0
    first_op: int = -1
    last_op: int = -1
    done: bool = False
    children: list[str] = field(default_factory=list)


class ModuleTracker:
    """Tracks which module runs, for one model, inside a `with` block (which sets train/eval mode on
    enter, and removes the hooks and restores every module's mode on exit)."""

    def __init__(self, model: nn.Module, train: bool = False) -> None:
        self.model = model
        self.train = train
        self.names = {id(m): name for name, m in model.named_modules()}
        self.stack: list[str] = []
        self.calls: dict[str, ModuleCall] = {}
        self.last_entered = ""
        self._handles: list[RemovableHandle] = []
        self._modes: list[tuple[nn.Module, bool]] = []

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else ""

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        name = self.names[id(module)]
        call = self.calls.get(name)
        if call is None:
            params = sum(p.numel() for p in module.parameters())
            call = ModuleCall(name, type(module).__name__, len(self.stack), len(self.calls), params)
            call.inputs = tensor_infos(args)
            self.calls[name] = call
        call.calls += 1
        self.stack.append(name)
        self.last_entered = name

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        name = self.names[id(module)]
        call = self.calls[name]
        if not call.done:
            call.outputs = tensor_infos(output)
            call.done = True
        if self.stack and self.stack[-1] == name:
            self.stack.pop()

    def __enter__(self) -> ModuleTracker:
        self._modes = [(m, m.training) for m in self.model.modules()]
        self.model.train(self.train)
        for module in self.model.modules():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, mode in self._modes:
            module.training = mode
        self._modes.clear()

    def failing_module(self) -> str:
        """The module running when a forward failed (innermost on the stack), else the last entered."""
        return self.stack[-1] if self.stack else self.last_entered
