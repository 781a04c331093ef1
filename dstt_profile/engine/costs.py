"""Per-op cost functions.

Two figures, kept apart so both conventions can be read:

* `flops`: convolution, linear, matmul and attention ops, by torch's own registered formulas
  (`torch.utils.flop_counter.flop_registry`, 2 FLOPs per multiply-add), so they equal what
  `FlopCounterMode` reports. The CPU flash-attention kernel, which torch's registry does not list,
  is costed with torch's formula for the other scaled-dot-product-attention kernels.
* `other_flops`: the rest of the arithmetic, by this toolkit's stated costs per output element
  (`ELEMENTWISE`): 1 for an elementwise op or a reduction input, 5 for softmax (max, subtract, exp,
  sum, divide), 8 for layer norm (mean, subtract, square, sum, rsqrt-scale, scale, shift) and
  7 for bilinear upsampling (4 weights, 4 multiplies, 3 adds, counted 7), and 1 per input element for
  col2im (Fold: each patch element added once).

Ops that only move or view data cost nothing (`MOVEMENT`). Any other op is *unsupported*: listed by
name and count, never silently zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import flop_registry

aten = torch.ops.aten

FlopFormula = Callable[..., int]

MATMUL_FORMULAS: dict[Any, FlopFormula] = dict(flop_registry)
# Torch's registry covers the CUDA attention kernels; the CPU flash kernel takes the same q, k, v.
MATMUL_FORMULAS[aten._scaled_dot_product_flash_attention_for_cpu] = flop_registry[
    aten._scaled_dot_product_flash_attention
]

# Cost per output element (per input element for reductions and col2im, see `_per_input`).
ELEMENTWISE: dict[str, int] = {
    "aten.add": 1,
    "aten.add_": 1,
    "aten.sub": 1,
    "aten.mul": 1,
    "aten.mul_": 1,
    "aten.div": 1,
    "aten.div_": 1,
    "aten.relu": 1,
    "aten.relu_": 1,
    "aten.threshold_backward": 1,
    "aten.leaky_relu": 1,
    "aten.leaky_relu_": 1,
    "aten.leaky_relu_backward": 1,
    "aten.tanh": 1,
    "aten.tanh_backward": 2,
    "aten.gelu": 8,
    "aten.neg": 1,
    "aten.exp": 1,
    "aten.sqrt": 1,
    "aten.rsqrt": 1,
    "aten.pow": 1,
    "aten.mean": 1,
    "aten.sum": 1,
    "aten.native_dropout": 2,
    "aten._softmax": 5,
    "aten._safe_softmax": 5,
    "aten._softmax_backward_data": 3,
    "aten.native_layer_norm": 8,
    "aten.native_layer_norm_backward": 10,
    "aten.upsample_bilinear2d": 7,
    "aten.upsample_bilinear2d_backward": 7,
    "aten.col2im": 1,
    "aten.im2col": 0,
    "aten.fill_": 0,
    "aten.zero_": 0,
    "aten.ones_like": 0,
    "aten.zeros_like": 0,
    "aten.full": 0,
    "aten.zeros": 0,
    "aten.ones": 0,
    "aten.bernoulli_": 1,
}
_PER_INPUT = {"aten.mean", "aten.sum", "aten.col2im"}

MOVEMENT: frozenset[str] = frozenset(
    {
        "aten.view",
        "aten._unsafe_view",
        "aten.reshape",
        "aten.permute",
        "aten.transpose",
        "aten.t",
        "aten.expand",
        "aten.clone",
        "aten.contiguous",
        "aten.cat",
        "aten.copy_",
        "aten._to_copy",
        "aten.detach",
        "aten.alias",
        "aten.slice",
        "aten.select",
        "aten.squeeze",
        "aten.unsqueeze",
        "aten.split",
        "aten.split_with_sizes",
        "aten.unbind",
        "aten.new_empty",
        "aten.new_empty_strided",
        "aten.empty",
        "aten.empty_like",
        "aten.empty_strided",
        "aten.as_strided",
        "aten.lift_fresh",
        "aten.lift_fresh_copy",
        "aten._reshape_alias",
        "aten.unfold",
        "aten.flatten",
        "aten.sym_size",
        "aten.sym_numel",
        "aten.is_same_size",
        "aten._local_scalar_dense",
        "aten.scalar_tensor",
        "aten._fused_sdp_choice",
        "aten.t_",
    }
)


def op_name(func: Any) -> str:
    """'aten.addmm' for the overload aten.addmm.default: torch's name, as FlopCounterMode prints it."""
    return str(getattr(func, "overloadpacket", func))


def _first_numel(value: Any) -> int:
    leaves = [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]
    return leaves[0].numel() if leaves else 0


class Costs:
    """Costs one op: `(flops, other_flops, supported)`. `extra` maps torch op names to a model's own
    cost functions ((args, kwargs, out) -> (flops, other_flops)), consulted first."""

    def __init__(self, extra: Mapping[str, Callable[[tuple[Any, ...], dict[str, Any], Any], tuple[int, int]]] | None = None) -> None:
        self.extra = dict(extra or {})

    def __call__(self, func: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int, bool]:
        own = self.extra.get(name)
        if own is not None:
            flops, other = own(args, kwargs, out)
            return int(flops), int(other), True
        packet = getattr(func, "overloadpacket", None)
        formula = MATMUL_FORMULAS.get(packet)
        if formula is not None:
            return int(formula(*args, **kwargs, out_val=out)), 0, True
        per = ELEMENTWISE.get(name)
        if per is not None:
            count = _first_numel(args) if name in _PER_INPUT else _first_numel(out)
            return 0, per * count, True
        return 0, 0, name in MOVEMENT


