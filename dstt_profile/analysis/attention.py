"""Attention matrices in a trace's ops, for any model, read from its data flow alone.

A matrix product (`aten.bmm`, `aten.mm`, `aten.baddbmm`: what `q @ k.transpose(-2, -1)` runs as) is an
attention matrix where a softmax reads it, directly or through ops that keep its element count (a scale, a
mask added or filled in, a cast, a write into part of it), and both its operands were computed by the pass
(a weight is not: a Linear without bias is an `mm` too). A fused kernel (`aten._scaled_dot_product_*attention*`)
never builds its matrix; its size, batch*heads*Lq*Lk, is read from the query's and the key's shapes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dstt_profile.records.schema import OpRecord, TensorInfo

MATMULS = frozenset({"aten.bmm", "aten.mm", "aten.baddbmm"})
SOFTMAXES = frozenset({"aten._softmax", "aten.softmax", "aten._safe_softmax"})
MATERIALISED = "attention matrix (q @ k^T, before softmax)"
FUSED = "attention matrix a fused kernel computes without building it ({op}: batch*heads*Lq*Lk)"
_LOOKED_THROUGH = 64  # ops walked back from one softmax at most


@dataclass(frozen=True)
class AttentionMatrix:
    """One attention matrix: the op making it (the product, or the fused kernel `kernel`), its module and stage."""

    op: int
    module: str
    stage: str
    tensor: TensorInfo
    kernel: str = ""  # the fused kernel that computes it without building it; "" where it is built

    @property
    def what(self) -> str:
        return FUSED.format(op=self.kernel) if self.kernel else MATERIALISED


def is_fused(op: str) -> bool:
    """A fused attention kernel's forward op (its backward ops are the backward pass's, never a matrix)."""
    return op.startswith("aten._scaled_dot_product_") and "attention" in op and not op.endswith("backward")


def _operands(op: OpRecord) -> tuple[int, ...]:
    """The producers of a matrix product's two factors (baddbmm's first input is the added term)."""
    factors = op.inputs[1:3] if op.op == "aten.baddbmm" else op.inputs[:2]
    return tuple(i.producer for i in factors)


def _product(ops: Sequence[OpRecord], start: int, elements: int) -> int:
    """The matrix product whose result reaches op `start`'s output through ops keeping `elements`; -1: none."""
    stack, seen = [start], set[int]()
    while stack and len(seen) < _LOOKED_THROUGH:
        index = stack.pop()
        if index < 0 or index in seen:
            continue
        seen.add(index)
        op = ops[index]
        out = op.outputs[0].elements if op.outputs else -1
        if op.op in MATMULS:
            factors = _operands(op)
            if out == elements and len(factors) == 2 and min(factors) >= 0:
                return index
            continue
        if op.op.endswith("_") and op.inputs:  # in place: it wrote (part of) its first argument's storage
            stack.append(op.inputs[0].producer)
        elif out == elements:
            # the first argument of the same size first: the scores, not a mask of their shape
            stack.extend(reversed([i.producer for i in op.inputs if i.elements == elements]))
    return -1


def attention_matrices(ops: Sequence[OpRecord]) -> list[AttentionMatrix]:
    """Every attention matrix of the pass, in the order the ops making them ran."""
    found: dict[int, AttentionMatrix] = {}
    for op in ops:
        if op.op in SOFTMAXES and op.inputs:
            scores = op.inputs[0]
            index = _product(ops, scores.producer, scores.elements)
            if index >= 0 and index not in found:
                product = ops[index]
                dtype = product.outputs[0].dtype
                # the scores as the model shapes them (heads apart), at the product's dtype
                found[index] = AttentionMatrix(index, product.module, product.stage, TensorInfo(scores.shape, dtype))
        elif is_fused(op.op) and len(op.inputs) >= 2:
            query, key = op.inputs[0], op.inputs[1]
            if len(query.shape) >= 2 and len(key.shape) >= 2:
                shape = (*query.shape[:-2], query.shape[-2], key.shape[-2])
                found[op.index] = AttentionMatrix(op.index, op.module, op.stage, TensorInfo(shape, query.dtype), op.op)
    return [found[i] for i in sorted(found)]
