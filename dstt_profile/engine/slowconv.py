"""Workspaces of ATen's own CPU convolutions, derived from the shapes, nothing run: docs/memory.md ("ATen's
own convolutions"); a layout not covered gives None and is calibrated (workspace.py)."""

from __future__ import annotations

import math
from typing import Any

import torch

from dstt_profile.engine.convsig import ConvSignature

_BACKENDS: Any = torch._C._ConvBackend  # type: ignore[attr-defined]
SLOW_2D: set[Any] = {_BACKENDS.Slow2d, _BACKENDS.SlowDilated2d}
SLOW_3D: set[Any] = {_BACKENDS.Slow3d}


def _stand_in(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of `shape` over one element (strides 0): enough for ATen to choose a kernel."""
    return torch.empty(1, dtype=dtype).as_strided(shape, [0] * len(shape))


def backend(sig: ConvSignature, batch: int) -> Any:
    """The kernel ATen picks for `sig` at `batch`, at this process's thread count."""
    dtype = sig.torch_dtype()
    bias = _stand_in((sig.weight[0],), dtype) if sig.bias else None
    return torch._C._select_conv_backend(_stand_in((batch, *sig.sample), dtype), _stand_in(sig.weight, dtype),
                                         bias, list(sig.stride), list(sig.padding), list(sig.dilation),
                                         sig.transposed, list(sig.output_padding), sig.groups, None)


def aten_kernel(sig: ConvSignature, batch: int) -> Any | None:
    """The kernel where ATen runs `sig` itself (unfolding the input), else None; RuntimeError if refused."""
    kind = backend(sig, batch)
    return kind if kind in SLOW_2D | SLOW_3D else None


def _needs_columns(sig: ConvSignature) -> bool:
    return any(k != 1 for k in sig.weight[2:]) or any(s != 1 for s in sig.stride) or any(p != 0 for p in sig.padding)


def workspace_bytes(sig: ConvSignature, batch: int) -> int | None:
    """Bytes ATen's own kernel holds above the output it returns; None where another library runs it, or
    where the layout is not covered."""
    if sig.device != "cpu" or sig.transposed or sig.layout == "channels_last":
        return None
    if sig.layout != "contiguous" and sig.groups != 1:
        return None
    try:
        kind = aten_kernel(sig, batch)
    except RuntimeError:  # parameters the kernel refuses: the real call says so
        return None
    if kind is None:
        return None
    itemsize = sig.itemsize()
    channels = sig.sample[0]
    kernel = math.prod(sig.weight[2:])
    out_area = math.prod(sig.output_spatial())
    copied = 0 if sig.layout == "contiguous" else batch * math.prod(sig.sample) * itemsize
    if kind in SLOW_3D:  # handles groups itself, over all input channels, and with groups always unfolds
        columns = batch * channels * kernel * out_area if _needs_columns(sig) or sig.groups > 1 else 0
        return copied + columns * itemsize
    per_group = channels // sig.groups
    if kind == _BACKENDS.SlowDilated2d:
        columns = per_group * kernel * out_area  # one sample at a time
    else:
        columns = batch * per_group * kernel * out_area if _needs_columns(sig) else 0
    if sig.groups == 1:
        return copied + columns * itemsize
    # each group runs alone on its slice of the input (copied contiguous above batch 1), joined by a cat
    sliced = batch * per_group * math.prod(sig.sample[1:]) if batch > 1 else 0
    output = batch * sig.weight[0] * out_area
    return max(sliced + columns, output) * itemsize
