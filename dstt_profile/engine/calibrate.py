"""Calibrating a convolution's workspace: run it for real, alone, at small batches, and fit what it holds
inside the op above its output as a function of the batch (docs/memory.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import torch

from dstt_profile.engine import slowconv
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.hostmemory import available_bytes
from dstt_profile.engine.meters import PeakMeter
from dstt_profile.errors import UsageError
from dstt_profile.units import fmt_bytes

DIRECT_LIMIT = 1 << 30  # bytes of input a convolution is probed with directly, at most
FIRST_AFFINE = 3  # the largest batch from which a fit is tried (oneDNN picks other kernels at batch 1 or 2)


class WorkspaceError(UsageError):
    """A convolution's workspace could not be calibrated on this machine."""


@dataclass(frozen=True)
class Workspace:
    """Bytes at batch n: `at_one` at 1, the probed `exact`, else `constant + per_sample * n`; `checked` is the
    batch the fit was verified at, two above the first it holds from (0: not affine, `exact` only)."""

    at_one: int
    constant: int
    per_sample: int
    checked: int
    exact: tuple[tuple[int, int], ...] = ()  # (batch, bytes) probed directly

    @property
    def affine(self) -> bool:
        return self.checked > 0

    @property
    def first_affine(self) -> int:
        """The batch from which the fit holds (1, 2 or 3; the ones below are `at_one` and `exact`)."""
        return self.checked - 2

    def at(self, batch: int) -> int | None:
        """Bytes at `batch`; None where the workspace is not affine and `batch` was not probed."""
        if batch == 1:
            return self.at_one
        probed = dict(self.exact)
        if batch in probed:
            return probed[batch]
        if self.affine and batch >= self.first_affine:
            return self.constant + self.per_sample * batch
        return None


def _probe_input(sig: ConvSignature, batch: int) -> torch.Tensor:
    dtype = sig.torch_dtype()
    shape = (batch, *sig.sample)
    if sig.layout.startswith("strided:"):
        order = [int(d) for d in sig.layout.partition(":")[2].split(",")]
        dense = torch.zeros([shape[d] for d in order], device=sig.device, dtype=dtype)
        return dense.permute([order.index(d) for d in range(len(order))])
    x = torch.zeros(shape, device=sig.device, dtype=dtype)
    if sig.layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _aten_kernel(sig: ConvSignature, batch: int) -> bool:
    """Whether ATen runs `sig` itself at `batch` (its kernels unfold the input)."""
    try:
        return slowconv.aten_kernel(sig, batch) is not None
    except RuntimeError:
        return True


def _blocks_of_16(channels: int) -> int:
    return -(-channels // 16) * 16


def probe_need(sig: ConvSignature, batch: int) -> int:
    """A generous bound on the memory one probe at `batch` takes (docs/memory.md)."""
    spatial_out = math.prod(sig.output_spatial())
    channels_in, channels_out = sig.sample[0], sig.out_channels()
    x = batch * math.prod(sig.sample[1:]) * (channels_in + _blocks_of_16(channels_in))
    out = batch * spatial_out * (2 * channels_out + _blocks_of_16(channels_out))
    unfolds = sig.device == "cpu" and _aten_kernel(sig, batch)
    columns = batch * channels_in * math.prod(sig.weight[2:]) * spatial_out if unfolds else 0
    return (x + out + columns + 2 * math.prod(sig.weight)) * sig.itemsize()


def _what(sig: ConvSignature) -> str:
    return f"calibrating a convolution's workspace (weight {sig.weight}, input {sig.sample}, {sig.dtype})"


def probe(sig: ConvSignature, batch: int, meter: PeakMeter) -> int:
    """Workspace bytes of one real call at `batch`: the meter's peak minus the output it returns. No warm-up
    is needed: oneDNN's first call at a shape allocates what later calls do."""
    need = probe_need(sig, batch)
    room = available_bytes() if sig.device == "cpu" else None
    if room is not None and need > room[0]:
        raise WorkspaceError(f"{_what(sig)} runs it for real at batch {batch}, which may need "
                             f"{fmt_bytes(need)}, and {room[1]} leaves {fmt_bytes(room[0])}: use a smaller "
                             "frame size, t or batch")
    try:
        dtype = sig.torch_dtype()
        weight = torch.zeros(sig.weight, device=sig.device, dtype=dtype)
        bias = torch.zeros(sig.out_channels(), device=sig.device, dtype=dtype) if sig.bias else None
        conv = partial(torch.ops.aten.convolution.default, _probe_input(sig, batch), weight, bias,
                       list(sig.stride), list(sig.padding), list(sig.dilation), sig.transposed,
                       list(sig.output_padding), sig.groups)
        with torch.no_grad():
            peak, out = meter.peak(conv)
        return int(peak) - int(out.untyped_storage().nbytes())
    except RuntimeError as exc:
        if "memory" not in str(exc).lower():
            raise
        message = f"{_what(sig)} at batch {batch} ran out of memory: use a smaller frame size, t or batch"
        raise WorkspaceError(message) from None


def calibrate(sig: ConvSignature, meter: PeakMeter) -> Workspace:
    """Probe `sig` at small batches and fit the workspace, affine from batch k = 1, 2 or 3 on
    (docs/memory.md); where no fit holds, every other batch is probed when it is needed (`probe_batch`)."""
    probed = {n: probe(sig, n, meter) for n in (1, 2, 3)}
    for first in range(1, FIRST_AFFINE + 1):
        check = first + 2
        if check not in probed:
            probed[check] = probe(sig, check, meter)
        per = probed[first + 1] - probed[first]
        if probed[check] == probed[first] + 2 * per:
            constant = probed[first] - first * per
            below = tuple((n, probed[n]) for n in range(2, first))
            return Workspace(at_one=probed[1], constant=constant, per_sample=per, checked=check, exact=below)
    exact = tuple((n, v) for n, v in sorted(probed.items()) if n > 1)
    return Workspace(at_one=probed[1], constant=0, per_sample=0, checked=0, exact=exact)


def probe_batch(sig: ConvSignature, found: Workspace, batch: int, meter: PeakMeter) -> Workspace:
    """`found` with the workspace at `batch` probed directly (for a signature that is not affine)."""
    nbytes = batch * math.prod(sig.sample) * sig.itemsize()
    if nbytes > DIRECT_LIMIT:
        raise WorkspaceError(
            f"the workspace of a convolution (weight {sig.weight}, input {sig.sample}) changes with the batch "
            f"in no affine way, and probing it at batch {batch} needs a {nbytes / 2**30:.1f} GiB input "
            f"(more than {DIRECT_LIMIT / 2**30:.0f} GiB)")
    return replace(found, exact=tuple(sorted({**dict(found.exact), batch: probe(sig, batch, meter)}.items())))
