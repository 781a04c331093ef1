"""Test stand-in for the FuseFormer generator (model/fuseformer.py, `InpaintGenerator`, of the ICCV 2021
paper's code).

Sizes are fixed in the code as in the paper's release: 240x432 frames (a 60x108 feature map, which the
soft composition's Fold and the fusion FFN's Fold and Unfold hold), hidden 512, 4 heads, 8 blocks, soft
split kernel 7, stride 3, padding 3. Module names, parameter shapes and the order of the operations the
forward runs are the release's, so a profile of this file is a profile of the release. The
discriminator is left out: nothing here needs it, and this file imports torch alone.

Input: one clip of masked frames (b, t, 3, H, W); output (b*t, 3, H, W) after tanh.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _leaky():
    return nn.LeakyReLU(0.2, inplace=True)


def _conv3(c_in, c_out, stride=1, groups=1):
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, groups=groups)


class BaseNetwork(nn.Module):
    def init_weights(self, gain=0.02):
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


class Encoder(nn.Module):
    """Four 3x3 convolutions down to a quarter of the frame, then five grouped ones; before each of the last
    four, the output of the fourth and the running output are interleaved group by group."""

    def __init__(self):
        super().__init__()
        self.group = [1, 2, 4, 8, 1]
        plan = [(3, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 1), (256, 384, 1, 1),
                (640, 512, 1, 2), (768, 384, 1, 4), (640, 256, 1, 8), (512, 128, 1, 1)]
        layers = []
        for c_in, c_out, stride, groups in plan:
            layers += [_conv3(c_in, c_out, stride, groups), _leaky()]
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        bt, _, height, width = x.size()
        h, w = height // 4, width // 4
        out = x
        for index, layer in enumerate(self.layers):
            if index == 8:
                skip = out
            if index > 8 and index % 2 == 0:
                groups = self.group[(index - 8) // 2]
                grouped_skip = skip.view(bt, groups, -1, h, w)
                grouped_out = out.view(bt, groups, -1, h, w)
                out = torch.cat([grouped_skip, grouped_out], 2).view(bt, -1, h, w)
            out = layer(out)
        return out


class deconv(nn.Module):
    """Bilinear x2 upsampling, then a convolution."""

    def __init__(self, input_channel, output_channel, kernel_size=3, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(input_channel, output_channel, kernel_size=kernel_size, stride=1, padding=padding)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class Attention(nn.Module):
    """Scaled dot-product attention over the last two axes -> (output, attention matrix)."""

    def __init__(self, p=0.1):
        super().__init__()
        self.dropout = nn.Dropout(p=p)

    def forward(self, query, key, value, m=None):
        scale = math.sqrt(query.size(-1))
        scores = torch.matmul(query, key.transpose(-2, -1)) / scale
        if m is not None:
            scores.masked_fill_(m, -1e9)
        weights = F.softmax(scores, dim=-1)
        weights = self.dropout(weights)
        out = torch.matmul(weights, value)
        return out, weights


class AddPosEmb(nn.Module):
    """A learnt embedding per token position of a frame, the same for every frame."""

    def __init__(self, n, c):
        super().__init__()
        self.pos_emb = nn.Parameter(torch.zeros(1, 1, n, c).normal_(mean=0, std=0.02))
        self.num_vecs = n

    def forward(self, x):
        b, tokens, c = x.size()
        x = x.view(b, -1, self.num_vecs, c)
        x = x + self.pos_emb
        x = x.view(b, tokens, c)
        return x


class SoftSplit(nn.Module):
    """Overlapping patches of the feature map (Unfold), each embedded as one token."""

    def __init__(self, channel, hidden, kernel_size, stride, padding, dropout=0.1):
        super().__init__()
        self.kernel_size = kernel_size
        self.t2t = nn.Unfold(kernel_size=kernel_size, stride=stride, padding=padding)
        self.embedding = nn.Linear(channel * math.prod(kernel_size), hidden)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x, b):
        out = self.t2t(x)
        out = out.permute(0, 2, 1)
        out = self.embedding(out)
        out = out.view(b, -1, out.size(2))
        out = self.dropout(out)
        return out


class SoftComp(nn.Module):
    """Tokens back to patches (Linear), summed onto the feature map where they overlap (Fold), plus a bias."""

    def __init__(self, channel, hidden, output_size, kernel_size, stride, padding):
        super().__init__()
        self.relu = _leaky()  # held, never called
        self.embedding = nn.Linear(hidden, channel * math.prod(kernel_size))
        self.t2t = nn.Fold(output_size=output_size, kernel_size=kernel_size, stride=stride, padding=padding)
        self.bias = nn.Parameter(torch.zeros((channel, *output_size), dtype=torch.float32))

    def forward(self, x, t):
        out = self.embedding(x)
        b, tokens, c = out.size()
        out = out.view(b * t, -1, c).permute(0, 2, 1)
        out = self.t2t(out) + self.bias[None]
        return out


class MultiHeadedAttention(nn.Module):
    """Every token of every frame attends to every token of the clip, per head."""

    def __init__(self, d_model, head, p=0.1):
        super().__init__()
        self.query_embedding = nn.Linear(d_model, d_model)
        self.value_embedding = nn.Linear(d_model, d_model)
        self.key_embedding = nn.Linear(d_model, d_model)
        self.output_linear = nn.Linear(d_model, d_model)
        self.attention = Attention(p=p)
        self.head = head

    def _heads(self, x, b, tokens, width):
        return x.view(b, tokens, self.head, width).permute(0, 2, 1, 3)

    def forward(self, x):
        b, tokens, c = x.size()
        width = c // self.head
        key = self._heads(self.key_embedding(x), b, tokens, width)
        query = self._heads(self.query_embedding(x), b, tokens, width)
        value = self._heads(self.value_embedding(x), b, tokens, width)
        att, matrix = self.attention(query, key, value)
        att = att.permute(0, 2, 1, 3).contiguous().view(b, tokens, c)
        out = self.output_linear(att)
        return out


class FusionFeedForward(nn.Module):
    """Linear up to 1960 channels, a Fold/Unfold round trip normalised by how many patches overlap each
    pixel (the fusion of neighbouring tokens), then Linear back down."""

    def __init__(self, d_model, p=0.1, n_vecs=None, t2t_params=None):
        super().__init__()
        hd = 1960
        self.conv1 = nn.Sequential(nn.Linear(d_model, hd))
        self.conv2 = nn.Sequential(nn.ReLU(inplace=True), nn.Dropout(p=p), nn.Linear(hd, d_model), nn.Dropout(p=p))
        assert t2t_params is not None and n_vecs is not None
        self.fold = nn.Fold(**t2t_params)
        self.unfold = nn.Unfold(**{k: v for k, v in t2t_params.items() if k != "output_size"})
        self.n_vecs = n_vecs

    def forward(self, x):
        x = self.conv1(x)
        b, tokens, c = x.size()
        overlap = x.new_ones(b, tokens, 49).view(-1, self.n_vecs, 49).permute(0, 2, 1)
        # one expression: x (the Linear's output) is held until the whole round trip is done
        x = (self.unfold(self.fold(x.view(-1, self.n_vecs, c).permute(0, 2, 1)) / self.fold(overlap))
             .permute(0, 2, 1).contiguous().view(b, tokens, c))
        x = self.conv2(x)
        return x


class TransformerBlock(nn.Module):
    def __init__(self, hidden=128, num_head=4, dropout=0.1, n_vecs=None, t2t_params=None):
        super().__init__()
        self.attention = MultiHeadedAttention(d_model=hidden, head=num_head, p=dropout)
        self.ffn = FusionFeedForward(hidden, p=dropout, n_vecs=n_vecs, t2t_params=t2t_params)
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, input):
        x = self.norm1(input)
        x = input + self.dropout(self.attention(x))
        y = self.norm2(x)
        x = x + self.ffn(y)
        return x


class InpaintGenerator(BaseNetwork):
    def __init__(self, init_weights=True):
        super().__init__()
        channel, hidden, stack_num, num_head = 256, 512, 8, 4
        kernel_size, padding, stride = (7, 7), (3, 3), (3, 3)
        output_size = (60, 108)
        dropout = 0.0
        t2t_params = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "output_size": output_size}
        n_vecs = math.prod((size + 2 * pad - k) // s + 1
                           for size, pad, k, s in zip(output_size, padding, kernel_size, stride))
        self.transformer = nn.Sequential(*(
            TransformerBlock(hidden=hidden, num_head=num_head, dropout=dropout, n_vecs=n_vecs, t2t_params=t2t_params)
            for _ in range(stack_num)))
        self.ss = SoftSplit(channel // 2, hidden, kernel_size, stride, padding, dropout=dropout)
        self.add_pos_emb = AddPosEmb(n_vecs, hidden)
        self.sc = SoftComp(channel // 2, hidden, output_size, kernel_size, stride, padding)
        self.encoder = Encoder()
        self.decoder = nn.Sequential(
            deconv(channel // 2, 128, kernel_size=3, padding=1), _leaky(),
            _conv3(128, 64), _leaky(),
            deconv(64, 64, kernel_size=3, padding=1), _leaky(),
            _conv3(64, 3),
        )
        if init_weights:
            self.init_weights()

    def forward(self, masked_frames):
        b, t, c, h, w = masked_frames.size()
        enc_feat = self.encoder(masked_frames.view(b * t, c, h, w))
        feat = self.ss(enc_feat, b)
        feat = self.add_pos_emb(feat)
        feat = self.transformer(feat)
        feat = self.sc(feat, t)
        enc_feat = enc_feat + feat
        output = self.decoder(enc_feat)
        output = torch.tanh(output)
        return output
