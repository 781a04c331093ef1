"""Stand-in for torchvision.ops: `deform_conv2d` (modulated where a mask is given), in plain torch ops."""

from standin_deform import deform_conv2d

__all__ = ["deform_conv2d"]
