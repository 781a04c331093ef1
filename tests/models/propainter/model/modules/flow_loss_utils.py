"""Flow warping, as ProPainter's propagation uses it."""

import torch
import torch.nn.functional as F


def flow_warp(x, flow, interpolation="bilinear", padding_mode="zeros", align_corners=True):
    """Sample x (n, c, h, w) at every pixel moved by flow (n, h, w, 2), in pixels (x, y)."""
    _, _, h, w = x.size()
    device = flow.device
    grid_y, grid_x = torch.meshgrid(torch.arange(0, h, device=device), torch.arange(0, w, device=device), indexing="ij")
    grid = torch.stack((grid_x, grid_y), 2).type_as(x)
    grid.requires_grad = False
    moved = grid + flow
    moved_x = 2.0 * moved[:, :, :, 0] / max(w - 1, 1) - 1.0
    moved_y = 2.0 * moved[:, :, :, 1] / max(h - 1, 1) - 1.0
    moved = torch.stack((moved_x, moved_y), dim=3)
    return F.grid_sample(x, moved, mode=interpolation, padding_mode=padding_mode, align_corners=align_corners)
