from torch import nn


def head(width: int) -> nn.Module:
    return nn.Conv2d(width, 3, 1)
