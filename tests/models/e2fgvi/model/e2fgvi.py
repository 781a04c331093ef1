"""Test stand-in for E2FGVI's generator (`model/e2fgvi.py` of Li et al., CVPR 2022: "Towards An
End-to-End Framework for Flow-Guided Video Inpainting").

Written in the release's style: sizes fixed in the code (240x432 frames: the soft split's fold size
is 60x108), 8 temporal focal transformer blocks of 4 heads with (5, 9) windows, and the release's
module names, parameter shapes and operation order: flow completion (`update_spynet`, SPyNet on the
local frames at 1/4 size), `encoder`, `feat_prop_module` (second-order deformable propagation),
`ss`, `transformer`, `sc`, `decoder`, then tanh. Its modules live in `model/modules/`, imported as
`model.modules.*`; neither folder has an `__init__.py`, as in the release. The forward is
`(masked_frames, num_local_frames)` and returns `(frames, (flows_forward, flows_backward))`.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.modules.feat_prop import BidirectionalPropagation, SecondOrderDeformableAlignment
from model.modules.flow_comp import SPyNet
from model.modules.tfocal_transformer import SoftComp, SoftSplit, TemporalFocalTransformerBlock


class BaseNetwork(nn.Module):
    def init_weights(self, gain=0.02):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """Four convolutions (two of stride 2), then five grouped ones, each but the first fed the fourth's
    output interleaved group by group with the running output: (bt, 3, H, W) -> (bt, 128, H/4, W/4)."""

    def __init__(self):
        super().__init__()
        self.group = [1, 2, 4, 8, 1]
        convs = [(3, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 1), (256, 384, 1, 1),
                 (640, 512, 1, 2), (768, 384, 1, 4), (640, 256, 1, 8), (512, 128, 1, 1)]
        layers = []
        for c_in, c_out, stride, groups in convs:
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, groups=groups),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        bt, c, h, w = x.size()
        h, w = h // 4, w // 4
        out = x
        for i, layer in enumerate(self.layers):
            if i == 8:
                x0 = out
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
    def __init__(self, init_weights=True):
        super().__init__()
        channel, hidden = 256, 512
        self.encoder = Encoder()
        self.decoder = nn.Sequential(
            deconv(channel // 2, 128, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 64, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            deconv(64, 64, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 3, kernel_size=3, stride=1, padding=1),
        )
        self.feat_prop_module = BidirectionalPropagation(channel // 2)

        kernel_size, padding, stride, output_size = (7, 7), (3, 3), (3, 3), (60, 108)
        t2t_params = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "output_size": output_size}
        self.ss = SoftSplit(channel // 2, hidden, kernel_size, stride, padding, t2t_param=t2t_params)
        self.sc = SoftComp(channel // 2, hidden, output_size, kernel_size, stride, padding)
        n_vecs = 1
        for size, k, p, s in zip(output_size, kernel_size, padding, stride):
            n_vecs *= int((size + 2 * p - (k - 1) - 1) / s + 1)

        depths = 8
        self.transformer = nn.Sequential(*[
            TemporalFocalTransformerBlock(dim=hidden, num_heads=4, window_size=(5, 9), focal_level=2,
                                          focal_window=(5, 9), n_vecs=n_vecs, t2t_params=t2t_params, pool_method="fc")
            for _ in range(depths)
        ])
        if init_weights:
            self.init_weights()
            for m in self.modules():
                if isinstance(m, SecondOrderDeformableAlignment):
                    m.init_offset()
        self.update_spynet = SPyNet()

    def forward_bidirect_flow(self, masked_local_frames):
        b, l_t, c, h, w = masked_local_frames.size()
        masked_local_frames = F.interpolate(masked_local_frames.view(-1, c, h, w), scale_factor=1 / 4,
                                            mode="bilinear", align_corners=True, recompute_scale_factor=True)
        masked_local_frames = masked_local_frames.view(b, l_t, c, h // 4, w // 4)
        mlf_1 = masked_local_frames[:, :-1, :, :, :].reshape(-1, c, h // 4, w // 4)
        mlf_2 = masked_local_frames[:, 1:, :, :, :].reshape(-1, c, h // 4, w // 4)
        pred_flows_forward = self.update_spynet(mlf_1, mlf_2)
        pred_flows_backward = self.update_spynet(mlf_2, mlf_1)
        pred_flows_forward = pred_flows_forward.view(b, l_t - 1, 2, h // 4, w // 4)
        pred_flows_backward = pred_flows_backward.view(b, l_t - 1, 2, h // 4, w // 4)
        return pred_flows_forward, pred_flows_backward

    def forward(self, masked_frames, num_local_frames):
        l_t = num_local_frames
        b, t, ori_c, ori_h, ori_w = masked_frames.size()
        masked_local_frames = (masked_frames[:, :l_t, ...] + 1) / 2
        pred_flows = self.forward_bidirect_flow(masked_local_frames)

        enc_feat = self.encoder(masked_frames.view(b * t, ori_c, ori_h, ori_w))
        _, c, h, w = enc_feat.size()
        local_feat = enc_feat.view(b, t, c, h, w)[:, :l_t, ...]
        ref_feat = enc_feat.view(b, t, c, h, w)[:, l_t:, ...]
        local_feat = self.feat_prop_module(local_feat, pred_flows[0], pred_flows[1])
        enc_feat = torch.cat((local_feat, ref_feat), dim=1)

        trans_feat = self.ss(enc_feat.view(-1, c, h, w), b)
        trans_feat = self.transformer(trans_feat)
        trans_feat = self.sc(trans_feat, t)
        trans_feat = trans_feat.view(b, t, -1, h, w)
        enc_feat = enc_feat + trans_feat

        output = self.decoder(enc_feat.view(b * t, c, h, w))
        output = torch.tanh(output)
        return output, pred_flows
