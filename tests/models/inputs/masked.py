"""A small masked-video model whose forward takes a clip and a mask, and whose attention runs only over the
windows the mask covers (selected with nonzero() over the pooled mask, as ProPainter's sparse attention does),
with the inputs functions `--inputs` names: the same arguments as a tuple, a dict and a (tuple, dict) pair."""

import torch
import torch.nn.functional as F
from torch import nn


class MaskedWindows(nn.Module):
    """(b, t, 3, H, W) clip and (b, t, 1, H, W) mask -> per-window tokens of the masked 4x4 windows."""

    def __init__(self, width=8):
        super().__init__()
        self.embed = nn.Conv2d(4, width, kernel_size=1)
        self.pool = nn.MaxPool2d(4)
        self.proj = nn.Linear(width, width)

    def forward(self, clip, mask, scale=1.0):
        b, t, _, h, w = clip.shape
        x = self.embed(torch.cat([clip, mask], dim=2).view(b * t, 4, h, w))  # (bt, c, h, w)
        windows = self.pool(mask.view(b * t, 1, h, w)).view(b, t, -1).sum(1)[0]  # masked pixels per window
        chosen = windows.nonzero().view(-1)  # the mask's windows: a shape decided by values
        c = x.shape[1]
        tokens = F.unfold(x, 4, stride=4).view(b, t, c, 16, -1)[..., chosen]  # (b, t, c, 16, m)
        tokens = tokens.permute(0, 4, 1, 3, 2).reshape(b * chosen.numel(), t * 16, c)
        scores = torch.softmax(tokens @ tokens.transpose(1, 2) * scale, dim=-1)  # (bm, 16t, 16t)
        return self.proj(scores @ tokens)


class ChoosesFromWeights(MaskedWindows):
    """The same, but the windows chosen from the features (computed with the weights): no mask decides them."""

    def forward(self, clip, mask, scale=1.0):
        b, t, _, h, w = clip.shape
        x = self.embed(torch.cat([clip, mask], dim=2).view(b * t, 4, h, w))
        return (x > 0).nonzero()


def box(batch, frames, height, width, dtype, device):
    """(b, t, 1, H, W): 1 on rows [0, H/2) and columns [0, W/2) (a quarter of each frame), else 0."""
    mask = torch.zeros(batch, frames, 1, height, width, dtype=dtype, device=device)
    mask[..., : height // 2, : width // 2] = 1
    return mask


def as_tuple(batch, frames, height, width, dtype, device):
    clip = torch.rand(batch, frames, 3, height, width, dtype=dtype, device=device)
    return clip, box(batch, frames, height, width, dtype, device)


def as_dict(batch, frames, height, width, dtype, device):
    clip, mask = as_tuple(batch, frames, height, width, dtype, device)
    return {"clip": clip, "mask": mask}


def as_pair(batch, frames, height, width, dtype, device):
    clip, mask = as_tuple(batch, frames, height, width, dtype, device)
    return (clip,), {"mask": mask, "scale": 0.5}


def not_arguments(batch, frames, height, width, dtype, device):
    return [1, 2]


def raises(batch, frames, height, width, dtype, device):
    raise RuntimeError("no masks for this clip")
