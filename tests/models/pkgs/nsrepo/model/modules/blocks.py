from torch import nn


class Stem(nn.Sequential):
    def __init__(self, width: int) -> None:
        super().__init__(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
