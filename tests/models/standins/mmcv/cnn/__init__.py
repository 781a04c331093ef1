"""Stand-in for mmcv.cnn: `ConvModule` and `constant_init`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

_RELU: Mapping[str, Any] = {"type": "ReLU"}  # mmcv's default activation


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """The module's weight set to `val` and its bias to `bias`, where it has them."""
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def _activation(cfg: Mapping[str, Any], inplace: bool) -> nn.Module:
    kind = cfg["type"]
    if kind == "ReLU":
        return nn.ReLU(inplace=cfg.get("inplace", inplace))
    if kind == "LeakyReLU":
        return nn.LeakyReLU(cfg.get("negative_slope", 0.01), inplace=cfg.get("inplace", inplace))
    if kind in ("Sigmoid", "Tanh", "GELU"):
        module: nn.Module = getattr(nn, kind)()
        return module
    raise NotImplementedError(f"the mmcv stand-in has no activation {kind!r}")


class ConvModule(nn.Module):
    """A convolution (`conv`), then a batch norm (`bn`, norm_cfg type 'BN') and an activation (`activate`;
    act_cfg None: none), named as mmcv names them; bias 'auto': a bias where there is no norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool | str = "auto",
                 conv_cfg: Mapping[str, Any] | None = None, norm_cfg: Mapping[str, Any] | None = None,
                 act_cfg: Mapping[str, Any] | None = _RELU, inplace: bool = True) -> None:
        super().__init__()
        if conv_cfg is not None and conv_cfg.get("type", "Conv2d") != "Conv2d":
            raise NotImplementedError(f"the mmcv stand-in has no convolution {conv_cfg['type']!r}")
        if norm_cfg is not None and norm_cfg.get("type") != "BN":
            raise NotImplementedError(f"the mmcv stand-in has no norm {norm_cfg.get('type')!r}")
        self.with_norm, self.with_activation = norm_cfg is not None, act_cfg is not None
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                              bias=not self.with_norm if bias == "auto" else bool(bias))
        if norm_cfg is not None:
            self.bn = nn.BatchNorm2d(out_channels)
        if act_cfg is not None:
            self.activate = _activation(act_cfg, inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.with_norm:
            x = self.bn(x)
        return self.activate(x) if self.with_activation else x
