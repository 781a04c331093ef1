"""What the engine needs of a model, and nothing more: the `Subject` of a trace (where subjects come from
is the profiles' business; the engine imports none of them)."""

from __future__ import annotations

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


def clip_input(spec: InputSpec) -> tuple[torch.Tensor, ...]:
    """One clip tensor (batch, t, 3, H, W), values uniform in [-1, 1] on real runs: the calling
    convention of the released DSTT generator, and the default for any model."""
    shape = (spec.batch, spec.frames, 3, spec.height, spec.width)
    frames = torch.empty(shape, device=spec.device, dtype=spec.dtype)
    if spec.real:
        frames.uniform_(-1.0, 1.0)
    return (frames,)


@dataclass(frozen=True, eq=False)
class Subject:
    """A model as the engine sees it.

    `build(real)` returns the module: with `real=False` it is called under `torch.device("meta")` and
    need not initialise weights (the engine gives the parameters fake storage); with `real=True` it is
    called on the CPU and should initialise them. `inputs` makes the positional arguments of `forward`.
    `stage_of` names the stage of a module (dotted name, "" the root), or None for glue modules whose
    ops belong to the stage that was running; ops before any stage ran belong to `first_stage`.
    `key` identifies the built module for reuse across traces (with the device and dtype).
    `costs` adds cost functions for ops by torch name (`aten.<name>`), beside the engine's own.
    `program` is what `sys.argv` holds while the forward runs (contain.py): the user's file path or
    module name, '' for the tool's own argv[0]."""

    key: Hashable
    build: Callable[[bool], nn.Module]
    stage_of: Callable[[str], str | None]
    first_stage: str
    inputs: Callable[[InputSpec], tuple[torch.Tensor, ...]] = clip_input
    costs: Mapping[str, CostFunction] = field(default_factory=dict)
    program: str = ""
