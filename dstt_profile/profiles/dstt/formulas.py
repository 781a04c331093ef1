"""Closed-form formulas per stage in docs/architecture.md's symbols, exact integers: element formulas
per instance (one block), FLOP formulas over every instance."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dstt_profile.profiles.attention import Formula as ExactFormula
from dstt_profile.profiles.attention import one
from dstt_profile.profiles.dstt.args import config_of
from dstt_profile.records.runconfig import RunConfig
from model.config import DSTTConfig


@dataclass(frozen=True)
class Symbols:
    """docs/architecture.md's symbols for one run."""

    b: int
    t: int
    H: int
    W: int
    c: int
    d: int
    k: int
    L: int
    s: int
    n: int
    p: int
    cp: int  # c' = c/2

    @classmethod
    def of(cls, run: RunConfig, config: DSTTConfig | None = None) -> Symbols:
        """The symbols of `run`, for the network `config` (by default the one its arguments describe)."""
        mc = config if config is not None else config_of(run)
        return cls(b=run.batch, t=run.frames, H=run.height, W=run.width, c=mc.channel, d=mc.hidden, k=mc.heads,
                   L=mc.blocks, s=mc.zones, n=mc.tokens, p=mc.kernel, cp=mc.fold_channels)


Formula = ExactFormula[Symbols]  # b * sum(t^power * prod(factors)); a factor may be a fraction (k/s^2)


# Headline-tensor elements, one instance.
ELEMENTS: dict[str, Formula] = {
    "encoder": Formula("t*c*(H/4)*(W/4)", lambda s: one(1, s.c, s.H // 4, s.W // 4)),
    "hier_enc": Formula("t*c'*(H/4)*(W/4)", lambda s: one(1, s.cp, s.H // 4, s.W // 4)),
    "he_output": Formula("t*n*d", lambda s: one(1, s.n, s.d)),
    "spatial_attention": Formula("t*k*n^2", lambda s: one(1, s.k, s.n, s.n)),
    "ffn": Formula("t*n*4d", lambda s: one(1, s.n, 4 * s.d)),
    "temporal_attention": Formula("k*t^2*n^2/s^2", lambda s: one(2, Fraction(s.k, s.s**2), s.n, s.n)),
    "vec2patch": Formula("t*n*c'*p^2", lambda s: one(1, s.n, s.cp * s.p**2)),
    "vec2patch_fold": Formula("t*c'*(H/4)*(W/4)", lambda s: one(1, s.cp, s.H // 4, s.W // 4)),
    "decoder": Formula("t*3*H*W", lambda s: one(1, 3, s.H, s.W)),
    "output": Formula("t*3*H*W", lambda s: one(1, 3, s.H, s.W)),
}

# With a fused attention kernel the matrix never exists; the largest tensor an attention stage holds
# is then a (bt, n, d) token tensor (projections, zoned q/k/v, the kernel's output).
FUSED_ELEMENTS: dict[str, Formula] = {
    "spatial_attention": Formula("t*n*d", lambda s: one(1, s.n, s.d)),
    "temporal_attention": Formula("t*n*d", lambda s: one(1, s.n, s.d)),
}

# Conv / linear / matmul FLOPs of the whole stage, all instances (2 per multiply-add; docs/architecture.md).
# L_s = floor(L/2) spatial blocks, L_t = ceil(L/2) temporal blocks.
FLOPS: dict[str, Formula] = {
    "he_output": Formula("2*t*n*d*c'*p^2", lambda s: one(1, 2, s.n, s.d, s.cp * s.p**2)),
    "spatial_attention": Formula("L_s*(8*t*n*d^2 + 4*t*n^2*d)", lambda s: (
        (1, (s.L // 2 * 8 * s.n * s.d**2,)), (1, (s.L // 2 * 4 * s.n**2 * s.d,)))),
    "temporal_attention": Formula("L_t*(8*t*n*d^2 + 4*t^2*n^2*d/s^2)", lambda s: (
        (1, ((s.L + 1) // 2 * 8 * s.n * s.d**2,)), (2, (Fraction((s.L + 1) // 2 * 4 * s.n**2 * s.d, s.s**2),)))),
    "ffn": Formula("L*16*t*n*d^2", lambda s: one(1, s.L * 16 * s.n * s.d**2)),
    "vec2patch": Formula("2*t*n*d*c'*p^2", lambda s: one(1, 2, s.n, s.d, s.cp * s.p**2)),
}

