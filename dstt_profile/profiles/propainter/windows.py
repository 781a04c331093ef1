"""How many of a clip's windows ProPainter's sparse attention treats as masked: counted from the run's masks (its
inputs function's values), or for the stated mask (a centred box over a quarter of each frame)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from dstt_profile.engine.subject import ForwardInputs, InputSpec
from dstt_profile.profiles import inputs as forward_inputs
from dstt_profile.profiles.propainter.sizes import Sizes
from dstt_profile.records.runconfig import RunConfig

T_DILATION = 2  # the forward's default: block j's masked windows see frames j % 2, j % 2 + 2, ...


@dataclass(frozen=True)
class Windows:
    """What the run's masks make of the windows: local frames l, frames l_d decoded, t_dilation, the masked
    windows of each clip of the batch (`masked`), of `total` windows per clip."""

    local: int
    l_d: int
    t_d: int
    masked: tuple[int, ...]
    total: int

    @property
    def M(self) -> int:  # masked windows, whole batch
        return sum(self.masked)

    @property
    def U(self) -> int:  # unmasked windows, whole batch
        return self.total * len(self.masked) - self.M


def _spans(size: int, kernel: int, stride: int, padding: int) -> list[range]:
    """The input indices each output of a max-pool reads (padding reads nothing)."""
    out = (size + 2 * padding - kernel) // stride + 1
    return [range(max(0, i * stride - padding), min(size, i * stride - padding + kernel)) for i in range(out)]


def box_windows(height: int, width: int, sizes: Sizes, grid: tuple[int, int]) -> int:
    """Masked windows per clip for the stated mask: 1 on rows [(H - H//2)//2, +H//2) and columns
    [(W - W//2)//2, +W//2) of every frame. The forward's chain, per axis: nearest 1/4 resize (row r reads row
    4r), the max-pool onto the token grid, the windows' max-pool (the grid padded with zeros to whole windows)."""
    counts = []
    for axis, full in enumerate((height, width)):
        first = (full - full // 2) // 2
        feature = [first <= 4 * r < first + full // 2 for r in range(grid[axis])]
        (kernel, stride, padding) = (v[axis] for v in sizes.mask_pool)
        tokens = [any(feature[r] for r in span) for span in _spans(grid[axis], kernel, stride, padding)]
        size = sizes.window[axis]
        counts.append(sum(any(tokens[a * size:(a + 1) * size]) for a in range(math.ceil(len(tokens) / size))))
    return counts[0] * counts[1]


def masked_windows(masks_in: torch.Tensor, local: int, sizes: Sizes) -> tuple[int, ...]:
    """Masked windows of each clip of a (b, t, 1, H, W) mask, as the forward counts them over `local` frames."""
    b, _, _, height, width = masks_in.shape
    with torch.no_grad():
        feature = F.interpolate(masks_in.reshape(-1, 1, height, width).float(), scale_factor=1 / 4, mode="nearest")
        feature = feature.view(b, -1, 1, *feature.shape[-2:])[:, :local]
        (kernel, stride, padding) = sizes.mask_pool
        tokens = F.max_pool2d(feature.reshape(-1, 1, *feature.shape[-2:]), kernel, stride, padding)
        (wh, ww), (nh, nw) = sizes.window, tokens.shape[-2:]
        tokens = F.pad(tokens, (0, math.ceil(nw / ww) * ww - nw, 0, math.ceil(nh / wh) * wh - nh))
        windows = F.max_pool2d(tokens, (wh, ww), (wh, ww)).view(b, local, -1).sum(dim=1)
    return tuple(int(v) for v in (windows != 0).sum(dim=1))


def _argument(values: ForwardInputs, index: int, name: str) -> Any:
    if name in values.kwargs:
        return values.kwargs[name]
    return values.args[index] if index < len(values.args) else None


@functools.lru_cache(maxsize=32)
def window_counts(run: RunConfig, sizes: Sizes, grid: tuple[int, int]) -> Windows:
    """The run's windows: from its inputs' values (masks_in, num_local_frames, t_dilation) where it names an
    inputs function whose arguments hold them, else for the stated mask with every frame local."""
    nh, nw = sizes.grid(*grid)
    total = math.ceil(nh / sizes.window[0]) * math.ceil(nw / sizes.window[1])
    train = run.mode == "train"
    if run.inputs is not None:
        spec = InputSpec(batch=run.batch, frames=run.frames, height=run.height, width=run.width, dtype=torch.float32,
                         device="cpu", real=True)
        values = forward_inputs.maker(run)(spec)
        masks, local = _argument(values, 2, "masks_in"), _argument(values, 4, "num_local_frames")
        dilation = _argument(values, 6, "t_dilation")
        if isinstance(masks, torch.Tensor) and masks.dim() == 5 and isinstance(local, int):
            t_d = dilation if isinstance(dilation, int) and dilation > 0 else T_DILATION
            counted = run.frames if train else local
            return Windows(local, counted, t_d, masked_windows(masks, counted, sizes), total)
    box = box_windows(run.height, run.width, sizes, grid)
    return Windows(run.frames, run.frames, T_DILATION, (box,) * run.batch, total)
