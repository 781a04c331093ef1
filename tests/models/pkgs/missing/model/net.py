from torch import nn

from model.modules.needs import dstt_test_absent_dependency  # noqa: F401


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 3, 1)
