"""SPyNet, the flow estimator E2FGVI's generator runs on its local frames (its `update_spynet`).

A coarse-to-fine pyramid of six levels; each level refines the upsampled flow with a basic module of
five 7x7 convolutions (8 -> 32 -> 64 -> 32 -> 16 -> 2 channels). Each convolution sits in a
`ConvModule`-shaped wrapper (`conv`, then `activate`), so the parameter names are the release's
(`basic_module.L.basic_module.M.conv.weight`). No pretrained weights are fetched.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvModule(nn.Module):
    """A convolution followed by an optional in-place ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, act=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        if act:
            self.activate = nn.ReLU(inplace=True)
        self.with_activation = act

    def forward(self, x):
        x = self.conv(x)
        return self.activate(x) if self.with_activation else x


class SPyNetBasicModule(nn.Module):
    """One pyramid level: (n, 8, h, w) [reference, warped support, flow] -> (n, 2, h, w) residual flow."""

    def __init__(self):
        super().__init__()
        widths = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(*[
            ConvModule(c_in, c_out, 7, padding=3, act=i < len(widths) - 2)
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:]))
        ])

    def forward(self, tensor_input):
        return self.basic_module(tensor_input)


class SPyNet(nn.Module):
    """Flow from `ref` to `supp`, both (n, 3, h, w) in [0, 1]; returns (n, 2, h, w)."""

    def __init__(self, use_pretrain=True, pretrained=None):
        super().__init__()
        self.basic_module = nn.ModuleList([SPyNetBasicModule() for _ in range(6)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def compute_flow(self, ref, supp):
        n, _, h, w = ref.size()
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(5):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2, count_include_pad=False))
        refs, supps = refs[::-1], supps[::-1]
        flow = refs[0].new_zeros(n, 2, h // 32, w // 32)
        for level, (r, s) in enumerate(zip(refs, supps)):
            if level == 0:
                flow_up = flow
            else:
                flow_up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            flow = flow_up + self.basic_module[level](torch.cat([
                r, flow_warp(s, flow_up.permute(0, 2, 3, 1).contiguous(), padding_mode="border"), flow_up], 1))
        return flow

    def forward(self, ref, supp):
        h, w = ref.shape[2:4]
        h_up = h if h % 32 == 0 else 32 * (h // 32 + 1)
        w_up = w if w % 32 == 0 else 32 * (w // 32 + 1)
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self.compute_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        flow[:, 0, :, :] *= float(w) / float(w_up)
        flow[:, 1, :, :] *= float(h) / float(h_up)
        return flow


def flow_warp(x, flow, interpolation="bilinear", padding_mode="zeros", align_corners=True):
    """Sample x (n, c, h, w) at every pixel moved by flow (n, h, w, 2), in pixels (x, y)."""
    _, _, h, w = x.size()
    grid_y, grid_x = torch.meshgrid(torch.arange(0, h), torch.arange(0, w), indexing="ij")
    grid = torch.stack((grid_x, grid_y), 2).type_as(x)
    grid.requires_grad = False
    moved = grid + flow
    moved_x = 2.0 * moved[:, :, :, 0] / max(w - 1, 1) - 1.0
    moved_y = 2.0 * moved[:, :, :, 1] / max(h - 1, 1) - 1.0
    moved = torch.stack((moved_x, moved_y), dim=3)
    return F.grid_sample(x, moved, mode=interpolation, padding_mode=padding_mode, align_corners=align_corners)
