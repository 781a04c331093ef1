"""Stand-in for mmcv.runner: `load_checkpoint`, which loads nothing (README.md: weights stay random)."""

from __future__ import annotations

from typing import Any

from torch import nn


def load_checkpoint(model: nn.Module, filename: str, map_location: Any = None, strict: bool = False,
                    logger: Any = None, revise_keys: Any = None) -> None:
    """Nothing: no file is read and no URL fetched; the model keeps its weights. Returns None."""
    del model, filename, map_location, strict, logger, revise_keys
