"""The sizes ProPainter's generator holds, read off a built module."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from dstt_profile.profiles.attention import pair
from dstt_profile.profiles.e2fgvi.sizes import (
    Layer,
    block_attention,
    conv_layers,
    conv_macs,
    positive_int,
    propagation_macs,
    window_keys,
)
from dstt_profile.profiles.tokens import TokenSizes, first_linear, soft_split


@dataclass(frozen=True)
class Sizes(TokenSizes):
    """What the module holds: feature channels c, token width d, heads k, blocks L, the soft split's kernel /
    stride / padding, the mask's max-pool onto the token grid, the window (wh, ww) and its keys per frame
    (A own, R rolled), the token pooling kernel, the fusion FFN width f, and multiply-adds per pixel of the
    propagation's aligned and every-frame convolutions and of the soft composition's convolution."""

    mask_pool: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    window: tuple[int, int]
    R: int
    pool: tuple[int, int]
    f: int
    aligned: int
    every_frame: int
    bias_conv: int
    encoder: tuple[Layer, ...]
    decoder: tuple[Layer, ...]

    @property
    def A(self) -> int:
        return self.window[0] * self.window[1]


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes a ProPainter-shaped module's layers hold (ValueError where one is missing or the blocks differ)."""
    split, pool = soft_split(module), module.get_submodule("max_pool")
    assert isinstance(pool, nn.MaxPool2d)
    blocks = list(module.get_submodule("transformers.transformer").children())
    attn = block_attention(blocks, "attention", ("n_head", "window_size", "expand_size", "pooling_token"))
    window, rolled = window_keys(attn)
    if not attn.pooling_token:
        raise ValueError("no pooled tokens (pooling_token False)")
    ffn = first_linear(module, "transformers.transformer.0.mlp.fc1")
    aligned, every = propagation_macs(module.get_submodule("feat_prop_module"), ("backward_1", "forward_1"), "fuse")
    return Sizes(**split, k=positive_int(attn, "n_head"), L=len(blocks),
                 mask_pool=(pair(pool.kernel_size), pair(pool.stride), pair(pool.padding)), window=window, R=rolled,
                 pool=pair(attn.get_submodule("pool_layer").kernel_size), f=int(ffn.out_features), aligned=aligned,
                 every_frame=every, bias_conv=conv_macs(module.get_submodule("sc.bias_conv")),
                 encoder=conv_layers(module.get_submodule("encoder")), decoder=conv_layers(module.get_submodule("decoder")))
