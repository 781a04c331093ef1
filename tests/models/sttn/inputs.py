"""The forward's arguments for the STTN stand-in (`--inputs inputs.py:masked_clip`): masked frames and their
masks, the generator's calling convention `forward(masked_frames, masks)`."""

import torch


def masked_clip(batch, frames, height, width, dtype, device):
    """Frames (batch, frames, 3, H, W) uniform in [-1, 1] with the hole zeroed, and masks (batch, frames, 1, H, W):
    1 inside a centred box of half the height and half the width (a quarter of each frame), 0 outside."""
    masks = torch.zeros(batch, frames, 1, height, width, dtype=dtype, device=device)
    top, left = height // 4, width // 4
    masks[..., top : top + height // 2, left : left + width // 2] = 1
    clip = torch.empty(batch, frames, 3, height, width, dtype=dtype, device=device).uniform_(-1.0, 1.0)
    return (clip * (1 - masks), masks)
