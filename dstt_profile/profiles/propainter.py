"""The ProPainter profile (Zhou et al., ICCV 2023: the released model/propainter.py `InpaintGenerator`), for a
module with the release's module names (`detect`); its sizes are read off the module (docs/models.md,
"Built-in profiles: E2FGVI and ProPainter"). Its forward takes the flows, masks and `num_local_frames`: run it
with `--inputs FILE.py:function`. Its sparse attention's matrices depend on how many windows the mask
touches; the formulas read that from the run's masks (`window_counts`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from dstt_profile.engine.subject import ForwardInputs, InputSpec
from dstt_profile.profiles import inputs as forward_inputs
from dstt_profile.profiles.attention import (
    Formula,
    StageFormulas,
    TensorCheck,
    has_modules,
    one,
    pair,
    root_output,
    stage_map,
    symbols_of,
    tail_subject,
)
from dstt_profile.profiles.base import FormulaValue, Headline, ModelProfile
from dstt_profile.profiles.e2fgvi import (
    Layer,
    alignment_macs,
    conv_layers,
    conv_macs,
    layers_macs,
    positive_int,
    rolled_keys,
)
from dstt_profile.records.runconfig import RunConfig

if TYPE_CHECKING:  # known.py imports this module
    from dstt_profile.profiles.known import SubjectFor

NAME = "propainter"
STAGES = ("encoder", "feature_propagation", "soft_split", "attention", "fusion_ffn", "soft_composition", "decoder",
          "output")

# The ops of a module no rule names (the root, the blocks' container, a block) belong to the running stage: the
# frames and masks joined for the encoder, the flows' and masks' resize to the feature map and the mask's
# max-pool onto the token grid (`max_pool`, run between the encoder and the propagation) to the encoder, the
# propagated and other frames' features joined to feature propagation, the mask's layout for the transformer
# and the blocks' frame indices to soft split, a block's residual adds to its attention and fusion FFN, the
# skip add onto the encoder's features to soft composition; the root's tanh after the decoder is the output stage.
stage_of = stage_map((
    (r"encoder(\..+)?", "encoder"),
    (r"(feat_prop_module|img_prop_module)(\..+)?", "feature_propagation"),
    (r"ss(\..+)?", "soft_split"),
    (r"transformers\.transformer\.\d+\.(norm1|attention)(\..+)?", "attention"),
    (r"transformers\.transformer\.\d+\.(norm2|mlp)(\..+)?", "fusion_ffn"),
    (r"sc(\..+)?", "soft_composition"),
    (r"decoder(\..+)?", "decoder"),
))

_BLOCK = r"transformers\.transformer\.\d+"
HEADLINES: dict[str, Headline] = {
    "encoder": Headline(r"encoder", 0, "encoder output (frames and both masks in)"),
    "feature_propagation": Headline(r"feat_prop_module", 2, "propagated features of the local frames (fused)"),
    "soft_split": Headline(r"ss", 0, "soft split output: the clip's tokens entering the transformer"),
    # attn_drop's first call: the masked windows' q.k^T matrix, softmaxed (identity dropout at inference)
    "attention": Headline(rf"{_BLOCK}\.attention\.attn_drop", 0,
                          "attention matrix of a block's masked windows (softmax over q.k^T)"),
    "fusion_ffn": Headline(rf"{_BLOCK}\.mlp\.fc1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": Headline(r"sc\.embedding", 0, "soft composition embedding output, before Fold"),
    "decoder": Headline(r"decoder", 0, "decoder output (the local frames)"),
    "output": Headline(r"", 0, "tanh output (the local frames)"),
}

_ATTN = "transformers.transformer.0.attention"
_SIGNATURE = ("encoder", "feat_prop_module", "feat_prop_module.deform_align", "feat_prop_module.backbone",
              "feat_prop_module.fuse", "img_prop_module", "max_pool", "ss", "ss.t2t", "ss.embedding", "transformers",
              "transformers.transformer", _ATTN, f"{_ATTN}.query", f"{_ATTN}.key", f"{_ATTN}.value", f"{_ATTN}.proj",
              f"{_ATTN}.attn_drop", f"{_ATTN}.pool_layer", f"{_ATTN}.max_pool", "transformers.transformer.0.norm1",
              "transformers.transformer.0.norm2", "transformers.transformer.0.mlp", "transformers.transformer.0.mlp.fc1",
              "sc", "sc.embedding", "sc.bias_conv", "decoder")
T_DILATION = 2  # the forward's default: block j's masked windows see frames j % 2, j % 2 + 2, ...


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


@dataclass(frozen=True)
class Windows:
    """What the run's masks make of the windows: local frames l, frames l_d decoded, t_dilation, the masked
    windows of each clip of the batch (`masked`), of `total` windows per clip."""

    local: int
    l_d: int
    t_d: int
    masked: tuple[int, ...]
    total: int
    source: str  # "the run's masks" or "the stated mask (a centred box over a quarter of each frame)"

    @property
    def M(self) -> int:  # masked windows, whole batch
        return sum(self.masked)

    @property
    def U(self) -> int:  # unmasked windows, whole batch
        return self.total * len(self.masked) - self.M


@dataclass(frozen=True)
class Symbols:
    """One run's symbols: b, t, frame H x W, feature map h x w, token grid nh x nw (n per frame; padded to
    whole windows: n_pad), the pooled tokens per frame n_p, the windows' counts, and `sizes`."""

    b: int
    t: int
    H: int
    W: int
    h: int
    w: int
    nh: int
    nw: int
    n_pad: int
    n_p: int
    encoder: int
    decoder: int
    windows: Windows
    sizes: Sizes

    @property
    def n(self) -> int:
        return self.nh * self.nw

    @property
    def keys(self) -> int:  # keys per frame of a masked window's queries: A + R + P
        return self.sizes.A + self.sizes.R + self.n_p

    @property
    def frames_0(self) -> int:  # frames block 0's masked windows attend to: ceil(t / t_d)
        return len(range(0, self.t, self.windows.t_d))


