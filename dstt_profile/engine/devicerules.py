"""Device rules: what the allocator really does for an op where fake tensors say otherwise (docs/memory.md),
each found by comparing a real small run with its fake trace op by op (devicecheck.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

CUDA_ROUND = 512  # bytes: the CUDA caching allocator's smallest block and rounding step

StorageFn = Callable[[tuple[Any, ...], dict[str, Any], torch.Tensor], int]
ParamsFn = Callable[[tuple[Any, ...], dict[str, Any], Any], tuple[int, ...]]
FormulaFn = Callable[[tuple[int, ...]], int]


@dataclass(frozen=True)
class _Rule:
    name: str
    device: str
    op: str  # aten.<name>, or "*" for every op on the device
    what: str


@dataclass(frozen=True)
class StorageRule(_Rule):
    """The real storage bytes of an op's new output storage (computed from its arguments and output)."""

    bytes: StorageFn


@dataclass(frozen=True)
class TemporaryRule(_Rule):
    """Bytes an op holds inside itself on top of its outputs. `params` reads the whole numbers they depend
    on (affine in t), `bytes` is the formula over them, so a derived trace recomputes it (polytrace.py)."""

    params: ParamsFn
    bytes: FormulaFn


def _nbytes(t: torch.Tensor) -> int:
    return int(t.numel()) * t.element_size()


def _col2im_storage(args: tuple[Any, ...], kwargs: dict[str, Any], out: torch.Tensor) -> int:
    return _nbytes(args[0])


def _copy_if_strided(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, ...]:
    x = args[0]
    return (0 if x.is_contiguous() else _nbytes(x),)


def _copy_bytes(p: tuple[int, ...]) -> int:
    return p[0]


def _flash_params(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, ...]:
    q, k = args[0], args[1]
    reduced = q.element_size() if q.dtype in (torch.float16, torch.bfloat16) else 0
    opmath = 8 if q.dtype == torch.float64 else 4  # CPU kernels compute half and bfloat16 in float
    return int(q.shape[-2]), int(k.shape[-2]), int(q.shape[-1]), torch.get_num_threads(), opmath, reduced


def _flash_bytes(p: tuple[int, ...]) -> int:
    # Per thread, in the accumulation type (float): one block of scores, its row max and row sum, and
    # an output block; reduced-precision inputs add one block of scores in their own type.
    q_len, kv_len, head, threads, opmath, reduced = p
    q_split = min(256 if q_len >= 768 else 64 if q_len >= 192 else 32, q_len)  # the kernel's block sizes
    kv_split = min(512, kv_len)
    per_thread = q_split * kv_split + 2 * q_split + q_split * head
    return threads * per_thread * opmath + threads * q_split * kv_split * reduced


SMALL_UPSAMPLE = 128  # output height + width at most this: ATen upsamples a channels-first input as channels-last


def _upsample_params(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, ...]:
    x = args[0]
    planar = x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last)
    ho, wo = int(out.shape[-2]), int(out.shape[-1])
    small = planar and int(x.shape[1]) > 1 and ho + wo <= SMALL_UPSAMPLE
    mode = 2 if small else int(planar)
    return ho, wo, int(out.element_size()), mode, _nbytes(x), _nbytes(out)


def _upsample_bytes(p: tuple[int, ...]) -> int:
    ho, wo, itemsize, mode, in_bytes, out_bytes = p
    if mode == 2:  # a small output: the input copied channels-last, computed into a channels-last output
        return in_bytes + out_bytes
    # Two int64 source indices and two weights (in the tensor's own type: 2 B for bfloat16 and float16)
    # per output row and per output column; the channels-last kernel computes them as it goes.
    return 2 * (ho + wo) * (8 + itemsize) if mode == 1 else 0


def _cuda_round(args: tuple[Any, ...], kwargs: dict[str, Any], out: torch.Tensor) -> int:
    nbytes = int(out.untyped_storage().nbytes())
    return -(-nbytes // CUDA_ROUND) * CUDA_ROUND


STORAGE_RULES: tuple[StorageRule, ...] = (
    StorageRule("cpu.col2im.input_sized_output", "cpu", "aten.col2im",
                "the output is allocated like the input (c'*p^2 x n per frame) and resized smaller; the "
                "storage keeps that size", _col2im_storage),
    StorageRule("cuda.caching_allocator.round_512", "cuda", "*",
                "the caching allocator rounds each block up to a multiple of 512 bytes", _cuda_round),
)

TEMPORARY_RULES: tuple[TemporaryRule, ...] = (
    TemporaryRule("cpu.col2im.contiguous_input", "cpu", "aten.col2im",
                  "a non-contiguous input (the transposed Vec2Patch embedding) is copied to a contiguous one",
                  _copy_if_strided, _copy_bytes),
    TemporaryRule("cpu.native_layer_norm.contiguous_input", "cpu", "aten.native_layer_norm",
                  "a non-contiguous input (the first block's permuted tokens) is copied to a contiguous one",
                  _copy_if_strided, _copy_bytes),
    TemporaryRule(
        "cpu.flash_attention.thread_buffers", "cpu", "aten._scaled_dot_product_flash_attention_for_cpu",
        "per thread (torch.get_num_threads()): a block of scores, row max and sum, and an output block, "
        "in float: qs*kvs + 2*qs + qs*(d/k), qs = 32|64|256 by query length, kvs = min(512, length)",
        _flash_params, _flash_bytes),
    TemporaryRule(
        "cpu.upsample_bilinear2d.tables", "cpu", "aten.upsample_bilinear2d",
        "source indices (int64) and weights (the tensor's type) for every output row and column, "
        "2*(Ho+Wo)*(8+itemsize) bytes; none for a channels-last input; for an output with Ho+Wo <= 128 and "
        "more than one channel, a channels-last copy of the input and of the output instead",
        _upsample_params, _upsample_bytes),
)


WRAPPED_NUMBER = 8  # bytes: Python wraps a number passed as a tensor in a 0-dim float64/int64 tensor
SCALAR_RULE = "cpu.scalar_operand"


def scalar_operands(schema: Any, args: tuple[Any, ...]) -> int:
    """How many Python numbers are passed where `schema` takes a tensor (`x / 2.0`)."""
    return sum(1 for formal, value in zip(schema.arguments, args) if str(formal.type) == "Tensor"
               and isinstance(value, (int, float)) and not isinstance(value, bool))


class DeviceRules:
    """The rules of one device type, looked up by op name."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.storage = {r.op: r for r in STORAGE_RULES if r.device == device}
        self.temporary = {r.op: r for r in TEMPORARY_RULES if r.device == device}

    def storage_rule(self, op: str) -> StorageRule | None:
        return self.storage.get(op) or self.storage.get("*")

    def temporary_rule(self, op: str) -> TemporaryRule | None:
        return self.temporary.get(op)

    def scalar_operands(self, schema: Any, args: tuple[Any, ...], dtype_size: int) -> tuple[int, int]:
        """(held, temporary) bytes for the Python numbers an op takes as tensors, on CPU: each wrapped in
        a `WRAPPED_NUMBER`-byte tensor around the op, and converted inside it to one of `dtype_size` bytes."""
        if self.device != "cpu":
            return 0, 0
        n = scalar_operands(schema, args)
        return n * WRAPPED_NUMBER, n * dtype_size

    def names(self) -> tuple[str, ...]:
        own = (*(r.name for r in self.storage.values()), *(r.name for r in self.temporary.values()))
        return (*own, SCALAR_RULE) if self.device == "cpu" else own
