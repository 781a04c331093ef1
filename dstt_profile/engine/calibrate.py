"""Calibrating a convolution's workspace on this machine: run it for real, alone, at small batches
under a `PeakMeter`, and fit what it holds inside the op above its output as a function of the batch.

A probe is refused in one line before it runs where it may not fit in the memory this machine has
free. The fit is affine from batch 1, 2 or 3 on (oneDNN may pick other kernels at batches 1 and 2),
checked exactly at a batch it was not fitted on; where none holds, every batch a run needs is probed
directly, up to `DIRECT_LIMIT` bytes of input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch

from dstt_profile.engine import slowconv
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.hostmemory import available_bytes
from dstt_profile.engine.meters import PeakMeter
from dstt_profile.errors import UsageError
from dstt_profile.units import fmt_bytes

DIRECT_LIMIT = 1 << 30  # bytes of input a convolution is probed with directly, at most


class WorkspaceError(UsageError):
    """A convolution's workspace could not be calibrated on this machine."""


@dataclass(frozen=True)
class Workspace:
    """Workspace bytes of one signature as a function of the batch n: `at_one` for n = 1, the probed
    batches in `exact`, else `constant + per_sample * n`; `checked` is the batch the fit was verified
    at (exact), two above the first batch it holds from. Where the library's choice changes with the
    batch in no such way (`checked` = 0: not affine), only the batches in `exact` are known, each
    probed directly."""

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
    dtype = getattr(torch, sig.dtype)
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
        return slowconv.backend(sig, batch) in slowconv.SLOW_2D | slowconv.SLOW_3D
    except RuntimeError:
        return True


def _blocks_of_16(channels: int) -> int:
    return -(-channels // 16) * 16


def probe_need(sig: ConvSignature, batch: int) -> int:
    """A generous bound on the memory one probe at `batch` takes: the input, the weight and the output,
    each also as a copy with its channels padded to blocks of 16 (oneDNN's layouts), and the unfolded
    input where ATen's own kernels run it."""
    itemsize = int(getattr(torch, sig.dtype).itemsize)
    spatial_in = math.prod(sig.sample[1:])
    spatial_out = math.prod(sig.output_spatial())
    channels_in = sig.sample[0]
    channels_out = sig.weight[1] * sig.groups if sig.transposed else sig.weight[0]
    x = batch * spatial_in * (channels_in + _blocks_of_16(channels_in))
    out = batch * spatial_out * (2 * channels_out + _blocks_of_16(channels_out))
    unfolds = sig.device == "cpu" and _aten_kernel(sig, batch)
    columns = batch * channels_in * math.prod(sig.weight[2:]) * spatial_out if unfolds else 0
    return (x + out + columns + 2 * math.prod(sig.weight)) * itemsize


def _room_for(sig: ConvSignature, batch: int) -> None:
    """WorkspaceError (one line) where a probe at `batch` may not fit in this machine's free memory."""
    need = probe_need(sig, batch)
    room = available_bytes() if sig.device == "cpu" else None
    if room is not None and need > room[0]:
        raise WorkspaceError(
            f"calibrating a convolution's workspace (weight {sig.weight}, input {sig.sample}, {sig.dtype}) "
            f"runs it for real at batch {batch}, which may need {fmt_bytes(need)}, and {room[1]} leaves "
            f"{fmt_bytes(room[0])}: use a smaller frame size, t or batch"
        )


def probe(sig: ConvSignature, batch: int, meter: PeakMeter) -> int:
    """Workspace bytes of one real call at `batch`: the meter's peak minus the output it returns.

    No warm-up call is needed: oneDNN's first call at a shape allocates what later calls do. A probe
    that may not fit in free memory is refused before it runs, in one line; one the allocator refuses
    midway likewise."""
    _room_for(sig, batch)
    try:
        return _probe(sig, batch, meter)
    except RuntimeError as exc:
        if "memory" not in str(exc).lower():
            raise
        raise WorkspaceError(
            f"calibrating a convolution's workspace (weight {sig.weight}, input {sig.sample}, {sig.dtype}) at "
            f"batch {batch} ran out of memory: use a smaller frame size, t or batch"
        ) from None


def _probe(sig: ConvSignature, batch: int, meter: PeakMeter) -> int:
    dtype = getattr(torch, sig.dtype)
    weight = torch.zeros(sig.weight, device=sig.device, dtype=dtype)
    channels = sig.weight[1] * sig.groups if sig.transposed else sig.weight[0]
    bias = torch.zeros(channels, device=sig.device, dtype=dtype) if sig.bias else None
    x = _probe_input(sig, batch)
    conv = partial(
        torch.ops.aten.convolution.default,
        x,
        weight,
        bias,
        list(sig.stride),
        list(sig.padding),
        list(sig.dilation),
        sig.transposed,
        list(sig.output_padding),
        sig.groups,
    )
    with torch.no_grad():
        peak, out = meter.peak(conv)
    return int(peak) - int(out.untyped_storage().nbytes())


FIRST_AFFINE = 3  # the largest batch from which a fit is tried (oneDNN picks other kernels at batch 1 or 2)


def calibrate(sig: ConvSignature, meter: PeakMeter) -> Workspace:
    """Probe `sig` at small batches and fit the workspace, checked exactly at a larger batch: affine
    from batch k = 1, 2 or 3 on (fitted on k and k + 1, checked at k + 2), the batches below k kept as
    probed. Where no such fit holds, the probes are kept and every other batch is probed when it is
    needed (`probe_batch`)."""
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
    nbytes = batch * _sample_bytes(sig)
    if nbytes > DIRECT_LIMIT:
        raise WorkspaceError(
            f"the workspace of a convolution (weight {sig.weight}, input {sig.sample}) changes with the batch "
            f"in no affine way, and probing it at batch {batch} needs a {nbytes / 2**30:.1f} GiB input "
            f"(more than {DIRECT_LIMIT / 2**30:.0f} GiB)"
        )
    exact = dict(found.exact)
    exact[batch] = probe(sig, batch, meter)
    return Workspace(found.at_one, found.constant, found.per_sample, found.checked, tuple(sorted(exact.items())))


def _sample_bytes(sig: ConvSignature) -> int:
    dtype: torch.dtype = getattr(torch, sig.dtype)
    return math.prod(sig.sample) * dtype.itemsize

