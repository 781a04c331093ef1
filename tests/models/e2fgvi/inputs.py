"""The forward arguments of E2FGVI's generator for `--inputs`: the masked clip (b, t, 3, H, W) in
[-1, 1] and num_local_frames = t (every frame local: flows, propagation and decoding cover them all)."""

import torch


def inputs(batch, frames, height, width, dtype, device):
    clip = torch.empty(batch, frames, 3, height, width, dtype=dtype, device=device).uniform_(-1.0, 1.0)
    return clip, frames
