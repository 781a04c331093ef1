"""A small video model for the tests: a 3D-convolution stem, attention over the t frames at every
pixel, and a 2D convolution head. No formulas: the generic profile, stages from its top-level modules.

Input: one clip (b, t, 3, H, W), the calling convention the profiler uses for any model.
"""

import math

import torch
from torch import nn


class TemporalAttention(nn.Module):
    """Single-head attention across frames, separately at every pixel: (b, c, t, h, w) in and out."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        tokens = x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)  # (b*h*w, t, c)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)  # each (b*h*w, t, c)
        scores = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(c)  # (b*h*w, t, t)
        mixed = torch.matmul(scores.softmax(dim=-1), v)  # (b*h*w, t, c)
        out = self.proj(mixed).reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)  # (b, c, t, h, w)
        return x + out


class TinyVideoNet(nn.Module):
    def __init__(self, width: int = 8, depth: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, width, kernel_size=3, stride=(1, 2, 2), padding=1), nn.ReLU())
        self.temporal = nn.Sequential(*(TemporalAttention(width) for _ in range(depth)))
        self.head = nn.Sequential(
            nn.Conv2d(width, width, kernel_size=3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, kernel_size=1)
        )

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, t, _, h, w = clip.shape
        x = self.stem(clip.transpose(1, 2))  # (b, width, t, h/2, w/2)
        x = self.temporal(x)
        x = x.transpose(1, 2).reshape(b * t, x.shape[1], h // 2, w // 2)  # (bt, width, h/2, w/2)
        return self.head(x)  # (bt, 3, h/2, w/2)


def tiny(width: int = 8, depth: int = 1) -> TinyVideoNet:
    """A factory function, as `--model tinyvideo.py:tiny` takes it."""
    return TinyVideoNet(width=width, depth=depth)
