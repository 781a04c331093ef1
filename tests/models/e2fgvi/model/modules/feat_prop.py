"""Flow-guided feature propagation of E2FGVI's generator (its `feat_prop_module`).

Second-order deformable alignment in both directions over the local frames, then a 1x1 fusion. The
modulated deformable convolution is written here in plain torch ops (bilinear sampling with
`grid_sample`, one per deformable group, then one matrix product), with the parameter shapes of a
modulated deformable convolution: `weight` (out, in, 3, 3), `bias` (out,).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.modules.flow_comp import flow_warp


def modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups):
    """Modulated deformable convolution: offset (n, 2*G*K, oh, ow) as (dy, dx) pairs, mask (n, G*K, oh, ow)."""
    n, c, h, w = x.shape
    out_c, _, kh, kw = weight.shape
    taps = kh * kw
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    ky, kx = torch.meshgrid(torch.arange(kh) * dilation, torch.arange(kw) * dilation, indexing="ij")
    base_y = (torch.arange(oh) * stride - padding).view(1, 1, 1, oh, 1) + ky.reshape(1, 1, taps, 1, 1)
    base_x = (torch.arange(ow) * stride - padding).view(1, 1, 1, 1, ow) + kx.reshape(1, 1, taps, 1, 1)
    pairs = offset.view(n, deform_groups, taps, 2, oh, ow)
    pos_y = base_y.type_as(x) + pairs[:, :, :, 0]
    pos_x = base_x.type_as(x) + pairs[:, :, :, 1]
    grid = torch.stack((2.0 * pos_x / max(w - 1, 1) - 1.0, 2.0 * pos_y / max(h - 1, 1) - 1.0), dim=-1)
    grid = grid.view(n * deform_groups, taps * oh, ow, 2)
    sampled = F.grid_sample(x.reshape(n * deform_groups, c // deform_groups, h, w), grid, mode="bilinear",
                            padding_mode="zeros", align_corners=True)
    sampled = sampled.view(n, deform_groups, c // deform_groups, taps, oh, ow)
    sampled = sampled * mask.view(n, deform_groups, 1, taps, oh, ow)
    columns = sampled.reshape(n, c * taps, oh * ow)
    out = torch.matmul(weight.view(out_c, -1), columns)
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
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class SecondOrderDeformableAlignment(ModulatedDeformConv2d):
    """Aligns the two previous propagated features to the current frame, offsets guided by both flows."""

    def __init__(self, *args, **kwargs):
        self.max_residue_magnitude = kwargs.pop("max_residue_magnitude", 10)
        super().__init__(*args, **kwargs)
        c = self.out_channels
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * c + 4, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, 27 * self.deform_groups, 3, 1, 1),
        )
        self.init_offset()

    def init_offset(self):
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, x, extra_feat, flow_1, flow_2):
        extra_feat = torch.cat([extra_feat, flow_1, flow_2], dim=1)
        out = self.conv_offset(extra_feat)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        offset_1, offset_2 = torch.chunk(offset, 2, dim=1)
        offset_1 = offset_1 + flow_1.flip(1).repeat(1, offset_1.size(1) // 2, 1, 1)
        offset_2 = offset_2 + flow_2.flip(1).repeat(1, offset_2.size(1) // 2, 1, 1)
        offset = torch.cat([offset_1, offset_2], dim=1)
        mask = torch.sigmoid(mask)
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride, self.padding,
                                       self.dilation, self.groups, self.deform_groups)


class BidirectionalPropagation(nn.Module):
    """x (b, t, c, h, w) and the flows (b, t-1, 2, h, w) in both directions -> (b, t, c, h, w)."""

    def __init__(self, channel):
        super().__init__()
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        self.channel = channel
        for i, name in enumerate(("backward_", "forward_")):
            self.deform_align[name] = SecondOrderDeformableAlignment(2 * channel, channel, 3, padding=1,
                                                                     deform_groups=16)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1),
                nn.LeakyReLU(negative_slope=0.1, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1, 1, 0)

    def forward(self, x, flows_backward, flows_forward):
        b, t, c, h, w = x.shape
        feats = {"spatial": [x[:, i, :, :, :] for i in range(t)]}
        for name in ("backward_", "forward_"):
            feats[name] = []
            frames = list(range(t))
            flow_of = list(range(-1, t - 1))
            if name == "backward_":
                frames = frames[::-1]
                flows = flows_backward
            else:
                flows = flows_forward
            feat_prop = x.new_zeros(b, self.channel, h, w)
            for i, idx in enumerate(frames):
                feat_current = feats["spatial"][idx]
                if i > 0:
                    flow_n1 = flows[:, flow_of[i], :, :, :]
                    cond_n1 = flow_warp(feat_prop, flow_n1.permute(0, 2, 3, 1))
                    feat_n2 = torch.zeros_like(feat_prop)
                    flow_n2 = torch.zeros_like(flow_n1)
                    cond_n2 = torch.zeros_like(cond_n1)
                    if i > 1:
                        feat_n2 = feats[name][-2]
                        flow_n2 = flows[:, flow_of[i - 1], :, :, :]
                        flow_n2 = flow_n1 + flow_warp(flow_n2, flow_n1.permute(0, 2, 3, 1))
                        cond_n2 = flow_warp(feat_n2, flow_n2.permute(0, 2, 3, 1))
                    cond = torch.cat([cond_n1, feat_current, cond_n2], dim=1)
                    feat_prop = torch.cat([feat_prop, feat_n2], dim=1)
                    feat_prop = self.deform_align[name](feat_prop, cond, flow_n1, flow_n2)
                feat = [feat_current, *(feats[k][idx] for k in feats if k not in ("spatial", name)), feat_prop]
                feat = torch.cat(feat, dim=1)
                feat_prop = feat_prop + self.backbone[name](feat)
                feats[name].append(feat_prop)
            if name == "backward_":
                feats[name] = feats[name][::-1]
        outputs = []
        for _ in range(t):
            aligned = [feats[k].pop(0) for k in feats if k != "spatial"]
            aligned = torch.cat(aligned, dim=1)
            outputs.append(self.fusion(aligned))
        return torch.stack(outputs, dim=1) + x
