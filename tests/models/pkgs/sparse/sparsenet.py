import torch
from torch import nn


class SparseNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        print(f"building on {torch.empty(0).device}")
        self.register_buffer("taps", torch.arange(4).nonzero())  # (3, 1): its shape depends on the values
        self.body = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.body(clip.flatten(0, 1))
