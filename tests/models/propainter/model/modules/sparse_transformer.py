"""Soft split, soft composition and the temporal sparse transformer of ProPainter's generator.

Tokens live on an (h', w') grid per frame (20 x 36 at 240x432), split into (5, 9) windows. A window the
mask touches (in any local frame) is "masked": its queries of all t frames attend to the keys of every
other frame (t_dilation apart, offset by the block's index) in the window, the rolled neighbours (the four
diagonal rolls by (window + 1) // 2, those not already in the window) and the pooled tokens of the whole
frame (a depthwise 4x4 average). An unmasked window's queries attend within their own frame and window.
Which windows are masked is read from the mask's values (`nonzero`), so the matrices' sizes depend on the
data.
"""

import math
from functools import reduce

import torch
import torch.nn as nn
import torch.nn.functional as F


def _prod(values):
    return reduce(lambda a, b: a * b, values)


def _grid(size, kernel, stride, padding):
    return tuple(int((size[i] + 2 * padding[i] - (kernel[i] - 1) - 1) / stride[i] + 1) for i in range(2))


class SoftSplit(nn.Module):
    """Overlapping patches of the feature map, each embedded as one token: (b*t, c, h, w) -> (b, t, h', w', d)."""

    def __init__(self, channel, hidden, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.t2t = nn.Unfold(kernel_size=kernel_size, stride=stride, padding=padding)
        self.embedding = nn.Linear(_prod(kernel_size) * channel, hidden)

    def forward(self, x, b, output_size):
        f_h, f_w = _grid(output_size, self.kernel_size, self.stride, self.padding)
        feat = self.t2t(x).permute(0, 2, 1)
        feat = self.embedding(feat)
        return feat.view(b, -1, f_h, f_w, feat.size(2))


class SoftComp(nn.Module):
    """Tokens back to overlapping patches summed onto the feature map, then a 3x3 convolution."""

    def __init__(self, channel, hidden, kernel_size, stride, padding):
        super().__init__()
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.embedding = nn.Linear(hidden, _prod(kernel_size) * channel)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.bias_conv = nn.Conv2d(channel, channel, kernel_size=3, stride=1, padding=1)

    def forward(self, x, t, output_size):
        b_, _, _, _, c_ = x.shape
        feat = self.embedding(x.view(b_, -1, c_))
        b, _, c = feat.size()
        feat = feat.view(b * t, -1, c).permute(0, 2, 1)
        feat = F.fold(feat, output_size=output_size, kernel_size=self.kernel_size, stride=self.stride,
                      padding=self.padding)
        return self.bias_conv(feat)


class FusionFeedForward(nn.Module):
    """Linear d -> 1960, a fold/unfold round trip normalised by the patch overlap, GELU, Linear 1960 -> d."""

    def __init__(self, dim, hidden_dim=1960, t2t_params=None):
        super().__init__()
        self.fc1 = nn.Sequential(nn.Linear(dim, hidden_dim))
        self.fc2 = nn.Sequential(nn.GELU(), nn.Linear(hidden_dim, dim))
        self.t2t_params = t2t_params
        self.kernel_shape = _prod(t2t_params["kernel_size"])

    def forward(self, x, output_size):
        p = self.t2t_params
        n_vecs = _prod(_grid(output_size, p["kernel_size"], p["stride"], p["padding"]))
        x = self.fc1(x)
        b, n, c = x.size()
        normalizer = x.new_ones(b, n, self.kernel_shape).view(-1, n_vecs, self.kernel_shape).permute(0, 2, 1)
        normalizer = F.fold(normalizer, output_size=output_size, kernel_size=p["kernel_size"], padding=p["padding"],
                            stride=p["stride"])
        x = F.fold(x.view(-1, n_vecs, c).permute(0, 2, 1), output_size=output_size, kernel_size=p["kernel_size"],
                   padding=p["padding"], stride=p["stride"])
        x = F.unfold(x / normalizer, kernel_size=p["kernel_size"], padding=p["padding"], stride=p["stride"]).permute(
            0, 2, 1).contiguous().view(b, n, c)
        return self.fc2(x)


def window_partition(x, window_size, n_head):
    """(B, T, H, W, C) -> (B, H/wh, W/ww, heads, T, wh, ww, C/heads)."""
    B, T, H, W, C = x.shape
    x = x.view(B, T, H // window_size[0], window_size[0], W // window_size[1], window_size[1], n_head, C // n_head)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).contiguous()


class SparseWindowAttention(nn.Module):
    def __init__(self, dim, n_head, window_size, pool_size=(4, 4), qkv_bias=True, attn_drop=0.0, proj_drop=0.0,
                 pooling_token=True):
        super().__init__()
        self.key = nn.Linear(dim, dim, qkv_bias)
        self.query = nn.Linear(dim, dim, qkv_bias)
        self.value = nn.Linear(dim, dim, qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)
        self.proj = nn.Linear(dim, dim)
        self.n_head = n_head
        self.window_size = window_size
        self.pooling_token = pooling_token
        if pooling_token:
            self.pool_layer = nn.Conv2d(dim, dim, kernel_size=pool_size, stride=pool_size, padding=(0, 0), groups=dim)
            self.pool_layer.weight.data.fill_(1.0 / (pool_size[0] * pool_size[1]))
            self.pool_layer.bias.data.fill_(0)
        self.expand_size = tuple((i + 1) // 2 for i in window_size)
        if any(i > 0 for i in self.expand_size):
            (wh, ww), (eh, ew) = window_size, self.expand_size
            top, bottom = slice(None, -eh), slice(eh, None)
            left, right = slice(None, -ew), slice(ew, None)
            corners = []
            for rows, cols in ((top, left), (top, right), (bottom, left), (bottom, right)):
                keep = torch.ones(wh, ww)
                keep[rows, cols] = 0
                corners.append(keep)
            self.register_buffer("valid_ind_rolled", torch.stack(corners, 0).flatten(0).nonzero(as_tuple=False).view(-1))
        self.max_pool = nn.MaxPool2d(window_size, window_size, (0, 0))

    def forward(self, x, mask=None, T_ind=None, attn_mask=None):
        b, t, h, w, c = x.shape
        w_h, w_w = self.window_size
        heads, c_head = self.n_head, c // self.n_head
        n_wh, n_ww = math.ceil(h / w_h), math.ceil(w / w_w)
        n_win, area = n_wh * n_ww, w_h * w_w
        new_h, new_w = n_wh * w_h, n_ww * w_w
        pad_r, pad_b = new_w - w, new_h - h
        if pad_r > 0 or pad_b > 0:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b, 0, 0), mode="constant", value=0)
            mask = F.pad(mask, (0, 0, 0, pad_r, 0, pad_b, 0, 0), mode="constant", value=0)

        q = self.query(x)
        k = self.key(x)
        v = self.value(x)
        win_q = window_partition(q.contiguous(), self.window_size, heads).view(b, n_win, heads, t, area, c_head)
        win_k = window_partition(k.contiguous(), self.window_size, heads).view(b, n_win, heads, t, area, c_head)
        win_v = window_partition(v.contiguous(), self.window_size, heads).view(b, n_win, heads, t, area, c_head)
        if any(i > 0 for i in self.expand_size):
            eh, ew = self.expand_size
            shifts = ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))
            rolls = [(torch.roll(k, shifts=s, dims=(2, 3)), torch.roll(v, shifts=s, dims=(2, 3))) for s in shifts]
            k_parts = [window_partition(a, self.window_size, heads).view(b, n_win, heads, t, area, c_head)
                       for a, _ in rolls]
            v_parts = [window_partition(a, self.window_size, heads).view(b, n_win, heads, t, area, c_head)
                       for _, a in rolls]
            roll_k = torch.cat(k_parts, 4).contiguous()
            roll_v = torch.cat(v_parts, 4).contiguous()
            roll_k = roll_k[:, :, :, :, self.valid_ind_rolled]
            roll_v = roll_v[:, :, :, :, self.valid_ind_rolled]
            n_rolled = roll_k.shape[4]
            roll_k = roll_k.view(b, n_win, heads, t, n_rolled, c_head)
            roll_v = roll_v.view(b, n_win, heads, t, n_rolled, c_head)
            win_k = torch.cat((win_k, roll_k), dim=4)
            win_v = torch.cat((win_v, roll_v), dim=4)

        if self.pooling_token:
            pool_x = self.pool_layer(x.view(b * t, new_h, new_w, c).permute(0, 3, 1, 2))
            _, _, p_h, p_w = pool_x.shape
            pool_x = pool_x.permute(0, 2, 3, 1).view(b, t, p_h, p_w, c)
            pool_k = self.key(pool_x).unsqueeze(1).repeat(1, n_win, 1, 1, 1, 1)
            pool_k = pool_k.view(b, n_win, t, p_h, p_w, heads, c_head).permute(0, 1, 5, 2, 3, 4, 6)
            pool_k = pool_k.contiguous().view(b, n_win, heads, t, p_h * p_w, c_head)
            win_k = torch.cat((win_k, pool_k), dim=4)
            pool_v = self.value(pool_x).unsqueeze(1).repeat(1, n_win, 1, 1, 1, 1)
            pool_v = pool_v.view(b, n_win, t, p_h, p_w, heads, c_head).permute(0, 1, 5, 2, 3, 4, 6)
            pool_v = pool_v.contiguous().view(b, n_win, heads, t, p_h * p_w, c_head)
            win_v = torch.cat((win_v, pool_v), dim=4)

        out = torch.zeros_like(win_q)
        l_t = mask.size(1)
        mask = self.max_pool(mask.view(b * l_t, new_h, new_w))
        mask = mask.view(b, l_t, n_win)
        mask = torch.sum(mask, dim=1)
        for i in range(win_q.shape[0]):
            # windows the mask touches: queries of every frame, keys of the block's frames
            mask_ind_i = mask[i].nonzero(as_tuple=False).view(-1)
            mask_n = len(mask_ind_i)
            if mask_n > 0:
                win_q_t = win_q[i, mask_ind_i].view(mask_n, heads, t * area, c_head)
                win_k_t = win_k[i, mask_ind_i]
                win_v_t = win_v[i, mask_ind_i]
                if T_ind is not None:
                    win_k_t = win_k_t[:, :, T_ind.view(-1)].view(mask_n, heads, -1, c_head)
                    win_v_t = win_v_t[:, :, T_ind.view(-1)].view(mask_n, heads, -1, c_head)
                else:
                    win_k_t = win_k_t.view(n_win, heads, t * area, c_head)
                    win_v_t = win_v_t.view(n_win, heads, t * area, c_head)
                att_t = (win_q_t @ win_k_t.transpose(-2, -1)) * (1.0 / math.sqrt(win_q_t.size(-1)))
                att_t = F.softmax(att_t, dim=-1)
                att_t = self.attn_drop(att_t)
                y_t = att_t @ win_v_t
                out[i, mask_ind_i] = y_t.view(-1, heads, t, area, c_head)
            # windows it does not: each frame's queries attend within their own frame and window
            unmask_ind_i = (mask[i] == 0).nonzero(as_tuple=False).view(-1)
            win_q_s = win_q[i, unmask_ind_i]
            win_k_s = win_k[i, unmask_ind_i, :, :, :area]
            win_v_s = win_v[i, unmask_ind_i, :, :, :area]
            att_s = (win_q_s @ win_k_s.transpose(-2, -1)) * (1.0 / math.sqrt(win_q_s.size(-1)))
            att_s = F.softmax(att_s, dim=-1)
            att_s = self.attn_drop(att_s)
            y_s = att_s @ win_v_s
            out[i, unmask_ind_i] = y_s

        out = out.view(b, n_wh, n_ww, heads, t, w_h, w_w, c_head)
        out = out.permute(0, 4, 1, 5, 2, 6, 3, 7).contiguous().view(b, t, new_h, new_w, c)
        if pad_r > 0 or pad_b > 0:
            out = out[:, :, :h, :w, :]
        return self.proj_drop(self.proj(out))


