"""The forward arguments of ProPainter's generator for `--inputs`: the masked clip (b, t, 3, H, W) in [-1, 1],
the completed flows as a (forward, backward) pair of (b, t-1, 2, H, W) zeros, masks_in and masks_updated
(b, t, 1, H, W): 1 inside a centred box of half the height and half the width (a quarter of each frame),
0 outside, and num_local_frames = t (every frame local)."""

import torch


def centred_box(batch, frames, height, width, dtype, device):
    """(b, t, 1, H, W): 1 on rows [(H - H//2)//2, +H//2) and columns [(W - W//2)//2, +W//2), else 0."""
    mask = torch.zeros(batch, frames, 1, height, width, dtype=dtype, device=device)
    top, left = (height - height // 2) // 2, (width - width // 2) // 2
    mask[:, :, :, top:top + height // 2, left:left + width // 2] = 1
    return mask


def inputs(batch, frames, height, width, dtype, device):
    clip = torch.empty(batch, frames, 3, height, width, dtype=dtype, device=device).uniform_(-1.0, 1.0)
    flows = tuple(torch.zeros(batch, frames - 1, 2, height, width, dtype=dtype, device=device) for _ in range(2))
    mask = centred_box(batch, frames, height, width, dtype, device)
    return clip, flows, mask, mask.clone(), frames
