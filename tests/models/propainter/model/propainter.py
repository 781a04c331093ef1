"""Test stand-in for ProPainter's generator (`model/propainter.py` of Zhou et al., ICCV 2023: "ProPainter:
Improving Propagation and Transformer for Video Inpainting").

Written in the release's style: 8 temporal sparse transformer blocks of 4 heads with (5, 9) windows and
(4, 4) token pooling, the release's module names, parameter shapes and operation order: `encoder` (frames
and both masks, 5 channels), the flows and masks resized to the feature map, `max_pool` (the mask on the
token grid), `feat_prop_module` (flow-guided deformable propagation), `ss`, `transformers`, `sc`,
`decoder`, then tanh. `img_prop_module` (image propagation) is a separate method, not part of the
forward. The deformable convolution is plain torch ops (model/modules/deformconv.py); no torchvision,
einops or mmcv is needed. The forward is `(masked_frames, completed_flows, masks_in, masks_updated,
num_local_frames, interpolation='bilinear', t_dilation=2)`: the frames (b, t, 3, H, W), the completed
flows as a (forward, backward) pair of (b, t-1, 2, H, W), the masks (b, t, 1, H, W); it returns the
local frames inpainted, (b, num_local_frames, 3, H, W). The sparse attention selects windows by the
mask's values, so the pass needs real masks.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.modules.base_module import BaseNetwork
from model.modules.deformconv import ModulatedDeformConv2d, deform_conv2d
from model.modules.flow_loss_utils import flow_warp
from model.modules.sparse_transformer import SoftComp, SoftSplit, TemporalSparseTransformerBlock

from .misc import constant_init


def length_sq(x):
    return torch.sum(torch.square(x), dim=1, keepdim=True)


def fbConsistencyCheck(flow_fw, flow_bw, alpha1=0.01, alpha2=0.5):
    """1 where the backward flow, warped by the forward flow, cancels it (within a magnitude-scaled bound)."""
    flow_bw_warped = flow_warp(flow_bw, flow_fw.permute(0, 2, 3, 1))
    flow_diff_fw = flow_fw + flow_bw_warped
    mag_sq_fw = length_sq(flow_fw) + length_sq(flow_bw_warped)
    occ_thresh_fw = alpha1 * mag_sq_fw + alpha2
    fb_valid_fw = (length_sq(flow_diff_fw) < occ_thresh_fw).to(flow_fw)
    return fb_valid_fw


class DeformableAlignment(ModulatedDeformConv2d):
    """Aligns the propagated feature to the current frame, offsets guided by the flow."""

    def __init__(self, *args, **kwargs):
        self.max_residue_magnitude = kwargs.pop("max_residue_magnitude", 3)
        super().__init__(*args, **kwargs)
        c = self.out_channels
        self.conv_offset = nn.Sequential(
            nn.Conv2d(2 * c + 2 + 1 + 2, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, 27 * self.deform_groups, 3, 1, 1),
        )
        self.init_offset()

    def init_offset(self):
        constant_init(self.conv_offset[-1], val=0, bias=0)

    def forward(self, x, cond_feat, flow):
        out = self.conv_offset(cond_feat)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        offset = offset + flow.flip(1).repeat(1, offset.size(1) // 2, 1, 1)
        mask = torch.sigmoid(mask)
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask)


class BidirectionalPropagation(nn.Module):
    """Backward then forward propagation over the local frames: learnable (features: deformable alignment and
    a refining backbone, then `fuse`), or not (images: copied where the flow is consistent)."""

    def __init__(self, channel, learnable=True):
        super().__init__()
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        self.channel = channel
        self.prop_list = ["backward_1", "forward_1"]
        self.learnable = learnable
        if learnable:
            for name in self.prop_list:
                self.deform_align[name] = DeformableAlignment(channel, channel, 3, padding=1, deform_groups=16)
                self.backbone[name] = nn.Sequential(
                    nn.Conv2d(2 * channel + 2, channel, 3, 1, 1),
                    nn.LeakyReLU(negative_slope=0.2, inplace=True),
                    nn.Conv2d(channel, channel, 3, 1, 1),
                )
            self.fuse = nn.Sequential(
                nn.Conv2d(2 * channel + 2, channel, 3, 1, 1),
                nn.LeakyReLU(negative_slope=0.2, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )

    def binary_mask(self, mask, th=0.1):
        mask[mask > th] = 1
        mask[mask <= th] = 0
        return mask.to(mask)

    def forward(self, x, flows_forward, flows_backward, mask, interpolation="bilinear"):
        b, t, c, h, w = x.shape
        feats, masks = {}, {}
        feats["input"] = [x[:, i, :, :, :] for i in range(t)]
        masks["input"] = [mask[:, i, :, :, :] for i in range(t)]
        prop_list = ["backward_1", "forward_1"]
        cache_list = ["input", *prop_list]
        for p_i, name in enumerate(prop_list):
            feats[name] = []
            masks[name] = []
            if "backward" in name:
                frame_idx = list(range(t))[::-1]
                flow_idx = frame_idx
                flows_for_prop, flows_for_check = flows_forward, flows_backward
            else:
                frame_idx = list(range(t))
                flow_idx = list(range(-1, t - 1))
                flows_for_prop, flows_for_check = flows_backward, flows_forward
            for i, idx in enumerate(frame_idx):
                feat_current = feats[cache_list[p_i]][idx]
                mask_current = masks[cache_list[p_i]][idx]
                if i == 0:
                    feat_prop = feat_current
                    mask_prop = mask_current
                else:
                    flow_prop = flows_for_prop[:, flow_idx[i], :, :, :]
                    flow_check = flows_for_check[:, flow_idx[i], :, :, :]
                    flow_vaild_mask = fbConsistencyCheck(flow_prop, flow_check)
                    feat_warped = flow_warp(feat_prop, flow_prop.permute(0, 2, 3, 1), interpolation)
                    if self.learnable:
                        cond = torch.cat([feat_current, feat_warped, flow_prop, flow_vaild_mask, mask_current], dim=1)
                        feat_prop = self.deform_align[name](feat_prop, cond, flow_prop)
                        mask_prop = mask_current
                    else:
                        mask_prop_valid = flow_warp(mask_prop, flow_prop.permute(0, 2, 3, 1))
                        mask_prop_valid = self.binary_mask(mask_prop_valid)
                        union_vaild_mask = self.binary_mask(mask_current * flow_vaild_mask * (1 - mask_prop_valid))
                        feat_prop = union_vaild_mask * feat_warped + (1 - union_vaild_mask) * feat_current
                        mask_prop = self.binary_mask(mask_current * (1 - (flow_vaild_mask * (1 - mask_prop_valid))))
                if self.learnable:
                    feat = torch.cat([feat_current, feat_prop, mask_current], dim=1)
                    feat_prop = feat_prop + self.backbone[name](feat)
                feats[name].append(feat_prop)
                masks[name].append(mask_prop)
            if "backward" in name:
                feats[name] = feats[name][::-1]
                masks[name] = masks[name][::-1]

        outputs_b = torch.stack(feats["backward_1"], dim=1).view(-1, c, h, w)
        outputs_f = torch.stack(feats["forward_1"], dim=1).view(-1, c, h, w)
        if self.learnable:
            mask_in = mask.view(-1, 2, h, w)
            masks_f = None
            outputs = self.fuse(torch.cat([outputs_b, outputs_f, mask_in], dim=1)) + x.view(-1, c, h, w)
        else:
            masks_f = torch.stack(masks["forward_1"], dim=1)
            outputs = outputs_f
        return outputs_b.view(b, -1, c, h, w), outputs_f.view(b, -1, c, h, w), outputs.view(b, -1, c, h, w), masks_f


class Encoder(nn.Module):
    """As E2FGVI's encoder, on 5 channels (frame and both masks): (bt, 5, H, W) -> (bt, 128, H/4, W/4)."""

    def __init__(self):
        super().__init__()
        self.group = [1, 2, 4, 8, 1]
        convs = [(5, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 1), (256, 384, 1, 1),
                 (640, 512, 1, 2), (768, 384, 1, 4), (640, 256, 1, 8), (512, 128, 1, 1)]
        layers = []
        for c_in, c_out, stride, groups in convs:
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, groups=groups),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        bt, c, _, _ = x.size()
        out = x
        for i, layer in enumerate(self.layers):
            if i == 8:
                x0 = out
                _, _, h, w = x0.size()
            if i > 8 and i % 2 == 0:
                g = self.group[(i - 8) // 2]
                x = x0.view(bt, g, -1, h, w)
                o = out.view(bt, g, -1, h, w)
                out = torch.cat([x, o], 2).view(bt, -1, h, w)
            out = layer(out)
        return out


class deconv(nn.Module):
    def __init__(self, input_channel, output_channel, kernel_size=3, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(input_channel, output_channel, kernel_size=kernel_size, stride=1, padding=padding)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class InpaintGenerator(BaseNetwork):
    def __init__(self, init_weights=True, model_path=None):
        super().__init__()
        channel, hidden = 128, 512
        self.encoder = Encoder()
        self.decoder = nn.Sequential(
            deconv(channel, 128, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 64, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            deconv(64, 64, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 3, kernel_size=3, stride=1, padding=1),
        )
        kernel_size, padding, stride = (7, 7), (3, 3), (3, 3)
        t2t_params = {"kernel_size": kernel_size, "stride": stride, "padding": padding}
        self.ss = SoftSplit(channel, hidden, kernel_size, stride, padding)
        self.sc = SoftComp(channel, hidden, kernel_size, stride, padding)
        self.max_pool = nn.MaxPool2d(kernel_size, stride, padding)
        self.img_prop_module = BidirectionalPropagation(3, learnable=False)
        self.feat_prop_module = BidirectionalPropagation(128, learnable=True)
        self.transformers = TemporalSparseTransformerBlock(dim=hidden, n_head=4, window_size=(5, 9), pool_size=(4, 4),
                                                           depths=8, t2t_params=t2t_params)
        if init_weights:
            self.init_weights()
        if model_path is not None:
            self.load_state_dict(torch.load(model_path, map_location="cpu"), strict=True)

    def img_propagation(self, masked_frames, completed_flows, masks, interpolation="nearest"):
        _, _, prop_frames, updated_masks = self.img_prop_module(masked_frames, completed_flows[0], completed_flows[1],
                                                                masks, interpolation)
        return prop_frames, updated_masks

    def forward(self, masked_frames, completed_flows, masks_in, masks_updated, num_local_frames,
                interpolation="bilinear", t_dilation=2):
        l_t = num_local_frames
        b, t, _, ori_h, ori_w = masked_frames.size()
        enc_feat = self.encoder(torch.cat([masked_frames.view(b * t, 3, ori_h, ori_w),
                                           masks_in.view(b * t, 1, ori_h, ori_w),
                                           masks_updated.view(b * t, 1, ori_h, ori_w)], dim=1))
        _, c, h, w = enc_feat.size()
        local_feat = enc_feat.view(b, t, c, h, w)[:, :l_t, ...]
        ref_feat = enc_feat.view(b, t, c, h, w)[:, l_t:, ...]
        fold_feat_size = (h, w)

        ds_flows_f = F.interpolate(completed_flows[0].view(-1, 2, ori_h, ori_w), scale_factor=1 / 4, mode="bilinear",
                                   align_corners=False).view(b, l_t - 1, 2, h, w) / 4.0
        ds_flows_b = F.interpolate(completed_flows[1].view(-1, 2, ori_h, ori_w), scale_factor=1 / 4, mode="bilinear",
                                   align_corners=False).view(b, l_t - 1, 2, h, w) / 4.0
        ds_mask_in = F.interpolate(masks_in.reshape(-1, 1, ori_h, ori_w), scale_factor=1 / 4,
                                   mode="nearest").view(b, t, 1, h, w)
        ds_mask_in_local = ds_mask_in[:, :l_t]
        ds_mask_updated_local = F.interpolate(masks_updated[:, :l_t].reshape(-1, 1, ori_h, ori_w), scale_factor=1 / 4,
                                              mode="nearest").view(b, l_t, 1, h, w)
        if self.training:
            mask_pool_l = self.max_pool(ds_mask_in.view(-1, 1, h, w))
            mask_pool_l = mask_pool_l.view(b, t, 1, mask_pool_l.size(-2), mask_pool_l.size(-1))
        else:
            mask_pool_l = self.max_pool(ds_mask_in_local.view(-1, 1, h, w))
            mask_pool_l = mask_pool_l.view(b, l_t, 1, mask_pool_l.size(-2), mask_pool_l.size(-1))

        prop_mask_in = torch.cat([ds_mask_in_local, ds_mask_updated_local], dim=2)
        _, _, local_feat, _ = self.feat_prop_module(local_feat, ds_flows_f, ds_flows_b, prop_mask_in, interpolation)
        enc_feat = torch.cat((local_feat, ref_feat), dim=1)

        trans_feat = self.ss(enc_feat.view(-1, c, h, w), b, fold_feat_size)
        mask_pool_l = mask_pool_l.permute(0, 1, 3, 4, 2).contiguous()  # b t c h w -> b t h w c
        trans_feat = self.transformers(trans_feat, fold_feat_size, mask_pool_l, t_dilation=t_dilation)
        trans_feat = self.sc(trans_feat, t, fold_feat_size)
        trans_feat = trans_feat.view(b, t, -1, h, w)
        enc_feat = enc_feat + trans_feat

        if self.training:
            output = self.decoder(enc_feat.view(-1, c, h, w))
            output = torch.tanh(output).view(b, t, 3, ori_h, ori_w)
        else:
            output = self.decoder(enc_feat[:, :l_t].view(-1, c, h, w))
            output = torch.tanh(output).view(b, l_t, 3, ori_h, ori_w)
        return output
