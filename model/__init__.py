"""The DSTT video-inpainting generator, sized for any clip length and resolution."""

from __future__ import annotations

from model.dstt import *  # noqa: F403
from model.dstt import __all__  # noqa: F401
