import torch
from torch import nn

from model.modules.layers import head

from .misc import WIDTH


class PropNet(nn.Module):
    def __init__(self, extra: int = 0) -> None:
        super().__init__()
        from model.misc import WIDTH as width  # imported while it is built: this repository's `model`

        assert width == WIDTH
        self.stem = nn.Conv2d(3, WIDTH + extra, 3, padding=1)
        self.head = head(WIDTH + extra)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(clip.flatten(0, 1)))
