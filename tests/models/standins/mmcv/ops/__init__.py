"""Stand-in for mmcv.ops: `ModulatedDeformConv2d` and `modulated_deform_conv2d`, in plain torch ops."""

from __future__ import annotations

import math

import torch
from standin_deform import deform_conv2d
from torch import nn
from torch.nn.modules.utils import _pair


def modulated_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                            bias: torch.Tensor | None = None, stride: int | tuple[int, int] = 1,
                            padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                            groups: int = 1, deform_groups: int = 1) -> torch.Tensor:
    """mmcv's argument order; `groups` and `deform_groups` must agree with the weight's and offset's shapes."""
    kh, kw = weight.shape[2:]
    if x.shape[1] != weight.shape[1] * groups or offset.shape[1] != 2 * deform_groups * kh * kw:
        raise ValueError(f"modulated_deform_conv2d: groups={groups}, deform_groups={deform_groups} do not fit "
                         f"input {tuple(x.shape)}, weight {tuple(weight.shape)}, offset {tuple(offset.shape)}")
    return deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)


class ModulatedDeformConv2d(nn.Module):
    """mmcv's attributes (in_channels, out_channels, kernel_size, stride, padding, dilation as pairs, groups,
    deform_groups, weight, bias) and its `init_weights` hook, called from __init__; forward(x, offset, mask)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, deform_groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.groups, self.deform_groups = groups, deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.init_weights()

    def init_weights(self) -> None:
        stdv = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -stdv, stdv)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride, self.padding,
                                       self.dilation, self.groups, self.deform_groups)
