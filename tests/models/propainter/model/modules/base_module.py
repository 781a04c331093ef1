"""The base class of ProPainter's networks."""

import torch.nn as nn


class BaseNetwork(nn.Module):
    def init_weights(self, init_type="normal", gain=0.02):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