def looks_like_propainter(module: nn.Module) -> bool:
    """True when `module` has ProPainter's module names (its soft split an Unfold and a Linear)."""
    return (has_modules(module, _SIGNATURE) and isinstance(module.get_submodule("ss.t2t"), nn.Unfold)
            and isinstance(module.get_submodule("ss.embedding"), nn.Linear)
            and isinstance(module.get_submodule("max_pool"), nn.MaxPool2d))


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


def _spans(size: int, kernel: int, stride: int, padding: int) -> list[range]:
    """The input indices each output of a max-pool reads (padding reads nothing)."""
    out = (size + 2 * padding - kernel) // stride + 1
    return [range(max(0, i * stride - padding), min(size, i * stride - padding + kernel)) for i in range(out)]


def box_windows(height: int, width: int, sizes: Sizes, grid: tuple[int, int]) -> int:
    """Masked windows per clip for the stated mask: 1 on rows [(H - H//2)//2, +H//2) and columns
    [(W - W//2)//2, +W//2) of every frame. The forward's chain, per axis: nearest 1/4 resize (row r reads row
    4r), the max-pool onto the token grid, the windows' max-pool (the grid padded with zeros to whole windows)."""
    counts = []
    for axis, full in enumerate((height, width)):
        first = (full - full // 2) // 2
        feature = [first <= 4 * r < first + full // 2 for r in range(grid[axis])]
        (kernel, stride, padding) = (v[axis] for v in sizes.mask_pool)
        tokens = [any(feature[r] for r in span) for span in _spans(grid[axis], kernel, stride, padding)]
        size = sizes.window[axis]
        counts.append(sum(any(tokens[a * size:(a + 1) * size]) for a in range(math.ceil(len(tokens) / size))))
    return counts[0] * counts[1]


def masked_windows(masks_in: torch.Tensor, local: int, sizes: Sizes) -> tuple[int, ...]:
    """Masked windows of each clip of a (b, t, 1, H, W) mask, as the forward counts them over `local` frames."""
    b, _, _, height, width = masks_in.shape
    with torch.no_grad():
        feature = F.interpolate(masks_in.reshape(-1, 1, height, width).float(), scale_factor=1 / 4, mode="nearest")
        feature = feature.view(b, -1, 1, *feature.shape[-2:])[:, :local]
        (kernel, stride, padding) = sizes.mask_pool
        tokens = F.max_pool2d(feature.reshape(-1, 1, *feature.shape[-2:]), kernel, stride, padding)
        (wh, ww), (nh, nw) = sizes.window, tokens.shape[-2:]
        tokens = F.pad(tokens, (0, math.ceil(nw / ww) * ww - nw, 0, math.ceil(nh / wh) * wh - nh))
        windows = F.max_pool2d(tokens, (wh, ww), (wh, ww)).view(b, local, -1).sum(dim=1)
    return tuple(int(v) for v in (windows != 0).sum(dim=1))


def _argument(values: ForwardInputs, index: int, name: str) -> Any:
    if name in values.kwargs:
        return values.kwargs[name]
    return values.args[index] if index < len(values.args) else None


@functools.lru_cache(maxsize=32)
def window_counts(run: RunConfig, sizes: Sizes, grid: tuple[int, int]) -> Windows:
    """The run's windows: from its inputs' values (masks_in, num_local_frames, t_dilation) where it names an
    inputs function whose arguments hold them, else for the stated mask with every frame local."""
    nh, nw = _token_grid(grid, sizes)
    total = math.ceil(nh / sizes.window[0]) * math.ceil(nw / sizes.window[1])
    train = run.mode == "train"
    if run.inputs is not None:
        spec = InputSpec(run.batch, run.frames, run.height, run.width, torch.float32, "cpu", True)
        values = forward_inputs.maker(run)(spec)
        masks, local = _argument(values, 2, "masks_in"), _argument(values, 4, "num_local_frames")
        dilation = _argument(values, 6, "t_dilation")
        if isinstance(masks, torch.Tensor) and masks.dim() == 5 and isinstance(local, int):
            t_d = dilation if isinstance(dilation, int) and dilation > 0 else T_DILATION
            counted = run.frames if train else local
            return Windows(local, counted, t_d, masked_windows(masks, counted, sizes), total, "the run's masks")
    box = box_windows(run.height, run.width, sizes, grid)
    return Windows(run.frames, run.frames, T_DILATION, (box,) * run.batch, total,
                   "the stated mask (a centred box over a quarter of each frame)")


def _token_grid(grid: tuple[int, int], sizes: Sizes) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw) = sizes.kernel, sizes.stride, sizes.padding
    return (grid[0] + 2 * ph - kh) // sh + 1, (grid[1] + 2 * pw - kw) // sw + 1


def symbols_for(sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    def make(run: RunConfig) -> Symbols:
        enc, (h, w) = layers_macs(sizes.encoder, run.height, run.width)
        if (h, w) != (run.height // 4, run.width // 4):
            raise ValueError(f"ProPainter resizes its masks to 1/4 of the frame; {run.height}x{run.width} frames make "
                             f"{h}x{w} features, not {run.height // 4}x{run.width // 4}")
        nh, nw = _token_grid((h, w), sizes)
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


def _matrix(s: Symbols) -> tuple[tuple[int, tuple[Fraction | int, ...]], ...]:
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
    "attention_output": TensorCheck(rf"{_BLOCK}\.attention", 0, "a block's attention output (b, t, h', w', d)",
                                    F_("t*n*d", lambda s: one(1, s.n, s.sizes.d))),
    "soft_composition_conv": TensorCheck(r"sc", 0, "soft composition output (Fold, then its 3x3 convolution)",
                                         F_("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w))),
}


def _attention_flops(s: Symbols) -> tuple[tuple[int, tuple[Fraction | int, ...]], ...]:
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


def _note(sizes: Sizes) -> str:
    k, st, p, win, pool = ("x".join(map(str, v)) for v in (sizes.kernel, sizes.stride, sizes.padding, sizes.window, sizes.pool))
    return (f"ProPainter's module names: the ProPainter profile; sizes read from the module: channels {sizes.c}, hidden "
            f"{sizes.d}, heads {sizes.k}, blocks {sizes.L}, soft split kernel {k} stride {st} padding {p}, window {win} "
            f"(keys per frame {sizes.A} + {sizes.R} rolled + the {pool}-pooled tokens), fusion FFN {sizes.f}; masked "
            "windows counted from the run's masks")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The ProPainter profile of a ProPainter-shaped module (`probe`), else None."""
    if not looks_like_propainter(probe):
        return None
    try:
        sizes = sizes_of(probe)
    except (ValueError, AttributeError, TypeError, StopIteration):
        return None
    formulas = StageFormulas(symbols_for(sizes), ELEMENTS, FLOPS, TENSORS)
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: tail_subject(subject_for(run, stage_of, STAGES[0])),
                        stage_of=root_output(stage_of), stages=STAGES, headlines=HEADLINES, formulas=formulas,
                        quadratic_stage="attention", quadratic_words="sparse window attention",
                        quadratic_headline="attention matrix of a block's masked windows", kernel_stages=("attention",),
                        note=_note(sizes))
