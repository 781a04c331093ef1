"""Workspaces of ATen's own CPU convolutions, derived from the shapes: nothing is run.

Where oneDNN does not take a convolution, ATen runs it itself (`torch._C._select_conv_backend` says
which): half-precision convolutions on a CPU without native support for them (bfloat16 without
AVX-512, float16 without AVX-512-FP16 or AMX), and small float32 ones. Those kernels lower the
convolution to a matrix product over an unfolded copy of the input ("columns"), and what they hold
inside the op follows from the shapes alone:

* `Slow2d` / `Slow3d`: one columns buffer for the whole batch, `batch * C_in * prod(kernel) *
  prod(output spatial)` elements, unless the kernel is 1 x 1 with stride 1 and no padding (then the
  input itself is the matrix). `Slow3d` handles groups itself, over all input channels, and with
  groups always unfolds;
* `SlowDilated2d`: one sample's columns at a time, reused across the batch;
* groups on the 2D kernels: ATen runs each group alone on its slice of the input (copied to be
  contiguous unless the batch is 1), keeps each group's output and joins them with a `cat`; the most
  held above the returned output is `max(slice copy + columns of one group, output)`;
* an input that is not contiguous is first copied contiguous (the input's bytes).

Running such a kernel to measure it is slow (minutes at full resolution in bfloat16 on an AVX2 CPU);
this takes microseconds. A layout the rules do not cover (channels-last inputs, transposed
convolutions) gives None, and the signature is probed as before (workspace.py). The rules are checked
against real calls on the machine that runs the tests (tests/test_slowconv.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dstt_profile.engine.convsig import ConvSignature

_BACKENDS: Any = torch._C._ConvBackend  # type: ignore[attr-defined]
SLOW_2D: set[Any] = {_BACKENDS.Slow2d, _BACKENDS.SlowDilated2d}
SLOW_3D: set[Any] = {_BACKENDS.Slow3d}


def _stand_in(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of `shape` over one element (all strides 0): enough for ATen to choose a kernel,
    which looks at sizes, dtype and parameters, without allocating the input."""
    return torch.empty(1, dtype=dtype).as_strided(shape, [0] * len(shape))


def backend(sig: ConvSignature, batch: int) -> Any:
    """The kernel ATen picks for `sig` at `batch`, at this process's thread count."""
    dtype: torch.dtype = getattr(torch, sig.dtype)
    x = _stand_in((batch, *sig.sample), dtype)
    w = _stand_in(sig.weight, dtype)
    bias = _stand_in((sig.weight[0],), dtype) if sig.bias else None
    return torch._C._select_conv_backend(
        x, w, bias, list(sig.stride), list(sig.padding), list(sig.dilation), sig.transposed,
        list(sig.output_padding), sig.groups, None,
    )


def _needs_columns(sig: ConvSignature) -> bool:
    return any(k != 1 for k in sig.weight[2:]) or any(s != 1 for s in sig.stride) or any(p != 0 for p in sig.padding)


def workspace_bytes(sig: ConvSignature, batch: int) -> int | None:
    """Bytes ATen's own kernel holds inside `aten.convolution` above the output it returns, for `sig`
    at `batch`; None where oneDNN (or a GPU library) runs it, or where the layout is not covered."""
    if sig.device != "cpu" or sig.transposed or sig.layout == "channels_last":
        return None
    if sig.layout != "contiguous" and sig.groups != 1:
        return None
    try:
        kind = backend(sig, batch)
    except RuntimeError:  # parameters the kernel refuses: the real call says so
        return None
    if kind not in SLOW_2D | SLOW_3D:
        return None
    itemsize = int(getattr(torch, sig.dtype).itemsize)
    channels = sig.sample[0]
    sample_in = math.prod(sig.sample)
    kernel = math.prod(sig.weight[2:])
    out_area = math.prod(sig.output_spatial())
    copied = 0 if sig.layout == "contiguous" else batch * sample_in * itemsize
    if kind in SLOW_3D:
        columns = batch * channels * kernel * out_area if _needs_columns(sig) or sig.groups > 1 else 0
        return copied + columns * itemsize
    per_group = channels // sig.groups
    if kind == _BACKENDS.SlowDilated2d:
        columns = per_group * kernel * out_area  # one sample at a time
    else:
        columns = batch * per_group * kernel * out_area if _needs_columns(sig) else 0
    if sig.groups == 1:
        return copied + columns * itemsize
    sliced = batch * per_group * math.prod(sig.sample[1:]) if batch > 1 else 0
    output = batch * sig.weight[0] * out_area
    return max(sliced + columns, output) * itemsize
