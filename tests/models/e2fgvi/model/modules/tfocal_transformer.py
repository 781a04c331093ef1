"""Soft split, soft composition and the temporal focal transformer block of E2FGVI's generator.

Tokens live on an (h', w') grid per frame (20 x 36 at 240x432), split into (5, 9) windows. In each
window the queries of all t frames attend to: the window's own tokens in all frames, the tokens the
four diagonal rolls by the expand size (window // 2) bring into the window (those not already in
it), and one pooled token per window of the whole frame, gathered by an unfold of the focal window.
"""

import math
from functools import reduce

import torch
import torch.nn as nn
import torch.nn.functional as F


def _prod(values):
    return reduce(lambda a, b: a * b, values)


class SoftSplit(nn.Module):
    """Overlapping patches of the feature map, each embedded as one token: (b*t, c, H/4, W/4) -> (b, t, h', w', d)."""

    def __init__(self, channel, hidden, kernel_size, stride, padding, t2t_param):
        super().__init__()
        self.kernel_size = kernel_size
        self.t2t = nn.Unfold(kernel_size=kernel_size, stride=stride, padding=padding)
        self.embedding = nn.Linear(_prod(kernel_size) * channel, hidden)
        size, pad, kernel, step = (t2t_param[k] for k in ("output_size", "padding", "kernel_size", "stride"))
        self.f_h = int((size[0] + 2 * pad[0] - (kernel[0] - 1) - 1) / step[0] + 1)
        self.f_w = int((size[1] + 2 * pad[1] - (kernel[1] - 1) - 1) / step[1] + 1)

    def forward(self, x, b):
        feat = self.t2t(x).permute(0, 2, 1)
        feat = self.embedding(feat)
        return feat.view(b, -1, self.f_h, self.f_w, feat.size(2))


class SoftComp(nn.Module):
    """Tokens back to overlapping patches, summed onto the feature map: (b, t, h', w', d) -> (b*t, c, H/4, W/4)."""

    def __init__(self, channel, hidden, output_size, kernel_size, stride, padding):
        super().__init__()
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.embedding = nn.Linear(hidden, _prod(kernel_size) * channel)
        self.t2t = nn.Fold(output_size=output_size, kernel_size=kernel_size, stride=stride, padding=padding)
        h, w = output_size
        self.bias = nn.Parameter(torch.zeros((channel, h, w), dtype=torch.float32), requires_grad=True)

    def forward(self, x, t):
        b_, _, _, _, c_ = x.shape
        feat = self.embedding(x.view(b_, -1, c_))
        b, _, c = feat.size()
        feat = feat.view(b * t, -1, c).permute(0, 2, 1)
        return self.t2t(feat) + self.bias[None]


class FusionFeedForward(nn.Module):
    """Linear d -> 1960, a fold/unfold round trip normalised by the patch overlap, GELU, Linear 1960 -> d."""

    def __init__(self, d_model, n_vecs=None, t2t_params=None):
        super().__init__()
        hd = 1960
        self.conv1 = nn.Sequential(nn.Linear(d_model, hd))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(hd, d_model))
        params = dict(t2t_params)
        self.fold = nn.Fold(**params)
        del params["output_size"]
        self.unfold = nn.Unfold(**params)
        self.n_vecs = n_vecs

    def forward(self, x):
        x = self.conv1(x)
        b, n, c = x.size()
        normalizer = x.new_ones(b, n, 49).view(-1, self.n_vecs, 49).permute(0, 2, 1)
        x = self.unfold(self.fold(x.view(-1, self.n_vecs, c).permute(0, 2, 1)) / self.fold(normalizer)).permute(
            0, 2, 1).contiguous().view(b, n, c)
        return self.conv2(x)


