"""Test stand-in for the STTN generator (model/sttn.py, `InpaintGenerator`, of the ECCV 2020 paper's code).

Sizes are fixed in the code as in the paper's release: 240x432 frames (a 60x108 feature map, which the four
patch sizes of the multi-scale attention tile exactly), 256 channels, 8 blocks. Module names, parameter
shapes and the order of the operations the forward runs are the release's, so a profile of this file is a
profile of the release; that includes the release's `masked_fill` whose result is never used (the mask
costs its memory and changes no score). The discriminator is left out: this file imports torch alone.

Input: masked frames (b, t, 3, H, W) and their masks (b, t, 1, H, W), 1 inside the hole; output
(b*t, 3, H, W) after tanh.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _leaky():
    return nn.LeakyReLU(0.2, inplace=True)


def _conv3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1)


class BaseNetwork(nn.Module):
    def init_weights(self, gain=0.02):
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


class deconv(nn.Module):
    """Bilinear x2 upsampling, then a convolution."""

    def __init__(self, input_channel, output_channel, kernel_size=3, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(input_channel, output_channel, kernel_size=kernel_size, stride=1, padding=padding)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class Attention(nn.Module):
    """Scaled dot-product attention -> (output, attention matrix); `m` marks the keys inside the hole."""

    def forward(self, query, key, value, m):
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(query.size(-1))
        scores.masked_fill(m, -1e9)  # as released: out of place, and its result unused
        weights = F.softmax(scores, dim=-1)
        return torch.matmul(weights, value), weights


class MultiHeadedAttention(nn.Module):
    """One head per patch size: each takes c/len(patchsize) channels, cuts every frame into patches of its
    size and lets every patch of the clip attend to every other."""

    def __init__(self, patchsize, d_model):
        super().__init__()
        self.patchsize = patchsize  # (width, height) of each head's patches
        self.query_embedding = nn.Conv2d(d_model, d_model, kernel_size=1, padding=0)
        self.value_embedding = nn.Conv2d(d_model, d_model, kernel_size=1, padding=0)
        self.key_embedding = nn.Conv2d(d_model, d_model, kernel_size=1, padding=0)
        self.output_linear = nn.Sequential(nn.Conv2d(d_model, d_model, kernel_size=3, padding=1), _leaky())
        self.attention = Attention()

    def forward(self, x, m, b, c):
        bt, _, h, w = x.size()
        t = bt // b
        heads = len(self.patchsize)
        d_k = c // heads
        output = []
        _query = self.query_embedding(x)
        _key = self.key_embedding(x)
        _value = self.value_embedding(x)
        chunks = (torch.chunk(p, heads, dim=1) for p in (_query, _key, _value))
        for (width, height), query, key, value in zip(self.patchsize, *chunks):
            # (b*t, ch, h, w) -> (b, t * out_h * out_w, ch * height * width): a token per patch per frame
            out_h, out_w = h // height, w // width
            tokens = t * out_h * out_w
            patch = (out_h, height, out_w, width)
            mm = m.view(b, t, 1, *patch)
            mm = mm.permute(0, 1, 3, 5, 2, 4, 6).contiguous().view(b, tokens, height * width)
            mm = (mm.mean(-1) > 0.5).unsqueeze(1).repeat(1, tokens, 1)  # keys inside the hole
            query = query.view(b, t, d_k, *patch)
            query = query.permute(0, 1, 3, 5, 2, 4, 6).contiguous().view(b, tokens, d_k * height * width)
            key = key.view(b, t, d_k, *patch)
            key = key.permute(0, 1, 3, 5, 2, 4, 6).contiguous().view(b, tokens, d_k * height * width)
            value = value.view(b, t, d_k, *patch)
            value = value.permute(0, 1, 3, 5, 2, 4, 6).contiguous().view(b, tokens, d_k * height * width)
            y, _ = self.attention(query, key, value, mm)
            # back to (b*t, d_k, h, w), this head's channels
            y = y.view(b, t, out_h, out_w, d_k, height, width)
            y = y.permute(0, 1, 4, 2, 5, 3, 6).contiguous().view(bt, d_k, h, w)
            output.append(y)
        output = torch.cat(output, 1)
        x = self.output_linear(output)
        return x


class FeedForward(nn.Module):
    """Two 3x3 convolutions, the first dilated."""

    def __init__(self, d_model):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(d_model, d_model, kernel_size=3, padding=2, dilation=2), _leaky(),
            nn.Conv2d(d_model, d_model, kernel_size=3, padding=1), _leaky(),
        )

    def forward(self, x):
        return self.conv(x)


class TransformerBlock(nn.Module):
    """Attention and FFN, each with a residual add; the block passes the dict it is given on."""

    def __init__(self, patchsize, hidden=128):
        super().__init__()
        self.attention = MultiHeadedAttention(patchsize, d_model=hidden)
        self.feed_forward = FeedForward(hidden)

    def forward(self, state):
        x, m, b, c = state["x"], state["m"], state["b"], state["c"]
        x = x + self.attention(x, m, b, c)
        x = x + self.feed_forward(x)
        return {"x": x, "m": m, "b": b, "c": c}


class InpaintGenerator(BaseNetwork):
    def __init__(self, init_weights=True):
        super().__init__()
        channel, stack_num = 256, 8
        patchsize = [(108, 60), (36, 20), (18, 10), (9, 5)]
        self.transformer = nn.Sequential(*(TransformerBlock(patchsize, hidden=channel) for _ in range(stack_num)))
        self.encoder = nn.Sequential(
            _conv3(3, 64, stride=2), _leaky(),
            _conv3(64, 64), _leaky(),
            _conv3(64, 128, stride=2), _leaky(),
            _conv3(128, channel), _leaky(),
        )
        self.decoder = nn.Sequential(
            deconv(channel, 128, kernel_size=3, padding=1), _leaky(),
            _conv3(128, 64), _leaky(),
            deconv(64, 64, kernel_size=3, padding=1), _leaky(),
            _conv3(64, 3),
        )
        if init_weights:
            self.init_weights()

    def forward(self, masked_frames, masks):
        b, t, c, h, w = masked_frames.size()
        masks = masks.view(b * t, 1, h, w)
        enc_feat = self.encoder(masked_frames.view(b * t, c, h, w))
        channels = enc_feat.size(1)
        masks = F.interpolate(masks, scale_factor=1.0 / 4)
        enc_feat = self.transformer({"x": enc_feat, "m": masks, "b": b, "c": channels})["x"]
        output = self.decoder(enc_feat)
        output = torch.tanh(output)
        return output
