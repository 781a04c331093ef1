"""The sizes ProPainter's generator holds, read off a built module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from dstt_profile.profiles.attention import pair
from dstt_profile.profiles.e2fgvi.sizes import (
    Layer,
    alignment_macs,
    conv_layers,
    conv_macs,
    positive_int,
    rolled_keys,
)


@dataclass(frozen=True)
class Sizes:
    """What the module holds: feature channels c, token width d, heads k, blocks L, the soft split's kernel /
    stride / padding, the mask's max-pool onto the token grid, the window (wh, ww) and its keys per frame
    (A own, R rolled), the token pooling kernel, the fusion FFN width f, and multiply-adds per pixel of the
    propagation's aligned and every-frame convolutions and of the soft composition's convolution."""

    c: int
    d: int
    k: int
    L: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
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

    @property
    def patch(self) -> int:
        return self.c * self.kernel[0] * self.kernel[1]


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes a ProPainter-shaped module's layers hold (ValueError where one is missing or the blocks differ)."""
    unfold, embed, pool = module.get_submodule("ss.t2t"), module.get_submodule("ss.embedding"), module.get_submodule("max_pool")
    assert isinstance(unfold, nn.Unfold) and isinstance(embed, nn.Linear) and isinstance(pool, nn.MaxPool2d)
    kernel = pair(unfold.kernel_size)
    blocks = list(module.get_submodule("transformers.transformer").children())
    attentions = [block.get_submodule("attention") for block in blocks]
    shown: list[tuple[Any, ...]] = [(a.n_head, a.window_size, a.expand_size, a.pooling_token) for a in attentions]
    if len(set(shown)) != 1:
        raise ValueError("the transformer blocks' attention sizes differ")
    attn = attentions[0]
    window, expand = pair(attn.window_size), pair(attn.expand_size)
    if not attn.pooling_token:
        raise ValueError("no pooled tokens (pooling_token False)")
    ffn = next(m for m in module.get_submodule("transformers.transformer.0.mlp.fc1").modules() if isinstance(m, nn.Linear))
    prop = module.get_submodule("feat_prop_module")
    directions = ("backward_1", "forward_1")
    aligned = sum(alignment_macs(prop.get_submodule(f"deform_align.{n}")) for n in directions)
    every = sum(conv_macs(prop.get_submodule(f"backbone.{n}")) for n in directions) + conv_macs(prop.get_submodule("fuse"))
    return Sizes(c=embed.in_features // (kernel[0] * kernel[1]), d=int(embed.out_features), k=positive_int(attn, "n_head"),
                 L=len(blocks), kernel=kernel, stride=pair(unfold.stride), padding=pair(unfold.padding),
                 mask_pool=(pair(pool.kernel_size), pair(pool.stride), pair(pool.padding)), window=window,
                 R=rolled_keys(window, expand) if any(e > 0 for e in expand) else 0,
                 pool=pair(attn.get_submodule("pool_layer").kernel_size), f=int(ffn.out_features), aligned=aligned,
                 every_frame=every, bias_conv=conv_macs(module.get_submodule("sc.bias_conv")),
                 encoder=conv_layers(module.get_submodule("encoder")), decoder=conv_layers(module.get_submodule("decoder")))


def token_grid(grid: tuple[int, int], sizes: Sizes) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw) = sizes.kernel, sizes.stride, sizes.padding
    return (grid[0] + 2 * ph - kh) // sh + 1, (grid[1] + 2 * pw - kw) // sw + 1