def window_partition(x, window_size):
    """(B, T, H, W, C) -> (B*windows, T*wh*ww, C)."""
    B, T, H, W, C = x.shape
    x = x.view(B, T, H // window_size[0], window_size[0], W // window_size[1], window_size[1], C)
    return x.permute(0, 2, 4, 1, 3, 5, 6).contiguous().view(-1, T * window_size[0] * window_size[1], C)


def window_partition_noreshape(x, window_size):
    """(B, T, H, W, C) -> (B, H/wh, W/ww, T, wh, ww, C)."""
    B, T, H, W, C = x.shape
    x = x.view(B, T, H // window_size[0], window_size[0], W // window_size[1], window_size[1], C)
    return x.permute(0, 2, 4, 1, 3, 5, 6).contiguous()


def window_reverse(windows, window_size, T, H, W):
    """(B*windows, T, wh, ww, C) -> (B, T, H, W, C)."""
    B = int(windows.shape[0] / (H * W / window_size[0] / window_size[1]))
    x = windows.view(B, H // window_size[0], W // window_size[1], T, window_size[0], window_size[1], -1)
    return x.permute(0, 3, 1, 4, 2, 5, 6).contiguous().view(B, T, H, W, -1)


class WindowAttention(nn.Module):
    """Temporal focal window attention: (B, T, h', w', C) plus pooled windows -> (B*windows, T*wh*ww, C)."""

    def __init__(self, dim, expand_size, window_size, focal_window, focal_level, num_heads, qkv_bias, pool_method):
        super().__init__()
        self.dim = dim
        self.expand_size = expand_size
        self.window_size = window_size
        self.pool_method = pool_method
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.focal_level = focal_level
        self.focal_window = focal_window
        wh, ww = window_size
        eh, ew = expand_size
        if any(i > 0 for i in expand_size) and focal_level > 0:
            top, bottom = slice(None, -eh), slice(eh, None)
            left, right = slice(None, -ew), slice(ew, None)
            corners = []
            for rows, cols in ((top, left), (top, right), (bottom, left), (bottom, right)):
                keep = torch.ones(wh, ww)
                keep[rows, cols] = 0
                corners.append(keep)
            self.register_buffer("valid_ind_rolled", torch.stack(corners, 0).flatten(0).nonzero(as_tuple=False).view(-1))
        if pool_method != "none" and focal_level > 1:
            self.unfolds = nn.ModuleList()
            for k in range(focal_level - 1):
                kernel = tuple(2 * (i // 2) + 2**k + (2**k - 1) for i in focal_window)
                self.unfolds.append(nn.Unfold(kernel_size=kernel, stride=2**k, padding=tuple(i // 2 for i in kernel)))
                if k > 0:
                    keep = torch.zeros(kernel)
                    keep[(2**k) - 1:, (2**k) - 1:] = 1
                    self.register_buffer(f"valid_ind_unfold_{k}", keep.flatten(0).nonzero(as_tuple=False).view(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)

    def _heads(self, a, T):
        """(B, T, h', w', C) -> its windows by head: (B*windows, heads, T*wh*ww, C/heads)."""
        C, area, heads = a.shape[-1], self.window_size[0] * self.window_size[1], self.num_heads
        return window_partition(a, self.window_size).view(-1, T, area, heads, C // heads).permute(
            0, 3, 1, 2, 4).contiguous().view(-1, heads, T * area, C // heads)

    def forward(self, x_all, mask_all=None):
        x = x_all[0]
        B, T, nH, nW, C = x.shape
        heads, head_dim = self.num_heads, C // self.num_heads
        area = self.window_size[0] * self.window_size[1]
        qkv = self.qkv(x).reshape(B, T, nH, nW, 3, C).permute(4, 0, 1, 2, 3, 5).contiguous()
        q, k, v = qkv[0], qkv[1], qkv[2]
        q_windows, k_windows, v_windows = (self._heads(a, T) for a in (q, k, v))

        if any(i > 0 for i in self.expand_size) and self.focal_level > 0:
            eh, ew = self.expand_size
            shifts = ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))
            rolls = [(torch.roll(k, shifts=s, dims=(2, 3)), torch.roll(v, shifts=s, dims=(2, 3))) for s in shifts]
            k_parts = [window_partition(a, self.window_size).view(-1, T, area, heads, head_dim) for a, _ in rolls]
            v_parts = [window_partition(a, self.window_size).view(-1, T, area, heads, head_dim) for _, a in rolls]
            k_rolled = torch.cat(k_parts, 2).permute(0, 3, 1, 2, 4).contiguous()
            v_rolled = torch.cat(v_parts, 2).permute(0, 3, 1, 2, 4).contiguous()
            k_rolled = k_rolled[:, :, :, self.valid_ind_rolled]
            v_rolled = v_rolled[:, :, :, self.valid_ind_rolled]
            n_rolled = k_rolled.shape[3]
            k_rolled = k_rolled.view(-1, heads, T * n_rolled, head_dim)
            v_rolled = v_rolled.view(-1, heads, T * n_rolled, head_dim)
            k_rolled = torch.cat((k_windows, k_rolled), 2)
            v_rolled = torch.cat((v_windows, v_rolled), 2)
        else:
            k_rolled, v_rolled = k_windows, v_windows

        if self.pool_method != "none" and self.focal_level > 1:
            k_pooled, v_pooled = [], []
            for level in range(self.focal_level - 1):
                stride = 2**level
                unfold = self.unfolds[level]
                kh, kw = unfold.kernel_size
                pooled = x_all[level + 1].permute(0, 3, 1, 2, 4).contiguous()
                nWh, nWw = pooled.shape[2:4]
                ones = pooled.new(T, nWh, nWw).fill_(1)
                unfolded = unfold(ones.unsqueeze(1)).view(1, T, kh, kw, -1).permute(4, 1, 2, 3, 0).contiguous()
                unfolded = unfolded.view(nWh * nWw // stride // stride, -1, 1)
                if level > 0:
                    unfolded = unfolded[:, getattr(self, f"valid_ind_unfold_{level}")]
                masks = unfolded.flatten(1).unsqueeze(0)
                masks = masks.masked_fill(masks == 0, -100.0).masked_fill(masks > 0, 0.0)
                mask_all[level + 1] = masks

                qkv_pooled = self.qkv(pooled).reshape(B, T, nWh, nWw, 3, C).permute(4, 0, 1, 5, 2, 3)
                qkv_pooled = qkv_pooled.view(3, -1, C, nWh, nWw).contiguous()

                def gather(a, unfold=unfold, kh=kh, kw=kw):
                    a = unfold(a).view(B, T, C, kh, kw, -1).permute(0, 5, 1, 3, 4, 2).contiguous()
                    return a.view(-1, T, kh * kw, heads, head_dim).permute(0, 3, 1, 2, 4).contiguous()

                k_level, v_level = qkv_pooled[1], qkv_pooled[2]
                k_level, v_level = gather(k_level), gather(v_level)
                if level > 0:
                    keep = getattr(self, f"valid_ind_unfold_{level}")
                    k_level, v_level = k_level[:, :, :, keep], v_level[:, :, :, keep]
                k_pooled.append(k_level.view(-1, heads, T * kh * kw, head_dim))
                v_pooled.append(v_level.view(-1, heads, T * kh * kw, head_dim))
            k_all = torch.cat([k_rolled, *k_pooled], 2)
            v_all = torch.cat([v_rolled, *v_pooled], 2)
        else:
            k_all, v_all = k_rolled, v_rolled

        N = k_all.shape[-2]
        q_windows = q_windows * self.scale
        attn = q_windows @ k_all.transpose(-2, -1)  # (B*windows, heads, T*wh*ww, N)
        window_area = T * area
        if self.pool_method != "none" and self.focal_level > 1:
            offset = k_rolled.shape[2]
            for level in range(self.focal_level - 1):
                bh, bw = (i + 2**level - 1 for i in self.focal_window)
                span = slice(offset, offset + T * bh * bw)
                if mask_all[level + 1] is not None:
                    extra = mask_all[level + 1]
                    attn[:, :, :window_area, span] = attn[:, :, :window_area, span] + extra[:, :, None, None, :].repeat(
                        attn.shape[0] // extra.shape[1], 1, 1, 1, 1).view(-1, 1, 1, extra.shape[-1])
                offset += T * bh * bw
        if mask_all[0] is not None:
            nW = mask_all[0].shape[0]
            attn = attn.view(attn.shape[0] // nW, nW, heads, window_area, N)
            attn[:, :, :, :, :window_area] = attn[:, :, :, :, :window_area] + mask_all[0][None, :, None, :, :]
            attn = attn.view(-1, heads, window_area, N)
        attn = self.softmax(attn)
        x = (attn @ v_all).transpose(1, 2).reshape(attn.shape[0], window_area, C)
        return self.proj(x)


class TemporalFocalTransformerBlock(nn.Module):
    """norm1 -> focal window attention (with pooled windows) -> residual; norm2 -> fusion FFN -> residual."""

    def __init__(self, dim, num_heads, window_size=(5, 9), mlp_ratio=4.0, qkv_bias=True, pool_method="fc",
                 focal_level=2, focal_window=(5, 9), norm_layer=nn.LayerNorm, n_vecs=None, t2t_params=None):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.expand_size = tuple(i // 2 for i in window_size)
        self.mlp_ratio = mlp_ratio
        self.pool_method = pool_method
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.window_size_glo = self.window_size
        self.pool_layers = nn.ModuleList()
        if pool_method != "none":
            for k in range(focal_level - 1):
                glo = tuple(math.floor(i / (2**k)) for i in self.window_size_glo)
                layer = nn.Linear(glo[0] * glo[1], 1)
                layer.weight.data.fill_(1.0 / (glo[0] * glo[1]))
                layer.bias.data.fill_(0)
                self.pool_layers.append(layer)
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention(dim, expand_size=self.expand_size, window_size=window_size,
                                    focal_window=focal_window, focal_level=focal_level, num_heads=num_heads,
                                    qkv_bias=qkv_bias, pool_method=pool_method)
        self.norm2 = norm_layer(dim)
        self.mlp = FusionFeedForward(dim, n_vecs=n_vecs, t2t_params=t2t_params)

    def forward(self, x):
        B, T, H, W, C = x.shape
        shortcut = x
        x = self.norm1(x)
        x_windows_all = [x]
        x_window_masks_all = [None]
        if self.focal_level > 1 and self.pool_method != "none":
            for k in range(self.focal_level - 1):
                glo = tuple(math.floor(i / (2**k)) for i in self.window_size_glo)
                pool_h = math.ceil(H / glo[0]) * (2**k) * glo[0]
                pool_w = math.ceil(W / glo[1]) * (2**k) * glo[1]
                level = x
                if pool_h < H:
                    top = (H - pool_h) // 2
                    level = level[:, :, top:-(H - pool_h - top)]
                elif pool_h > H:
                    top = (pool_h - H) // 2
                    level = F.pad(level, (0, 0, 0, 0, top, pool_h - H - top))
                if pool_w < W:
                    left = (W - pool_w) // 2
                    level = level[:, :, :, left:-(W - pool_w - left)]
                elif pool_w > W:
                    left = (pool_w - W) // 2
                    level = F.pad(level, (0, 0, left, pool_w - W - left))
                windows = window_partition_noreshape(level.contiguous(), glo)
                nWh, nWw = windows.shape[1:3]
                windows = windows.view(B, nWh, nWw, T, glo[0] * glo[1], C).transpose(4, 5)
                x_windows_all.append(self.pool_layers[k](windows).flatten(-2))
                x_window_masks_all.append(None)
        attn_windows = self.attn(x_windows_all, mask_all=x_window_masks_all)
        attn_windows = attn_windows.view(-1, T, self.window_size[0], self.window_size[1], C)
        shifted_x = window_reverse(attn_windows, self.window_size, T, H, W)
        x = shortcut + shifted_x
        y = self.norm2(x)
        return x + self.mlp(y.view(B, T * H * W, C)).view(B, T, H, W, C)
