"""E2FGVI's sizes (read off a built module), a run's symbols and the closed-form formulas in them (docs/models.md,
"Built-in profiles: E2FGVI and ProPainter"): exact integers, every frame local (num_local_frames = t)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from dstt_profile.profiles.attention import Formula, TensorCheck, one, pair, symbols_of
from dstt_profile.profiles.e2fgvi.sizes import (
    Layer,
    block_attention,
    conv_layers,
    conv_macs,
    layers_macs,
    positive_int,
    propagation_macs,
    pyramid_macs,
    window_keys,
)
from dstt_profile.profiles.e2fgvi.stages import BLOCK
from dstt_profile.profiles.tokens import TokenSizes, TokenSymbols, first_linear, soft_split
from dstt_profile.records.runconfig import RunConfig


@dataclass(frozen=True)
class Sizes(TokenSizes):
    """What the module holds: feature channels c (soft split input), token width d, heads k, blocks L, the
    soft split's kernel / stride / padding, the Fold output size, the window (wh, ww) and its keys per frame
    (A = wh*ww own, R rolled, P pooled), the pooling windows' area a_p, the fusion FFN width f, and the
    multiply-adds per pixel of SPyNet's levels, of the propagation's aligned and every-frame convolutions."""

    fold: tuple[int, int]
    window: tuple[int, int]
    R: int
    P: int
    pool_window: tuple[int, int]
    f: int
    flow_levels: tuple[int, ...]
    aligned: int
    every_frame: int
    encoder: tuple[Layer, ...]
    decoder: tuple[Layer, ...]

    @property
    def A(self) -> int:
        return self.window[0] * self.window[1]

    @property
    def a_p(self) -> int:  # tokens a pooled window averages
        return self.pool_window[0] * self.pool_window[1]


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes an E2FGVI-shaped module's layers hold (ValueError where one is missing or the blocks differ)."""
    split, fold = soft_split(module), module.get_submodule("sc.t2t")
    assert isinstance(fold, nn.Fold)
    blocks = list(module.get_submodule("transformer").children())
    attn = block_attention(blocks, "attn", ("num_heads", "window_size", "expand_size", "focal_level", "focal_window",
                                            "pool_method"))
    window, rolled = window_keys(attn)
    levels = positive_int(attn, "focal_level")
    pooled, pool_window = 0, window
    if attn.pool_method != "none" and levels > 1:
        if levels > 2:
            raise ValueError("focal_level above 2 (the release gathers pooled keys of level 0 only)")
        kh, kw = pair(attn.get_submodule("unfolds.0").kernel_size)  # the level-0 Unfold of the pooled k, v
        pooled = kh * kw
        pool_window = pair(getattr(blocks[0], "window_size_glo", window))
    ffn = first_linear(module, "transformer.0.mlp.conv1")
    aligned, every = propagation_macs(module.get_submodule("feat_prop_module"), ("backward_", "forward_"), "fusion")
    return Sizes(**split, k=positive_int(attn, "num_heads"), L=len(blocks), fold=pair(fold.output_size),
                 window=window, R=rolled, P=pooled, pool_window=pool_window, f=int(ffn.out_features),
                 flow_levels=tuple(conv_macs(level) for level in module.get_submodule("update_spynet.basic_module").children()),
                 aligned=aligned, every_frame=every, encoder=conv_layers(module.get_submodule("encoder")),
                 decoder=conv_layers(module.get_submodule("decoder")))


@dataclass(frozen=True)
class Symbols(TokenSymbols):
    """One run's symbols: b, t, frame H x W, feature map h x w, token grid nh x nw (n per frame), the pooling
    windows per frame n_wp, multiply-adds of one SPyNet pass, of one frame's encoder and decoder, and `sizes`."""

    n_wp: int
    spynet: int
    encoder: int
    decoder: int
    sizes: Sizes

    @property
    def keys(self) -> int:  # keys per frame of a window's queries: A + R + P
        return self.sizes.A + self.sizes.R + self.sizes.P


