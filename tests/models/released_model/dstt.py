"""Test stand-in for the released DSTT generator file (model/dstt.py of the paper's code).

Written in the release's style: sizes fixed in the code (240x432 frames, 4 heads, 8 blocks, 2x2
zones), the transformer an nn.Sequential passing a dict from block to block, `deconv` for the
upsampling convolutions, and an import of the release's own `core.spectral_norm` (used by its
discriminator), so it needs `--model-path` pointing at the directory that holds `core/`. Module
names, parameter shapes and the operation order are the release's, so the profiler must find the
same figures here as for its built-in network.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from core.spectral_norm import spectral_norm as _spectral_norm


class BaseNetwork(nn.Module):
    def init_weights(self, gain=0.02):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class HierarchyEncoder(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.group = [1, 2, 4, 8, 1]
        self.layers = nn.ModuleList([
            nn.Conv2d(channel, channel, kernel_size=3, stride=1, padding=1, groups=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channel * 2, channel, kernel_size=3, stride=1, padding=1, groups=2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channel * 2, channel, kernel_size=3, stride=1, padding=1, groups=4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channel * 2, channel, kernel_size=3, stride=1, padding=1, groups=8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channel * 2, channel // 2, kernel_size=3, stride=1, padding=1, groups=1),
            nn.LeakyReLU(0.2, inplace=True),
        ])

    def forward(self, x):
        bt, c, h, w = x.size()
        out = x
        for i, layer in enumerate(self.layers):
            if i % 2 == 0 and i != 0:
                g = self.group[i // 2]
                x0 = x.view(bt, g, -1, h, w)
                out0 = out.view(bt, g, -1, h, w)
                out = torch.cat([x0, out0], 2).view(bt, -1, h, w)
            out = layer(out)
        return out


class deconv(nn.Module):
    def __init__(self, input_channel, output_channel, kernel_size=3, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(input_channel, output_channel, kernel_size=kernel_size, stride=1, padding=padding)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.conv(x)


class Attention(nn.Module):
    def __init__(self, p=0.1):
        super().__init__()
        self.dropout = nn.Dropout(p=p)

    def forward(self, query, key, value):
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(query.size(-1))
        p_attn = F.softmax(scores, dim=-1)
        p_attn = self.dropout(p_attn)
        p_val = torch.matmul(p_attn, value)
        return p_val, p_attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, tokensize, d_model, head, mode, p=0.1):
        super().__init__()
        self.mode = mode
        self.query_embedding = nn.Linear(d_model, d_model)
        self.value_embedding = nn.Linear(d_model, d_model)
        self.key_embedding = nn.Linear(d_model, d_model)
        self.output_linear = nn.Linear(d_model, d_model)
        self.attention = Attention(p=p)
        self.head = head
        self.h, self.w = tokensize

    def forward(self, x, t):
        bt, n, d = x.size()
        b = bt // t
        c_h = d // self.head
        key = self.key_embedding(x)
        query = self.query_embedding(x)
        value = self.value_embedding(x)
        if self.mode == "s":
            key = key.view(b, t, n, self.head, c_h).permute(0, 1, 3, 2, 4)
            query = query.view(b, t, n, self.head, c_h).permute(0, 1, 3, 2, 4)
            value = value.view(b, t, n, self.head, c_h).permute(0, 1, 3, 2, 4)
            att, _ = self.attention(query, key, value)
            att = att.permute(0, 1, 3, 2, 4).contiguous().view(bt, n, d)
        else:
            h, w = self.h, self.w
            key = key.view(b, t, 2, h // 2, 2, w // 2, self.head, c_h)
            key = key.permute(0, 2, 4, 6, 1, 3, 5, 7).contiguous().view(b, 4, self.head, -1, c_h)
            query = query.view(b, t, 2, h // 2, 2, w // 2, self.head, c_h)
            query = query.permute(0, 2, 4, 6, 1, 3, 5, 7).contiguous().view(b, 4, self.head, -1, c_h)
            value = value.view(b, t, 2, h // 2, 2, w // 2, self.head, c_h)
            value = value.permute(0, 2, 4, 6, 1, 3, 5, 7).contiguous().view(b, 4, self.head, -1, c_h)
            att, _ = self.attention(query, key, value)
            att = att.view(b, 2, 2, self.head, t, h // 2, w // 2, c_h)
            att = att.permute(0, 4, 1, 5, 2, 6, 3, 7).contiguous().view(bt, n, d)
        output = self.output_linear(att)
        return output


class FeedForward(nn.Module):
    def __init__(self, d_model, p=0.1):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Linear(d_model, d_model * 4),
            nn.ReLU(inplace=True),
            nn.Dropout(p=p),
            nn.Linear(d_model * 4, d_model),
            nn.Dropout(p=p),
        )

    def forward(self, x):
        return self.conv(x)


class TransformerBlock(nn.Module):
    def __init__(self, tokensize, hidden=128, num_head=4, mode="s", dropout=0.1):
        super().__init__()
        self.attention = MultiHeadedAttention(tokensize, d_model=hidden, head=num_head, mode=mode, p=dropout)
        self.ffn = FeedForward(hidden, p=dropout)
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, input):
        x, t = input["x"], input["t"]
        x = self.norm1(x)
        x = x + self.dropout(self.attention(x, t))
        y = self.norm2(x)
        x = x + self.ffn(y)
        return {"x": x, "t": t}


class Vec2Patch(nn.Module):
    def __init__(self, channel, hidden, output_size, kernel_size, stride, padding):
        super().__init__()
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        c_out = kernel_size[0] * kernel_size[1] * channel
        self.embedding = nn.Linear(hidden, c_out)
        self.to_patch = nn.Fold(output_size=output_size, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x):
        feat = self.embedding(x)
        feat = feat.permute(0, 2, 1)
        return self.to_patch(feat)


class InpaintGenerator(BaseNetwork):
    def __init__(self, init_weights=True):
        super().__init__()
        channel = 256
        hidden = 512
        stack_num = 8
        num_head = 4
        kernel_size = (7, 7)
        padding = (3, 3)
        stride = (3, 3)
        output_size = (60, 108)
        dropout = 0.0
        tokensize = [(output_size[i] + 2 * padding[i] - kernel_size[i]) // stride[i] + 1 for i in range(2)]
        blocks = []
        for i in range(stack_num):
            mode = "t" if i % 2 == 0 else "s"
            blocks.append(TransformerBlock(tokensize, hidden=hidden, num_head=num_head, mode=mode, dropout=dropout))
        self.transformer = nn.Sequential(*blocks)
        self.patch2vec = nn.Conv2d(channel // 2, hidden, kernel_size=kernel_size, stride=stride, padding=padding)
        self.vec2patch = Vec2Patch(channel // 2, hidden, output_size, kernel_size, stride, padding)
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, channel, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.hier_enc = HierarchyEncoder(channel)
        self.decoder = nn.Sequential(
            deconv(channel // 2, 128, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 64, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            deconv(64, 64, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 3, kernel_size=3, stride=1, padding=1),
        )
        if init_weights:
            self.init_weights()

    def forward(self, masked_frames):
        b, t, c, h, w = masked_frames.size()
        enc_feat = self.encoder(masked_frames.view(b * t, c, h, w))
        enc_feat = self.hier_enc(enc_feat)
        trans_feat = self.patch2vec(enc_feat)
        _, c, h, w = trans_feat.size()
        trans_feat = trans_feat.view(b * t, c, -1).permute(0, 2, 1)
        trans_feat = self.transformer({"x": trans_feat, "t": t})["x"]
        trans_feat = self.vec2patch(trans_feat)
        enc_feat = enc_feat + trans_feat
        output = self.decoder(enc_feat)
        return torch.tanh(output)


class Discriminator(BaseNetwork):
    def __init__(self, in_channels=3, use_spectral_norm=True):
        super().__init__()
        nf = 64
        self.conv = nn.Sequential(
            _spectral_norm(nn.Conv3d(in_channels, nf, kernel_size=(3, 5, 5), stride=(1, 2, 2), padding=1),
                           use_spectral_norm),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv3d(nf, 1, kernel_size=(3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)),
        )

    def forward(self, xs):
        return self.conv(xs.transpose(1, 2))
