"""The E2FGVI profile (Li et al., CVPR 2022: the released model/e2fgvi.py `InpaintGenerator`), for a module with
the release's module names (`detect`); its sizes are read off the module (docs/models.md, "Built-in profiles:
E2FGVI and ProPainter"). Its forward takes `num_local_frames` too: run it with `--inputs FILE.py:function`; the
formulas hold where every frame is local (num_local_frames = t)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from dstt_profile.profiles.attention import (
    Formula,
    Geometry,
    StageFormulas,
    TensorCheck,
    conv_chain,
    feature_size,
    has_modules,
    one,
    pair,
    root_output,
    stage_map,
    symbols_of,
    tail_subject,
)
from dstt_profile.profiles.base import Headline, ModelProfile
from dstt_profile.records.runconfig import RunConfig

if TYPE_CHECKING:  # known.py imports this module
    from dstt_profile.profiles.known import SubjectFor

NAME = "e2fgvi"
STAGES = ("flow_completion", "encoder", "feature_propagation", "soft_split", "attention", "fusion_ffn",
          "soft_composition", "decoder", "output")

# The ops of a module no rule names (the root, a block) belong to the running stage: the root's scaling and
# 1/4 resize of the local frames (before SPyNet runs) to flow completion, the concatenation of the propagated
# and the other frames' features to feature propagation, the skip add onto the encoder's features to soft
# composition, a block's window partitions, pooling and residual adds to its attention and fusion FFN; the
# root's tanh after the decoder is the output stage.
stage_of = stage_map((
    (r"update_spynet(\..+)?", "flow_completion"),
    (r"encoder(\..+)?", "encoder"),
    (r"feat_prop_module(\..+)?", "feature_propagation"),
    (r"ss(\..+)?", "soft_split"),
    (r"transformer\.\d+\.(norm1|pool_layers|attn)(\..+)?", "attention"),
    (r"transformer\.\d+\.(norm2|mlp)(\..+)?", "fusion_ffn"),
    (r"sc(\..+)?", "soft_composition"),
    (r"decoder(\..+)?", "decoder"),
))

_BLOCK = r"transformer\.\d+"
HEADLINES: dict[str, Headline] = {
    "flow_completion": Headline(r"update_spynet", 0, "forward flows of the local frames at 1/4 size (SPyNet's first call)"),
    "encoder": Headline(r"encoder", 0, "encoder output"),
    "feature_propagation": Headline(r"feat_prop_module", 0, "propagated features of the local frames"),
    "soft_split": Headline(r"ss", 0, "soft split output: the clip's tokens entering the transformer"),
    # nn.Softmax's output: the q.k^T matrix (B*windows, heads, t*wh*ww, t*(wh*ww + R + P)) softmaxed
    "attention": Headline(rf"{_BLOCK}\.attn\.softmax", 0, "attention matrix of a block (softmax over q.k^T)"),
    "fusion_ffn": Headline(rf"{_BLOCK}\.mlp\.conv1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": Headline(r"sc\.embedding", 0, "soft composition embedding output, before Fold"),
    "decoder": Headline(r"decoder", 0, "decoder output"),
    "output": Headline(r"", 0, "tanh output"),
}

# Module names every E2FGVI generator has (the released file, a fork with other sizes).
_ATTN = "transformer.0.attn"
_SIGNATURE = ("update_spynet", "update_spynet.basic_module", "encoder", "feat_prop_module",
              "feat_prop_module.deform_align", "feat_prop_module.backbone", "feat_prop_module.fusion", "ss", "ss.t2t",
              "ss.embedding", "transformer", _ATTN, f"{_ATTN}.qkv", f"{_ATTN}.proj", f"{_ATTN}.softmax",
              "transformer.0.norm1", "transformer.0.norm2", "transformer.0.pool_layers", "transformer.0.mlp",
              "transformer.0.mlp.conv1", "sc", "sc.embedding", "sc.t2t", "decoder")


def conv_macs(module: nn.Module) -> int:
    """Multiply-adds per output pixel of every Conv2d in `module`: out * in/groups * kh * kw, summed."""
    return sum(int(m.weight.numel()) for m in module.modules() if isinstance(m, nn.Conv2d))


def alignment_macs(module: nn.Module) -> int:
    """Multiply-adds per pixel of a deformable alignment: its offset convolutions and its own 3x3 deformable
    convolution (its `weight`, as a convolution's)."""
    return conv_macs(module.get_submodule("conv_offset")) + int(module.get_parameter("weight").numel())


def rolled_keys(window: tuple[int, int], expand: tuple[int, int]) -> int:
    """Keys per frame the four diagonal rolls by `expand` add to a window: each roll's mask keeps a window's
    cells outside the `[:-eh, :-ew]`-style corner block it zeroes (Python's slice rules, as the release's)."""
    (wh, ww), (eh, ew) = window, expand
    rows, cols = range(wh), range(ww)
    corners = ((rows[:-eh], cols[:-ew]), (rows[:-eh], cols[ew:]), (rows[eh:], cols[:-ew]), (rows[eh:], cols[ew:]))
    return sum(wh * ww - len(r) * len(c) for r, c in corners)


def positive_int(module: nn.Module, name: str) -> int:
    value = getattr(module, name, None)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"no {name} on {type(module).__name__}")
    return value


