"""ProPainter's symbols for a run and the closed-form formulas in them (docs/models.md, "Built-in profiles: E2FGVI
and ProPainter"): exact integers; the masked windows m (clip 0), M and U (the batch) counted from the run's masks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

from dstt_profile.profiles.attention import Formula, TensorCheck, Term, one, symbols_of
from dstt_profile.profiles.base import FormulaValue
from dstt_profile.profiles.e2fgvi.sizes import layers_macs
from dstt_profile.profiles.propainter.sizes import Sizes
from dstt_profile.profiles.propainter.stages import BLOCK
from dstt_profile.profiles.propainter.windows import Windows, window_counts
from dstt_profile.profiles.tokens import TokenSymbols
from dstt_profile.records.runconfig import RunConfig


@dataclass(frozen=True)
class Symbols(TokenSymbols):
    """One run's symbols: b, t, frame H x W, feature map h x w, token grid nh x nw (n per frame; padded to
    whole windows: n_pad), the pooled tokens per frame n_p, the windows' counts, and `sizes`."""

    n_pad: int
    n_p: int
    encoder: int
    decoder: int
    windows: Windows
    sizes: Sizes

    @property
    def keys(self) -> int:  # keys per frame of a masked window's queries: A + R + P
        return self.sizes.A + self.sizes.R + self.n_p

    @property
    def frames_0(self) -> int:  # frames block 0's masked windows attend to: ceil(t / t_d)
        return len(range(0, self.t, self.windows.t_d))


