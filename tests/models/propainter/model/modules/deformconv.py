"""Modulated deformable convolution: the parameters (`weight` (out, in/groups, kh, kw), `bias` (out,)) and the
operation in plain torch ops (bilinear sampling of each deformable group with `grid_sample`, scaled by the
mask, then one matrix product with the weight)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def deform_conv2d(x, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """offset (n, 2*G*K, oh, ow) as (dy, dx) per tap of each of the G deformable groups, mask (n, G*K, oh, ow)."""
    n, c, h, w = x.shape
    out_c, _, kh, kw = weight.shape
    taps = kh * kw
    groups = offset.shape[1] // (2 * taps)
    oh, ow = offset.shape[2], offset.shape[3]
    ky, kx = torch.meshgrid(torch.arange(kh) * dilation, torch.arange(kw) * dilation, indexing="ij")
    base_y = (torch.arange(oh) * stride - padding).view(1, 1, 1, oh, 1) + ky.reshape(1, 1, taps, 1, 1)
    base_x = (torch.arange(ow) * stride - padding).view(1, 1, 1, 1, ow) + kx.reshape(1, 1, taps, 1, 1)
    pairs = offset.view(n, groups, taps, 2, oh, ow)
    pos_y = base_y.type_as(x) + pairs[:, :, :, 0]
    pos_x = base_x.type_as(x) + pairs[:, :, :, 1]
    grid = torch.stack((2.0 * pos_x / max(w - 1, 1) - 1.0, 2.0 * pos_y / max(h - 1, 1) - 1.0), dim=-1)
    grid = grid.view(n * groups, taps * oh, ow, 2)
    sampled = F.grid_sample(x.reshape(n * groups, c // groups, h, w), grid, mode="bilinear", padding_mode="zeros",
                            align_corners=True)
    sampled = sampled.view(n, groups, c // groups, taps, oh, ow)
    if mask is not None:
        sampled = sampled * mask.view(n, groups, 1, taps, oh, ow)
    out = torch.matmul(weight.view(out_c, -1), sampled.reshape(n, c * taps, oh * ow))
    if bias is not None:
        out = out + bias.view(1, out_c, 1)
    return out.view(n, out_c, oh, ow)


class ModulatedDeformConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deform_groups=1, bias=True):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.deform_groups = deform_groups
        self.with_bias = bias
        self.transposed = False
        self.output_padding = (0,)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.init_weights()

    def init_weights(self):
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
