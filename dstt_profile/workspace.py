"""Kernel workspaces: memory a kernel allocates inside one op and releases before the op returns.

No tensor ever holds it, so no trace sees it, yet the allocator does. On CPU it is oneDNN's
convolution: depending on the layer's shape it copies the input and the weight into blocked layouts
or computes into a blocked output and copies that back; which of these it does is the library's
choice. So it is measured, not guessed: each convolution (its module's hyperparameters, its input
shape, the dtype) is run for real, alone, under a `PeakMeter`, and its workspace is the meter's peak
during the call minus the output the call returns. That needs one layer's input in real memory, never
the whole pass. For inputs too large for that, the workspace is measured at batch 2, 3 and 4, where it
is affine in the batch (checked exactly at the third point), and extrapolated.

The allocator peak is then the highest of (live tensor bytes after op i) + (workspace of op i).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from dstt_profile.meters import PeakMeter
from dstt_profile.records import OpRecord, RunRecord
from dstt_profile.runconfig import RunConfig
from model import InpaintGenerator

CONVOLUTION = "aten.convolution"
PROBE_BATCHES = (2, 3, 4)
DIRECT_LIMIT = 1 << 30  # probe at the run's own batch while a layer's input is at most 1 GiB


class WorkspaceError(RuntimeError):
    """A convolution's workspace is not affine in the batch, so it cannot be extrapolated."""


@dataclass(frozen=True)
class AllocatorPeak:
    bytes: int
    op: OpRecord
    workspace: int


def _conv_like(module: nn.Conv2d, device: str, dtype: torch.dtype) -> nn.Conv2d:
    """A real convolution with `module`'s hyperparameters (weights random: the memory is the same)."""
    conv = nn.Conv2d(
        module.in_channels,
        module.out_channels,
        module.kernel_size,  # type: ignore[arg-type]
        stride=module.stride,  # type: ignore[arg-type]
        padding=module.padding,  # type: ignore[arg-type]
        dilation=module.dilation,  # type: ignore[arg-type]
        groups=module.groups,
        bias=module.bias is not None,
        padding_mode=module.padding_mode,
    )
    return conv.to(device=device, dtype=dtype).eval()


def probe_at(conv: nn.Conv2d, sample: tuple[int, ...], batch: int, meter: PeakMeter, device: str, dtype: torch.dtype) -> int:
    """Workspace bytes of one real call at `batch`: the meter's peak minus the output it returns."""
    with torch.no_grad():
        x = torch.randn(batch, *sample, device=device).to(dtype)
        conv(x)  # the first call may set up caches that later calls reuse
        peak, out = meter.peak(partial(conv, x))
        return int(peak - out.numel() * out.element_size())


def probe(conv: nn.Conv2d, sample: tuple[int, ...], meter: PeakMeter, device: str, dtype: torch.dtype) -> tuple[int, int]:
    """(constant, per-sample) bytes of the workspace, from real calls at the batches of `PROBE_BATCHES`.

    Batch 1 is left out: oneDNN may pick another algorithm for a single sample."""
    found = [probe_at(conv, sample, n, meter, device, dtype) for n in PROBE_BATCHES]
    (n0, n1, n2), (w0, w1, w2) = PROBE_BATCHES, found
    per_sample, rest = divmod(w1 - w0, n1 - n0)
    constant = w0 - per_sample * n0
    if rest or w2 != constant + per_sample * n2:
        raise WorkspaceError(f"workspace at batch {PROBE_BATCHES} is {found}: not affine in the batch")
    return constant, per_sample


def conv_workspaces(record: RunRecord, meter: PeakMeter, direct_limit: int = DIRECT_LIMIT) -> dict[str, int]:
    """Workspace bytes of every convolution module of `record` at its batch, probed on its device.

    Probed at the run's own batch where the layer's input then takes at most `direct_limit` bytes
    (exact: the kernel's choice is made for that very shape); above that, extrapolated from batches
    2, 3, 4 and checked (the clip itself need never fit)."""
    run = RunConfig(**record.config).replace(real=True)
    with torch.device("meta"):
        skeleton = InpaintGenerator(run.model_config(), init_weights=False)
    modules = dict(skeleton.named_modules())
    out: dict[str, int] = {}
    for m in record.modules:
        module = modules.get(m.name)
        if not isinstance(module, nn.Conv2d) or not m.inputs:
            continue
        conv = _conv_like(module, run.device, run.torch_dtype)
        batch, sample = m.inputs[0].shape[0], tuple(m.inputs[0].shape[1:])
        if m.inputs[0].elements * run.element_bytes <= direct_limit:
            out[m.name] = probe_at(conv, sample, batch, meter, run.device, run.torch_dtype)
        else:
            constant, per_sample = probe(conv, sample, meter, run.device, run.torch_dtype)
            out[m.name] = constant + per_sample * batch
    return out


def allocator_peak(record: RunRecord, workspaces: dict[str, int]) -> AllocatorPeak:
    """The highest live bytes plus the workspace of the op running then (needs the record's ops)."""
    if not record.ops:
        raise ValueError("the allocator peak needs per-op records (keep_ops=True)")
    best: AllocatorPeak | None = None
    for op in record.ops:
        extra = workspaces.get(op.module, 0) if op.op == CONVOLUTION else 0
        total = op.live_bytes + extra
        if best is None or total > best.bytes:
            best = AllocatorPeak(total, op, extra)
    assert best is not None
    return best