def symbols_for(sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    def make(run: RunConfig) -> Symbols:
        enc, (h, w) = layers_macs(sizes.encoder, run.height, run.width)
        if (h, w) != (run.height // 4, run.width // 4):
            raise ValueError(f"ProPainter resizes its masks to 1/4 of the frame; {run.height}x{run.width} frames make "
                             f"{h}x{w} features, not {run.height // 4}x{run.width // 4}")
        nh, nw = sizes.grid(h, w)
        (wh, ww), (qh, qw) = sizes.window, sizes.pool
        new_h, new_w = math.ceil(nh / wh) * wh, math.ceil(nw / ww) * ww
        dec, _ = layers_macs(sizes.decoder, h, w)
        windows = window_counts(run, sizes, (h, w))
        return Symbols(b=run.batch, t=run.frames, H=run.height, W=run.width, h=h, w=w, nh=nh, nw=nw,
                       n_pad=new_h * new_w, n_p=((new_h - qh) // qh + 1) * ((new_w - qw) // qw + 1), encoder=enc,
                       decoder=dec, windows=windows, sizes=sizes)

    return symbols_of(make)


class PerClip(Formula[Symbols]):
    """A formula for one clip of the batch (the attention module loops over the batch's clips): no factor b."""

    def coefficients(self, sym: Symbols) -> dict[int, Fraction]:
        return {p: c / sym.b for p, c in super().coefficients(sym).items()}

    def substituted(self, sym: Symbols) -> str:
        return super().substituted(replace(sym, b=1))

    def at(self, sym: Symbols) -> FormulaValue:
        return FormulaValue(self.general, self.substituted(sym), self.value(sym))


F_ = Formula[Symbols]


def _matrix(s: Symbols) -> tuple[Term, ...]:
    """Block 0's first matrix for clip 0: its masked windows' (m, k, t*A, ceil(t/t_d)*(A+R+P)), or where the mask
    touches no window, the unmasked windows' (u, k, t, A, A)."""
    m = s.windows.masked[0]
    if m:
        return one(1, m, s.sizes.k, s.sizes.A, s.frames_0, s.keys)
    return one(1, s.windows.total, s.sizes.k, s.sizes.A, s.sizes.A)


# Headline-tensor elements, one instance (the decoder and output: the l_d frames decoded).
ELEMENTS: dict[str, F_] = {
    "encoder": F_("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "feature_propagation": F_("l*c*h*w", lambda s: one(0, s.windows.local, s.sizes.c, s.h, s.w)),
    "soft_split": F_("t*n*d", lambda s: one(1, s.n, s.sizes.d)),
    "attention": PerClip("m*k*t*A*ceil(t/t_d)*(A+R+P) (no window masked: u*k*t*A^2)", _matrix),
    "fusion_ffn": F_("t*n*f", lambda s: one(1, s.n, s.sizes.f)),
    "soft_composition": F_("t*n*c*kh*kw", lambda s: one(1, s.n, s.sizes.patch)),
    "decoder": F_("l_d*3*4h*4w", lambda s: one(0, s.windows.l_d, 3, 4 * s.h, 4 * s.w)),
    "output": F_("l_d*3*4h*4w", lambda s: one(0, s.windows.l_d, 3, 4 * s.h, 4 * s.w)),
}

TENSORS: dict[str, TensorCheck[Symbols]] = {
    "attention_output": TensorCheck(rf"{BLOCK}\.attention", 0, "a block's attention output (b, t, h', w', d)",
                                    F_("t*n*d", lambda s: one(1, s.n, s.sizes.d))),
    "soft_composition_conv": TensorCheck(r"sc", 0, "soft composition output (Fold, then its 3x3 convolution)",
                                         F_("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w))),
}


def _attention_flops(s: Symbols) -> tuple[Term, ...]:
    z, d, A = s.sizes, s.sizes.d, s.sizes.A
    linear = z.L * 2 * d * (3 * s.n_pad * d + s.n * d + 2 * s.n_p * d + s.n_p * z.pool[0] * z.pool[1])
    unmasked = Fraction(z.L * 4 * s.windows.U * A * A * d, s.b)
    masked = Fraction(4 * z.L * s.windows.M * A * s.keys * d, s.windows.t_d * s.b)
    return (1, (linear,)), (1, (unmasked,)), (2, (masked,))


# Conv / linear / matmul FLOPs of the whole stage, every instance (2 per multiply-add). The propagation aligns
# l-1 frames each way and refines and fuses all l; a block's attention: q/k/v on the window-padded grid
# (6*t*n_pad*d^2), the output projection (2*t*n*d^2), k/v of the pooled tokens (4*t*n_p*d^2), the depthwise
# pooling (2*t*n_p*qh*qw*d), the masked windows' two products (over the blocks' frames: L*t/t_d in all) and the
# unmasked windows' (each frame alone); M and U: masked and unmasked windows over the batch.
FLOPS: dict[str, F_] = {
    "encoder": F_("2*t*encoder", lambda s: one(1, 2, s.encoder)),
    "feature_propagation": F_("2*h*w*((l-1)*aligned + l*every_frame)", lambda s: one(
        0, 2, s.h, s.w, (s.windows.local - 1) * s.sizes.aligned + s.windows.local * s.sizes.every_frame)),
    "soft_split": F_("2*t*n*c*kh*kw*d", lambda s: one(1, 2, s.n, s.sizes.patch, s.sizes.d)),
    "attention": F_("L*(6*t*n_pad*d^2 + 2*t*n*d^2 + 4*t*n_p*d^2 + 2*t*n_p*qh*qw*d + 4*(U/b)*t*A^2*d) "
                    "+ 4*(L/t_d)*(M/b)*t^2*A*(A+R+P)*d", _attention_flops),
    "fusion_ffn": F_("L*4*t*n*d*f", lambda s: one(1, s.sizes.L * 4 * s.n * s.sizes.d * s.sizes.f)),
    "soft_composition": F_("2*t*n*d*c*kh*kw + 2*t*h*w*bias_conv", lambda s: one(
        1, 2 * (s.n * s.sizes.d * s.sizes.patch + s.h * s.w * s.sizes.bias_conv))),
    "decoder": F_("2*l_d*decoder", lambda s: one(0, 2, s.windows.l_d, s.decoder)),
}
