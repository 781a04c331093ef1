"""A convolution's signature: everything about one `aten.convolution` call but its batch, read from its
arguments; the key its workspace is derived or calibrated under (docs/memory.md)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch

from dstt_profile.engine.hooks import dtype_name, ints


@dataclass(frozen=True)
class ConvSignature:
    """One convolution, all but its batch: what its workspace can depend on."""

    sample: tuple[int, ...]  # input shape without the batch dimension
    weight: tuple[int, ...]
    bias: bool
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int
    dtype: str
    device: str
    layout: str  # contiguous | channels_last | strided:<dims from outermost to innermost>, e.g. strided:0,2,1,3,4

    def output_spatial(self) -> tuple[int, ...]:
        """The spatial sizes a call of this convolution returns."""
        rows = zip(self.sample[1:], self.weight[2:], self.stride, self.padding, self.dilation, self.output_padding)
        if self.transposed:
            return tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, k, s, p, d, o in rows)
        return tuple((i + 2 * p - d * (k - 1) - 1) // s + 1 for i, k, s, p, d, _ in rows)

    def out_channels(self) -> int:
        return self.weight[1] * self.groups if self.transposed else self.weight[0]

    def torch_dtype(self) -> torch.dtype:
        return cast(torch.dtype, getattr(torch, self.dtype))

    def itemsize(self) -> int:
        return int(self.torch_dtype().itemsize)

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def _layout(x: torch.Tensor) -> str:
    """How the input lies in memory. A permuted input (a transpose's view) is named by its dimensions in
    memory order, so the probe is given one alike: the library copies such an input inside the op."""
    if x.is_contiguous():
        return "contiguous"
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    strides = x.stride()
    order = sorted(range(x.dim()), key=lambda d: (-strides[d], d))
    return "strided:" + ",".join(map(str, order))


_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "transposed", "output_padding", "groups")


def signature_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[ConvSignature, int]:
    """The signature and the batch of an `aten.convolution` call, from its arguments."""
    bound = {**dict(zip(_ARGS, args)), **kwargs}
    x, w = bound["input"], bound["weight"]
    sig = ConvSignature(
        ints(x.shape[1:]), ints(w.shape), bound.get("bias") is not None, ints(bound["stride"]),
        ints(bound["padding"]), ints(bound["dilation"]), bool(bound["transposed"]),
        ints(bound["output_padding"]), int(bound["groups"]), dtype_name(x.dtype), x.device.type, _layout(x))
    return sig, int(x.shape[0])
