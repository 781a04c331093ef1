"""The figures of one pass as records (docs/json.md). Units: bytes at the run's dtype; FLOPs 2 per
multiply-add (torch's FlopCounterMode); fvcore's figures are multiply-adds and say so."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# The stage of every backward op (train mode); a model's own stage of that name is renamed (profiles/base.py).
BACKWARD = "backward"
# The stage of the ops a model's root module runs itself (module ""), where its profile has one (the generic
# profile's); no Python attribute can be named so, and a stage map's stage of that name is renamed likewise.
ROOT_STAGE = "(root)"


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class OpInput:
    """One tensor an op reads; `producer` last wrote its storage (views looked through, -1: from before the pass)."""

    producer: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class OpRecord:
    """One aten op of the traced pass, in execution order."""

    index: int
    op: str  # torch's name, aten.<name>
    module: str  # innermost module running it, "" the root
    stage: str
    outputs: tuple[TensorInfo, ...]
    alloc_bytes: int  # bytes of new storage this op's outputs hold (views and in-place ops: 0)
    freed_bytes: int  # bytes released since the previous op
    live_bytes: int  # bytes held by tensors allocated during the pass, right after this op
    flops: int  # conv / linear / matmul / attention FLOPs, torch's formulas (2 per multiply-add)
    other_flops: int  # elementwise, softmax, norm: this toolkit's stated costs (costs.py)
    held_bytes: int = 0  # allocator view (docs/memory.md): storages at their real sizes, right after this op
    transient_bytes: int = 0  # held inside the op on top of that at its highest (workspaces, temporaries)
    rules: str = ""  # the device rules and calibrations that changed this op's figures, comma-separated
    rule_params: tuple[int, ...] = ()  # what the op's temporary rule was computed from (devicerules.py)
    rule_transient: int = 0  # the part of `transient_bytes` that rule gives
    inputs: tuple[OpInput, ...] = ()  # tensor inputs in argument order, each with the op that produced it

    @property
    def producers(self) -> tuple[int, ...]:
        """The ops whose data this op reads, once each in argument order (-1 left out)."""
        return tuple(dict.fromkeys(i.producer for i in self.inputs if i.producer >= 0))

    @property
    def allocator_bytes(self) -> int:
        """The most the allocator holds while this op runs (held + transient)."""
        return self.held_bytes + self.transient_bytes


@dataclass(frozen=True)
class ModuleRecord:
    """One module's first call. FLOPs and allocations include its submodules."""

    name: str  # fully qualified, "" the root
    type: str
    stage: str
    depth: int
    order: int  # position in call order
    calls: int
    params: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    flops: int
    other_flops: int
    alloc_bytes: int
    first_op: int
    last_op: int


@dataclass(frozen=True)
class StageRecord:
    """A stage: its headline tensor (per instance), FLOPs (all instances) and its formula check."""

    name: str
    shape: tuple[int, ...]
    elements: int
    bytes: int
    flops: int
    other_flops: int
    instances: int
    share: float  # of total FLOPs
    alloc_bytes: int  # all storage allocated by the stage's ops, all instances
    peak_bytes: int  # the most the allocator holds while the stage runs (allocator view), bytes
    headline: str  # what the headline tensor is
    module: str  # where it was read (first instance)
    materialised: bool  # False where a fused kernel never builds the usual headline tensor
    formula: str  # general, in docs/architecture.md's symbols
    formula_substituted: str  # the run's constants substituted
    formula_elements: int
    match: bool | None  # None: no formula to check (formula "")


class MemoryView(StrEnum):
    """Which peak a figure is: what the device's allocator holds, or the bytes live tensors need (docs/memory.md)."""

    ALLOCATOR = "allocator"
    TENSORS = "tensors"

    @property
    def label(self) -> str:
        if self is MemoryView.ALLOCATOR:
            return "allocator peak"
        return "tensor peak (tensors only: no workspaces, storages at tensor size)"


@dataclass(frozen=True)
class PeakRecord:
    """The peak of the pass in one memory view, above the weights and input held before it."""

    bytes: int
    stage: str
    op: str
    op_index: int  # -1: the pass allocates nothing
    module: str
    transient_bytes: int = 0  # allocator view: held inside the peak op (workspace, temporaries), part of `bytes`
    basis: str = ""  # allocator view: what it includes for this run's device, in words

    @classmethod
    def at_op(cls, ops: Sequence[OpRecord], index: int, held: int, transient: int = 0, basis: str = "") -> PeakRecord:
        op = ops[index] if index >= 0 else None
        return cls(held, op.stage if op else "", op.op if op else "", index, op.module if op else "", transient, basis)


@dataclass(frozen=True)
class FlopsRecord:
    total: int
    by_op: dict[str, int]
    other_total: int
    other_by_op: dict[str, int]
    unsupported: dict[str, int]  # ops with no cost function: name -> calls


@dataclass(frozen=True)
class CheckRecord:
    """A measured figure against its analytic formula, exactly (integers)."""

    name: str
    formula: str
    formula_substituted: str
    expected: int
    measured: int
    unit: str

    @property
    def passed(self) -> bool:
        return self.expected == self.measured


@dataclass(frozen=True)
class FvcoreRecord:
    """fvcore's independent count on real tensors, in multiply-adds."""

    macs_total: int
    macs_by_op: dict[str, int]
    macs_by_module: dict[str, int]
    activations_total: int
    unsupported: dict[str, int]
    seconds: float


# Op family -> (our aten ops, fvcore's operator names): what `RunRecord.fvcore_families` reconciles.
FVCORE_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "convolution": (("aten.convolution",), ("conv", "_convolution")),
    "linear": (("aten.addmm", "aten.mm"), ("linear", "addmm", "mm")),
    "matmul / attention": (("aten.bmm", "aten._scaled_dot_product_flash_attention_for_cpu",
                            "aten._scaled_dot_product_flash_attention", "aten._scaled_dot_product_efficient_attention"),
                           ("matmul", "bmm", "einsum", "scaled_dot_product_attention")),
}


@dataclass(frozen=True)
class MeasuredRecord:
    """A real run beside the fake-tensor prediction of the same configuration (`--measure`). The measured
    peak is the allocator's net allocation peak of the forward pass; errors are (predicted - measured) / measured, in %."""

    device: str
    method: str  # how the measured peak was read
    measured_peak_bytes: int
    predicted_tensor_peak_bytes: int  # tensor peak, fake tensors
    predicted_allocator_peak_bytes: int  # storages at real size + op temporaries + kernel workspaces
    allocator_peak_op: str
    allocator_peak_module: str
    allocator_peak_stage: str
    workspace_at_peak_bytes: int
    peak_error_pct: float  # allocator prediction vs measured
    tensor_peak_error_pct: float  # tensor peak vs measured
    real_tensor_peak_bytes: int  # the op recorder's tensor peak on the real run (equals the prediction)
    headline_elements: dict[str, int]  # measured on the real run, per stage
    headline_error_pct: dict[str, float]
    workspaces: dict[str, int]  # convolution module -> workspace bytes at this run's batch
    forward_seconds: float  # median over `repeats` timed runs after a warm-up
    stage_seconds: dict[str, float]  # median per stage (time inside the stage's modules)
    repeats: int
    rss_before_bytes: int  # process RSS before the real runs
    rss_peak_bytes: int  # the process's peak RSS after them