class TemporalSparseTransformer(nn.Module):
    """norm1 -> sparse window attention -> residual; norm2 -> fusion FFN -> residual."""

    def __init__(self, dim, n_head, window_size, pool_size, norm_layer=nn.LayerNorm, t2t_params=None):
        super().__init__()
        self.window_size = window_size
        self.attention = SparseWindowAttention(dim, n_head, window_size, pool_size)
        self.norm1 = norm_layer(dim)
        self.norm2 = norm_layer(dim)
        self.mlp = FusionFeedForward(dim, t2t_params=t2t_params)

    def forward(self, x, fold_x_size, mask=None, T_ind=None):
        B, T, H, W, C = x.shape
        shortcut = x
        x = self.norm1(x)
        att_x = self.attention(x, mask, T_ind)
        x = shortcut + att_x
        y = self.norm2(x)
        return x + self.mlp(y.view(B, T * H * W, C), fold_x_size).view(B, T, H, W, C)


class TemporalSparseTransformerBlock(nn.Module):
    """`depths` blocks; block i's masked windows see the frames i % t_dilation, i % t_dilation + t_dilation, ..."""

    def __init__(self, dim, n_head, window_size, pool_size, depths, t2t_params=None):
        super().__init__()
        self.transformer = nn.Sequential(*[
            TemporalSparseTransformer(dim, n_head, window_size, pool_size, t2t_params=t2t_params) for _ in range(depths)
        ])
        self.depths = depths

    def forward(self, x, fold_x_size, l_mask=None, t_dilation=2):
        assert self.depths % t_dilation == 0, "wrong t_dilation input."
        T = x.size(1)
        T_ind = [torch.arange(i, T, t_dilation) for i in range(t_dilation)] * (self.depths // t_dilation)
        for i in range(self.depths):
            x = self.transformer[i](x, fold_x_size, l_mask, T_ind[i])
        return x
