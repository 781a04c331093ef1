"""A small video model for the generic profile's stage table: children registered in another order than the
forward calls them, ops the root runs itself, multi-head attention over every position of the clip (its
matrix grows with t^2), a child that runs no op and one that never runs.

Input: one clip (b, t, 3, H, W). Registered: unused, head, stem, mixer, norm; called: stem, mixer, norm, head.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention over n tokens: (b, n, c) in and out; the matrix is (b, heads, n, n)."""

    def __init__(self, width: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.heads = heads
        self.fused = fused
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        d = c // self.heads
        q, k, v = (f(x).view(b, n, self.heads, d).transpose(1, 2) for f in (self.q, self.k, self.v))  # (b, heads, n, d)
        if self.fused:
            mixed = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (b, heads, n, n)
            mixed = scores.softmax(dim=-1) @ v  # (b, heads, n, d)
        return self.proj(mixed.transpose(1, 2).reshape(b, n, c))


class OutOfOrder(nn.Module):
    def __init__(self, width: int = 4, heads: int = 2, blocks: int = 2, patch: int = 4, fused: bool = False) -> None:
        super().__init__()
        self.width = width
        self.patch = patch
        self.unused = nn.Linear(width, width)  # never called
        self.head = nn.Conv2d(width, 3, kernel_size=1)  # registered before the stem, runs last
        self.stem = nn.Conv2d(3, width, kernel_size=patch, stride=patch)
        self.mixer = nn.Sequential(*(SelfAttention(width, heads, fused) for _ in range(blocks)))
        self.norm = nn.Identity()  # runs, but no op

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = clip.shape
        gh, gw = h // self.patch, w // self.patch
        frames = clip.reshape(b * t, c, h, w) * 0.5  # the root's own op, before any child runs
        x = self.stem(frames)  # (bt, width, gh, gw)
        tokens = x.view(b, t, self.width, gh, gw).permute(0, 1, 3, 4, 2).reshape(b, t * gh * gw, self.width)
        tokens = self.norm(self.mixer(tokens))  # (b, t*gh*gw, width)
        x = tokens.view(b, t, gh, gw, self.width).permute(0, 1, 4, 2, 3).reshape(b * t, self.width, gh, gw)
        return self.head(x)  # (bt, 3, gh, gw)
