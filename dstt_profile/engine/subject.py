"""What the engine needs of a model: the `Subject` of a trace (the engine imports no profile)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# An extra per-op cost: (args, kwargs, out) -> (FLOPs, other FLOPs), 2 FLOPs per multiply-add.
CostFunction = Callable[[tuple[Any, ...], dict[str, Any], Any], tuple[int, int]]


@dataclass(frozen=True)
class InputSpec:
    """The clip a pass runs on: `batch` clips of `frames` frames of `height` x `width` pixels."""

    batch: int
    frames: int
    height: int
    width: int
    dtype: torch.dtype
    device: str
    real: bool  # real tensors get values; fake ones only shapes


@dataclass(frozen=True)
class ForwardInputs:
    """What the forward is called with: `model(*args, **kwargs)`."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def call(self, model: nn.Module) -> Any:
        return model(*self.args, **self.kwargs)

    def positional(self, model: nn.Module) -> tuple[Any, ...]:
        """The arguments all positional, keywords bound to the forward's parameters (for tools that take
        a tuple, such as fvcore); TypeError where a keyword cannot be given by position."""
        if not self.kwargs:
            return self.args
        bound = inspect.signature(model.forward).bind(*self.args, **self.kwargs)
        if bound.kwargs:
            raise TypeError(f"the forward's keyword-only arguments {', '.join(bound.kwargs)} cannot be passed by position")
        return tuple(bound.args)

    def values(self) -> tuple[Any, ...]:
        """Every argument, positional then keyword (for walking the tensors among them)."""
        return (*self.args, *self.kwargs.values())


def clip_input(spec: InputSpec) -> ForwardInputs:
    """One clip (batch, t, 3, H, W), uniform in [-1, 1] on real runs: the released DSTT's convention."""
    shape = (spec.batch, spec.frames, 3, spec.height, spec.width)
    frames = torch.empty(shape, device=spec.device, dtype=spec.dtype)
    if spec.real:
        frames.uniform_(-1.0, 1.0)
    return ForwardInputs((frames,))


@dataclass(frozen=True, eq=False)
class Subject:
    """A model as the engine sees it. `build(real)` returns the module: with `real=False` it is called under
    `torch.device("meta")` and need not initialise weights; with `real=True` on the CPU, and should.
    `stage_of` names a module's stage (dotted name, "" the root), or None for glue modules whose ops belong
    to the running stage (`first_stage` before any ran). `key` identifies the built module for reuse across
    traces; `inputs` makes what the forward is called with (`clip_input`: the clip alone); `costs` adds cost functions by torch name (`aten.<name>`); `program` is what `sys.argv` holds
    while the forward runs (contain.py): the user's file path or module name, '' for the tool's argv[0]."""

    key: Hashable
    build: Callable[[bool], nn.Module]
    stage_of: Callable[[str], str | None]
    first_stage: str
    inputs: Callable[[InputSpec], ForwardInputs] = clip_input
    costs: Mapping[str, CostFunction] = field(default_factory=dict)
    program: str = ""
    tail_stage: str | None = None  # the stage of the ops the root runs itself after its last submodule returned