def symbols_for(sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    """A run's symbols (ValueError, as one UsageError line, where the frames do not fit the network)."""

    def make(run: RunConfig) -> Symbols:
        enc, (h, w) = layers_macs(sizes.encoder, run.height, run.width)
        if (h, w) != sizes.fold:
            raise ValueError(f"E2FGVI's soft composition folds onto {sizes.fold[0]}x{sizes.fold[1]} features; "
                             f"{run.height}x{run.width} frames make {h}x{w}")
        nh, nw = sizes.grid(h, w)
        (wh, ww), (gh, gw) = sizes.window, sizes.pool_window
        if nh % wh or nw % ww:
            raise ValueError(f"E2FGVI's {wh}x{ww} windows do not tile its {nh}x{nw} token grid")
        dec, _ = layers_macs(sizes.decoder, h, w)
        return Symbols(b=run.batch, t=run.frames, H=run.height, W=run.width, h=h, w=w, nh=nh, nw=nw,
                       n_wp=math.ceil(nh / gh) * math.ceil(nw / gw),
                       spynet=pyramid_macs(sizes.flow_levels, run.height // 4, run.width // 4), encoder=enc,
                       decoder=dec, sizes=sizes)

    return symbols_of(make)


F = Formula[Symbols]

# Headline-tensor elements, one instance; every frame local (num_local_frames = t).
ELEMENTS: dict[str, F] = {
    "flow_completion": F("(t-1)*2*(H/4)*(W/4)", lambda s: ((1, (2, s.H // 4, s.W // 4)), (0, (-2, s.H // 4, s.W // 4)))),
    "encoder": F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "feature_propagation": F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "soft_split": F("t*n*d", lambda s: one(1, s.n, s.sizes.d)),
    "attention": F("k*n*(A+R+P)*t^2", lambda s: one(2, s.sizes.k, s.n, s.keys)),
    "fusion_ffn": F("t*n*f", lambda s: one(1, s.n, s.sizes.f)),
    "soft_composition": F("t*n*c*kh*kw", lambda s: one(1, s.n, s.sizes.patch)),
    "decoder": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
    "output": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
}

TENSORS: dict[str, TensorCheck[Symbols]] = {
    "attention_output": TensorCheck(rf"{BLOCK}\.attn", 0, "a block's attention output (windows x t*wh*ww x d)",
                                    F("t*n*d", lambda s: one(1, s.n, s.sizes.d))),
    "soft_composition_fold": TensorCheck(r"sc", 0, "soft composition output (Fold plus bias)",
                                         F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w))),
}

# Conv / linear / matmul FLOPs of the whole stage, every instance (2 per multiply-add). SPyNet runs both ways on
# the t-1 pairs; the propagation aligns t-1 frames each way (conv_offset and the deformable convolution) and
# refines and fuses all t; a block's attention: q/k/v and the output projection (8*t*n*d^2), q/k/v of the
# pooled windows (6*t*n_wp*d^2), the pooling Linear (2*t*n_wp*a_p*d) and the two products with the matrix.
FLOPS: dict[str, F] = {
    "flow_completion": F("4*(t-1)*spynet", lambda s: ((1, (4, s.spynet)), (0, (-4, s.spynet)))),
    "encoder": F("2*t*encoder", lambda s: one(1, 2, s.encoder)),
    "feature_propagation": F("2*h*w*((t-1)*aligned + t*every_frame)", lambda s: (
        (1, (2, s.h, s.w, s.sizes.aligned + s.sizes.every_frame)), (0, (-2, s.h, s.w, s.sizes.aligned)))),
    "soft_split": F("2*t*n*c*kh*kw*d", lambda s: one(1, 2, s.n, s.sizes.patch, s.sizes.d)),
    "attention": F("L*(8*t*n*d^2 + 6*t*n_wp*d^2 + 2*t*n_wp*a_p*d + 4*t^2*n*(A+R+P)*d)", lambda s: (
        (1, (s.sizes.L * 2 * s.sizes.d * (4 * s.n * s.sizes.d + 3 * s.n_wp * s.sizes.d + s.n_wp * s.sizes.a_p),)),
        (2, (s.sizes.L * 4 * s.n * s.keys * s.sizes.d,)))),
    "fusion_ffn": F("L*4*t*n*d*f", lambda s: one(1, s.sizes.L * 4 * s.n * s.sizes.d * s.sizes.f)),
    "soft_composition": F("2*t*n*d*c*kh*kw", lambda s: one(1, 2, s.n, s.sizes.d, s.sizes.patch)),
    "decoder": F("2*t*decoder", lambda s: one(1, 2, s.decoder)),
}
