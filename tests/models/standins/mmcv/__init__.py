"""A stand-in for mmcv (tests/models/standins/README.md): the `cnn`, `ops` and `runner` names the released
video-inpainting repositories import, in plain torch ops; nothing is ever downloaded."""

__version__ = "0.0.0+standin"
