"""FLOPs of an IR's layers from their port shapes, 2 per multiply-add (torch's FlopCounterMode convention, as the
PyTorch run counts them): convolutions, matrix products and fused attention. Biases, activations, norms and
every other layer are not counted here (the PyTorch run's `other_flops` has no IR counterpart)."""

from __future__ import annotations

import math
from collections.abc import Callable

from dstt_profile.ir.reader import Layer, Port

FLOPS_PER_MAC = 2


def _dims(ports: tuple[Port, ...], n: int) -> list[tuple[int, ...]] | None:
    """The first `n` ports' dims, or None where there are fewer, or one is dynamic."""
    if len(ports) < n or not all(p.static for p in ports[:n]):
        return None
    return [p.dims for p in ports[:n]]


def _conv(layer: Layer) -> int | None:
    """Convolution: weights (C_out, C_in, k...): each output element takes C_in * prod(k) multiply-adds."""
    found, out = _dims(layer.inputs, 2), _dims(layer.outputs, 1)
    if found is None or out is None or len(found[1]) < 2:
        return None
    return math.prod(out[0]) * math.prod(found[1][1:])


def _group_conv(layer: Layer) -> int | None:
    """GroupConvolution: weights (G, C_out/G, C_in/G, k...): C_in/G * prod(k) per output element."""
    found, out = _dims(layer.inputs, 2), _dims(layer.outputs, 1)
    if found is None or out is None or len(found[1]) < 3:
        return None
    return math.prod(out[0]) * math.prod(found[1][2:])


def _deconv(layer: Layer) -> int | None:
    """ConvolutionBackpropData: weights (C_in, C_out, k...): each input element is spread over C_out * prod(k)."""
    found = _dims(layer.inputs, 2)
    if found is None or len(found[1]) < 2:
        return None
    return math.prod(found[0]) * math.prod(found[1][1:])


def _group_deconv(layer: Layer) -> int | None:
    """GroupConvolutionBackpropData: weights (G, C_in/G, C_out/G, k...): C_out/G * prod(k) per input element."""
    found = _dims(layer.inputs, 2)
    if found is None or len(found[1]) < 3:
        return None
    return math.prod(found[0]) * math.prod(found[1][2:])


def _flag(layer: Layer, name: str) -> bool:
    return layer.data.get(name, "false").strip().lower() in ("true", "1")


def _matmul(layer: Layer) -> int | None:
    """MatMul: every output element is a dot product over the shared dim K (A's last, or next-to-last where
    transpose_a; a 1-D A's only)."""
    found, out = _dims(layer.inputs, 2), _dims(layer.outputs, 1)
    if found is None or out is None or not found[0]:
        return None
    a = found[0]
    k = a[0] if len(a) == 1 else a[-2] if _flag(layer, "transpose_a") else a[-1]
    return math.prod(out[0]) * k


def _sdpa(layer: Layer) -> int | None:
    """ScaledDotProductAttention: q (..., L, E), k (..., S, E), v (..., S, Ev), output (..., L, Ev): the scores
    take L*S*E multiply-adds and their product with v L*S*Ev, per leading index of the output."""
    found, out = _dims(layer.inputs, 3), _dims(layer.outputs, 1)
    if found is None or out is None or min(len(d) for d in (*found, out[0])) < 2:
        return None
    q, k, v = found
    return math.prod(out[0][:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


COUNTED: dict[str, Callable[[Layer], int | None]] = {
    "Convolution": _conv, "GroupConvolution": _group_conv, "ConvolutionBackpropData": _deconv,
    "GroupConvolutionBackpropData": _group_deconv, "MatMul": _matmul, "ScaledDotProductAttention": _sdpa,
}


def macs(layer: Layer) -> int | None:
    """The layer's multiply-adds; None where its type is not counted or a shape it needs is dynamic."""
    cost = COUNTED.get(layer.type)
    return cost(layer) if cost is not None else None


def flops(layer: Layer) -> int | None:
    found = macs(layer)
    return None if found is None else FLOPS_PER_MAC * found
