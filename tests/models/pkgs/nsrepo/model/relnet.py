import torch
from torch import nn

from .modules.blocks import Stem


class RelNet(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.stem = Stem(width)
        self.head = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(clip.flatten(0, 1)))
