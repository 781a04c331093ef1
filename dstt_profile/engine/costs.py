"""Per-op costs: `flops` by torch's formulas (2 per multiply-add, as `FlopCounterMode`), `other_flops` at a
stated cost per element (`ELEMENTWISE`); any op not in `MOVEMENT` is else *unsupported*, never zero."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils.flop_counter import flop_registry

from dstt_profile.engine.hooks import tensors
from dstt_profile.engine.subject import CostFunction

aten = torch.ops.aten

FlopFormula = Callable[..., int]

MATMUL_FORMULAS: dict[Any, FlopFormula] = dict(flop_registry)
# Torch's registry covers the CUDA attention kernels; the CPU flash kernel takes the same q, k, v.
_FLASH = aten._scaled_dot_product_flash_attention
MATMUL_FORMULAS[aten._scaled_dot_product_flash_attention_for_cpu] = flop_registry[_FLASH]

# Cost per output element (per input element for reductions and col2im, see `_PER_INPUT`).
ELEMENTWISE: dict[str, int] = {f"aten.{name}": cost for cost, names in (
        (1, "add add_ sub mul mul_ div div_ relu relu_ threshold_backward leaky_relu leaky_relu_ "
            "leaky_relu_backward tanh neg exp sqrt rsqrt pow mean sum bernoulli_"),
        (1, "col2im"),  # Fold: each patch element added once
        (2, "tanh_backward native_dropout"),
        (3, "_softmax_backward_data"),
        (5, "_softmax _safe_softmax"),  # max, subtract, exp, sum, divide
        (8, "native_layer_norm"),  # mean, subtract, square, sum, rsqrt-scale, scale, shift
        (10, "native_layer_norm_backward"),
        (8, "gelu"),
        (7, "upsample_bilinear2d upsample_bilinear2d_backward"),  # 4 weights, 4 multiplies, 3 adds, counted 7
        (0, "im2col fill_ zero_ ones_like zeros_like full zeros ones"),
    ) for name in names.split()}
_PER_INPUT = {"aten.mean", "aten.sum", "aten.col2im"}

MOVEMENT: frozenset[str] = frozenset(f"aten.{name}" for names in (
    "view _unsafe_view reshape permute transpose t t_ expand clone contiguous cat copy_ _to_copy detach",
    "alias slice select squeeze unsqueeze split split_with_sizes unbind new_empty new_empty_strided empty",
    "empty_like empty_strided as_strided lift_fresh lift_fresh_copy _reshape_alias unfold flatten sym_size",
    "sym_numel is_same_size _local_scalar_dense scalar_tensor _fused_sdp_choice") for name in names.split())


def op_name(func: Any) -> str:
    """'aten.addmm' for the overload aten.addmm.default: torch's name, as FlopCounterMode prints it."""
    return str(getattr(func, "overloadpacket", func))


def _first_numel(value: Any) -> int:
    found = tensors(value)
    return found[0].numel() if found else 0


class Costs:
    """Costs one op: `(flops, other_flops, supported)`. `extra` maps torch op names to a model's own
    cost functions ((args, kwargs, out) -> (flops, other_flops)), consulted first."""

    def __init__(self, extra: Mapping[str, CostFunction] | None = None) -> None:
        self.extra = dict(extra or {})

    def __call__(self, func: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 out: Any) -> tuple[int, int, bool]:
        own = self.extra.get(name)
        if own is not None:
            flops, other = own(args, kwargs, out)
            return int(flops), int(other), True
        formula = MATMUL_FORMULAS.get(getattr(func, "overloadpacket", None))
        if formula is not None:
            return int(formula(*args, **kwargs, out_val=out)), 0, True
        per = ELEMENTWISE.get(name)
        if per is not None:
            count = _first_numel(args) if name in _PER_INPUT else _first_numel(out)
            return 0, per * count, True
        return 0, 0, name in MOVEMENT
