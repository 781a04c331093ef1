"""Modulated deformable convolution in plain torch ops, for the torchvision and mmcv stand-ins (README.md).

Offsets are (N, 2 * deform_groups * kh * kw, H_out, W_out), each kernel tap's (dy, dx) in turn; the mask
is (N, deform_groups * kh * kw, H_out, W_out). Outside the input a sample reads zeros, as in both packages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                  dilation: int | tuple[int, int] = 1, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The convolution of `x` with `weight`, each tap read at its offset position and scaled by `mask`;
    the groups follow from the weight's input channels, the deformable groups from the offset's channels."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    taps, groups = kh * kw, channels // group_channels
    deform_groups = offset.shape[1] // (2 * taps)
    out_h, out_w = offset.shape[2], offset.shape[3]
    # each tap's position before its offset: row oy*sh - ph + ky*dh, column ox*sw - pw + kx*dw
    ky, kx = torch.meshgrid(torch.arange(kh, device=x.device) * dh, torch.arange(kw, device=x.device) * dw, indexing="ij")
    rows = ky.reshape(taps, 1, 1) + (torch.arange(out_h, device=x.device) * sh - ph).view(1, out_h, 1)
    cols = kx.reshape(taps, 1, 1) + (torch.arange(out_w, device=x.device) * sw - pw).view(1, 1, out_w)
    moved = offset.view(n, deform_groups, taps, 2, out_h, out_w)
    y = rows.to(x.dtype) + moved[:, :, :, 0]
    x_at = cols.to(x.dtype) + moved[:, :, :, 1]
    # grid_sample's coordinates (align_corners=False): pixel i's centre is (2i + 1) / size - 1
    grid = torch.stack(((2 * x_at + 1) / width - 1, (2 * y + 1) / height - 1), dim=-1)
    grid = grid.view(n * deform_groups, taps * out_h, out_w, 2)
    sampled = F.grid_sample(x.reshape(n * deform_groups, channels // deform_groups, height, width), grid,
                            mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.view(n, deform_groups, channels // deform_groups, taps, out_h, out_w)
    if mask is not None:
        sampled = sampled * mask.view(n, deform_groups, 1, taps, out_h, out_w)
    columns = sampled.reshape(n, groups, group_channels * taps, out_h * out_w)
    kernel = weight.reshape(groups, out_channels // groups, group_channels * taps)
    out = torch.einsum("gok,ngkp->ngop", kernel, columns).reshape(n, out_channels, out_h, out_w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)