@dataclass(frozen=True)
class Sizes:
    """What the module holds: feature channels c (soft split input), token width d, heads k, blocks L, the
    soft split's kernel / stride / padding, the Fold output size, the window (wh, ww) and its keys per frame
    (A = wh*ww own, R rolled, P pooled), the pooling windows' area a_p, the fusion FFN width f, and the
    multiply-adds per pixel of SPyNet's levels, of the propagation's aligned and every-frame convolutions."""

    c: int
    d: int
    k: int
    L: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    fold: tuple[int, int]
    window: tuple[int, int]
    R: int
    P: int
    pool_window: tuple[int, int]
    f: int
    flow_levels: tuple[int, ...]
    aligned: int
    every_frame: int

    @property
    def A(self) -> int:
        return self.window[0] * self.window[1]

    @property
    def a_p(self) -> int:  # tokens a pooled window averages
        return self.pool_window[0] * self.pool_window[1]

    @property
    def patch(self) -> int:  # values per soft-split patch: c*kh*kw
        return self.c * self.kernel[0] * self.kernel[1]


def looks_like_e2fgvi(module: nn.Module) -> bool:
    """True when `module` has E2FGVI's module names (its soft split an Unfold and a Linear, its soft
    composition a Fold: the HQ variant's composition, a convolution, is not this profile's)."""
    return (has_modules(module, _SIGNATURE) and isinstance(module.get_submodule("ss.t2t"), nn.Unfold)
            and isinstance(module.get_submodule("ss.embedding"), nn.Linear)
            and isinstance(module.get_submodule("sc.t2t"), nn.Fold))


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes an E2FGVI-shaped module's layers hold (ValueError where one is missing or the blocks differ)."""
    unfold, embed, fold = module.get_submodule("ss.t2t"), module.get_submodule("ss.embedding"), module.get_submodule("sc.t2t")
    assert isinstance(unfold, nn.Unfold) and isinstance(embed, nn.Linear) and isinstance(fold, nn.Fold)
    kernel = pair(unfold.kernel_size)
    blocks = list(module.get_submodule("transformer").children())
    attentions = [block.get_submodule("attn") for block in blocks]
    keys = ("num_heads", "window_size", "expand_size", "focal_level", "focal_window", "pool_method")
    shown: list[tuple[Any, ...]] = [tuple(getattr(a, key, None) for key in keys) for a in attentions]
    if len(set(shown)) != 1:
        raise ValueError("the transformer blocks' attention sizes differ")
    attn = attentions[0]
    window, expand = pair(attn.window_size), pair(attn.expand_size)
    levels = positive_int(attn, "focal_level")
    rolled = rolled_keys(window, expand) if any(e > 0 for e in expand) else 0
    pooled, pool_window = 0, window
    if attn.pool_method != "none" and levels > 1:
        if levels > 2:
            raise ValueError("focal_level above 2 (the release gathers pooled keys of level 0 only)")
        kh, kw = pair(attn.get_submodule("unfolds.0").kernel_size)  # the level-0 Unfold of the pooled k, v
        pooled = kh * kw
        pool_window = pair(getattr(blocks[0], "window_size_glo", window))
    ffn = next(m for m in module.get_submodule("transformer.0.mlp.conv1").modules() if isinstance(m, nn.Linear))
    prop = module.get_submodule("feat_prop_module")
    directions = ("backward_", "forward_")
    aligned = sum(alignment_macs(prop.get_submodule(f"deform_align.{n}")) for n in directions)
    every = sum(conv_macs(prop.get_submodule(f"backbone.{n}")) for n in directions) + conv_macs(prop.get_submodule("fusion"))
    return Sizes(c=embed.in_features // (kernel[0] * kernel[1]), d=int(embed.out_features),
                 k=positive_int(attn, "num_heads"), L=len(blocks), kernel=kernel, stride=pair(unfold.stride),
                 padding=pair(unfold.padding), fold=pair(fold.output_size), window=window, R=rolled, P=pooled,
                 pool_window=pool_window, f=int(ffn.out_features),
                 flow_levels=tuple(conv_macs(level) for level in module.get_submodule("update_spynet.basic_module").children()),
                 aligned=aligned, every_frame=every)


