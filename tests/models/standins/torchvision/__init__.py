"""A stand-in for torchvision (tests/models/standins/README.md): `models` (empty) and `ops.deform_conv2d`."""

from torchvision import models, ops

__all__ = ["models", "ops"]
__version__ = "0.0.0+standin"
