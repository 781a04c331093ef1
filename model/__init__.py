"""The DSTT video-inpainting generator, sized for any clip length and resolution."""

from __future__ import annotations

from model.dstt import (
    Attention,
    CheckpointError,
    DSTTConfig,
    FeedForward,
    HierarchyEncoder,
    InpaintGenerator,
    MultiHeadedAttention,
    TransformerBlock,
    TransformerStack,
    UpsampleConv,
    Vec2Patch,
    load_checkpoint,
)

__all__ = [
    "Attention",
    "CheckpointError",
    "DSTTConfig",
    "FeedForward",
    "HierarchyEncoder",
    "InpaintGenerator",
    "MultiHeadedAttention",
    "TransformerBlock",
    "TransformerStack",
    "UpsampleConv",
    "Vec2Patch",
    "load_checkpoint",
]