@dataclass(frozen=True)
class Symbols:
    """One run's symbols: b, t, frame H x W, feature map h x w, token grid nh x nw (n per frame), the windows
    per frame (n_w; n_wp the pooling windows), SPyNet's pyramid (multiply-adds of one pass), and `sizes`."""

    b: int
    t: int
    H: int
    W: int
    h: int
    w: int
    nh: int
    nw: int
    n_w: int
    n_wp: int
    spynet: int
    encoder: int
    decoder: int
    sizes: Sizes

    @property
    def n(self) -> int:
        return self.nh * self.nw

    @property
    def keys(self) -> int:  # keys per frame of a window's queries: A + R + P
        return self.sizes.A + self.sizes.R + self.sizes.P


def pyramid_macs(levels: tuple[int, ...], height: int, width: int) -> int:
    """Multiply-adds of one SPyNet pass on height x width frames: the frames resized up to multiples of 32,
    level i (coarsest first) at 1/2^(levels-1-i) of that, each level's convolutions at its size."""
    top = 2 ** (len(levels) - 1)
    hu, wu = math.ceil(height / 32) * 32, math.ceil(width / 32) * 32
    return sum((hu * 2**i // top) * (wu * 2**i // top) * macs for i, macs in enumerate(levels))


Layer = tuple[bool, Geometry, int]  # (doubles the size first, the convolution's geometry, its multiply-adds per pixel)


def conv_layers(module: nn.Module) -> tuple[Layer, ...]:
    """The convolutions of `module` in module order, each marked where a `deconv` (interpolate x2, then its
    `conv`) doubles the size before it."""
    out = []
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            parent = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
            doubles = name.endswith(".conv") and type(parent).__name__ == "deconv"
            out.append((doubles, conv_chain(m)[0], int(m.weight.numel())))
    return tuple(out)


def layers_macs(layers: tuple[Layer, ...], height: int, width: int) -> tuple[int, tuple[int, int]]:
    """Multiply-adds of one frame of height x width through `layers`, and the size they make."""
    total = 0
    for doubles, geometry, macs in layers:
        if doubles:
            height, width = 2 * height, 2 * width
        height, width = feature_size((geometry,), height, width)
        total += height * width * macs
    return total, (height, width)


def symbols_for(module: nn.Module, sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    encoder, decoder = conv_layers(module.get_submodule("encoder")), conv_layers(module.get_submodule("decoder"))

    def make(run: RunConfig) -> Symbols:
        enc, (h, w) = layers_macs(encoder, run.height, run.width)
        if (h, w) != sizes.fold:
            raise ValueError(f"E2FGVI's soft composition folds onto {sizes.fold[0]}x{sizes.fold[1]} features; "
                             f"{run.height}x{run.width} frames make {h}x{w}")
        (kh, kw), (sh, sw), (ph, pw) = sizes.kernel, sizes.stride, sizes.padding
        nh, nw = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        (wh, ww), (gh, gw) = sizes.window, sizes.pool_window
        if nh % wh or nw % ww:
            raise ValueError(f"E2FGVI's {wh}x{ww} windows do not tile its {nh}x{nw} token grid")
        dec, _ = layers_macs(decoder, h, w)
        return Symbols(b=run.batch, t=run.frames, H=run.height, W=run.width, h=h, w=w, nh=nh, nw=nw,
                       n_w=(nh // wh) * (nw // ww), n_wp=math.ceil(nh / gh) * math.ceil(nw / gw),
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
    "attention_output": TensorCheck(rf"{_BLOCK}\.attn", 0, "a block's attention output (windows x t*wh*ww x d)",
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


def _note(sizes: Sizes) -> str:
    k, st, p, win = ("x".join(map(str, v)) for v in (sizes.kernel, sizes.stride, sizes.padding, sizes.window))
    return (f"E2FGVI's module names: the E2FGVI profile; sizes read from the module: channels {sizes.c}, hidden {sizes.d}, "
            f"heads {sizes.k}, blocks {sizes.L}, soft split kernel {k} stride {st} padding {p}, window {win} "
            f"(keys per frame {sizes.A} + {sizes.R} rolled + {sizes.P} pooled), fusion FFN {sizes.f}; "
            "formulas for num_local_frames = t")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The E2FGVI profile of an E2FGVI-shaped module (`probe`), else None."""
    if not looks_like_e2fgvi(probe):
        return None
    try:
        sizes = sizes_of(probe)
    except (ValueError, AttributeError, TypeError, StopIteration):
        return None
    formulas = StageFormulas(symbols_for(probe, sizes), ELEMENTS, FLOPS, TENSORS)
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: tail_subject(subject_for(run, stage_of, STAGES[0])),
                        stage_of=root_output(stage_of), stages=STAGES, headlines=HEADLINES, formulas=formulas,
                        quadratic_stage="attention", quadratic_words="temporal focal window attention",
                        quadratic_headline="attention matrix of a block", kernel_stages=("attention",), note=_note(sizes))
