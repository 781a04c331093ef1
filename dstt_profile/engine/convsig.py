"""A convolution's signature: everything about one `aten.convolution` call but its batch, read from the
op's own arguments. What its workspace can depend on, so the key it is derived or calibrated under."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import torch


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

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


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


def signature_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[ConvSignature, int]:
    """The signature and the batch of an `aten.convolution` call, from its arguments."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "transposed", "output_padding", "groups")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    x, w = bound["input"], bound["weight"]
    sig = ConvSignature(
        sample=_ints(x.shape[1:]),
        weight=_ints(w.shape),
        bias=bound.get("bias") is not None,
        stride=_ints(bound["stride"]),
        padding=_ints(bound["padding"]),
        dilation=_ints(bound["dilation"]),
        transposed=bool(bound["transposed"]),
        output_padding=_ints(bound["output_padding"]),
        groups=int(bound["groups"]),
        dtype=str(x.dtype).removeprefix("torch."),
        device=x.device.type,
        layout=_layout(x),
    )
    return sig, int(x.shape[0])
