"""The FuseFormer profile (Liu et al., ICCV 2021: the released model/fuseformer.py `InpaintGenerator`), for a
module with the release's module names (`detect`); its sizes are read off the module (docs/models.md,
"Built-in profiles: STTN and FuseFormer")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from dstt_profile.profiles.attention import (
    Formula,
    StageFormulas,
    SubjectFor,
    TensorCheck,
    conv_chain,
    feature_size,
    has_modules,
    matrix_headline,
    one,
    pair,
    root_output,
    stage_map,
    symbols_of,
    tail_subject,
)
from dstt_profile.profiles.base import Headline, ModelProfile
from dstt_profile.records.runconfig import RunConfig

NAME = "fuseformer"
STAGES = ("encoder", "soft_split", "attention", "fusion_ffn", "soft_composition", "decoder", "output")

# The ops of a module no rule names (the root, a block) belong to the running stage: the input view to the
# encoder, the skip add of the soft composition onto the encoder's features to the soft composition, a
# block's residual adds to its attention and fusion FFN; the root's tanh after the decoder is the output stage.
stage_of = stage_map((
    (r"encoder(\..+)?", "encoder"),
    (r"(ss|add_pos_emb)(\..+)?", "soft_split"),
    (r"transformer\.\d+\.(norm1|dropout|attention)(\..+)?", "attention"),
    (r"transformer\.\d+\.(norm2|ffn)(\..+)?", "fusion_ffn"),
    (r"sc(\..+)?", "soft_composition"),
    (r"decoder(\..+)?", "decoder"),
))

_BLOCK = r"transformer\.\d+"
HEADLINES: dict[str, Headline] = {
    "encoder": Headline(r"encoder", 0, "encoder output"),
    "soft_split": Headline(r"ss", 0, "soft split output: the clip's tokens entering the transformer"),
    "attention": matrix_headline(rf"{_BLOCK}\.attention\.attention", "attention matrix of a block (every token of the clip)"),
    "fusion_ffn": Headline(rf"{_BLOCK}\.ffn\.conv1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": Headline(r"sc\.embedding", 0, "soft composition embedding output, before Fold"),
    "decoder": Headline(r"decoder", 0, "decoder output"),
    "output": Headline(r"", 0, "tanh output"),
}

# Module names every FuseFormer generator has (the released file, a fork with other sizes).
_SIGNATURE = ("encoder", "ss", "ss.t2t", "ss.embedding", "add_pos_emb", "transformer", "transformer.0.attention",
              "transformer.0.attention.query_embedding", "transformer.0.attention.key_embedding",
              "transformer.0.attention.value_embedding", "transformer.0.attention.output_linear",
              "transformer.0.attention.attention", "transformer.0.ffn", "transformer.0.ffn.conv1",
              "transformer.0.ffn.conv2", "transformer.0.ffn.fold", "transformer.0.ffn.unfold", "transformer.0.norm1",
              "transformer.0.norm2", "sc", "sc.embedding", "sc.t2t", "decoder")


@dataclass(frozen=True)
class Sizes:
    """What the module holds: channels c into the soft split, token width d, heads k, blocks L, soft split
    kernel / stride / padding (per axis), the fusion FFN's width f, the Fold output size (fh, fw)."""

    c: int
    d: int
    k: int
    L: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    f: int
    fold: tuple[int, int]


@dataclass(frozen=True)
class Symbols:
    """One run's symbols: b, t, frame H x W, feature map h x w, token grid nh x nw (n per frame), and `sizes`."""

    b: int
    t: int
    H: int
    W: int
    h: int
    w: int
    nh: int
    nw: int
    sizes: Sizes

    @property
    def n(self) -> int:
        return self.nh * self.nw

    @property
    def patch(self) -> int:  # values per soft-split patch: c*kh*kw
        return self.sizes.c * self.sizes.kernel[0] * self.sizes.kernel[1]


def looks_like_fuseformer(module: nn.Module) -> bool:
    """True when `module` has FuseFormer's module names (and the soft split's Unfold and Linear)."""
    return (has_modules(module, _SIGNATURE) and isinstance(module.get_submodule("ss.t2t"), nn.Unfold)
            and isinstance(module.get_submodule("ss.embedding"), nn.Linear)
            and isinstance(module.get_submodule("sc.t2t"), nn.Fold))


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes a FuseFormer-shaped module's layers hold."""
    unfold, embed, fold = module.get_submodule("ss.t2t"), module.get_submodule("ss.embedding"), module.get_submodule("sc.t2t")
    assert isinstance(unfold, nn.Unfold) and isinstance(embed, nn.Linear) and isinstance(fold, nn.Fold)
    kernel = pair(unfold.kernel_size)
    ffn = module.get_submodule("transformer.0.ffn.conv1")
    first = next(m for m in ffn.modules() if isinstance(m, nn.Linear))
    head = getattr(module.get_submodule("transformer.0.attention"), "head", None)
    if not isinstance(head, int) or isinstance(head, bool) or head < 1:
        raise ValueError("transformer.0.attention holds no head count (`head`)")
    return Sizes(c=embed.in_features // (kernel[0] * kernel[1]), d=int(embed.out_features), k=head,
                 L=len(list(module.get_submodule("transformer").children())), kernel=kernel,
                 stride=pair(unfold.stride), padding=pair(unfold.padding), f=int(first.out_features),
                 fold=pair(fold.output_size))


def symbols_for(module: nn.Module, sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    encoder = conv_chain(module.get_submodule("encoder"))

    def make(run: RunConfig) -> Symbols:
        h, w = feature_size(encoder, run.height, run.width)
        (kh, kw), (sh, sw), (ph, pw) = sizes.kernel, sizes.stride, sizes.padding
        return Symbols(b=run.batch, t=run.frames, H=run.height, W=run.width, h=h, w=w,
                       nh=(h + 2 * ph - kh) // sh + 1, nw=(w + 2 * pw - kw) // sw + 1, sizes=sizes)

    return symbols_of(make)


F = Formula[Symbols]

# Headline-tensor elements, one instance.
ELEMENTS: dict[str, F] = {
    "encoder": F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "soft_split": F("t*n*d", lambda s: one(1, s.n, s.sizes.d)),
    "attention": F("k*(t*n)^2", lambda s: one(2, s.sizes.k, s.n, s.n)),
    "fusion_ffn": F("t*n*f", lambda s: one(1, s.n, s.sizes.f)),
    "soft_composition": F("t*n*c*kh*kw", lambda s: one(1, s.n, s.patch)),
    "decoder": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
    "output": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
}

TENSORS: dict[str, TensorCheck[Symbols]] = {
    "soft_split_unfold": TensorCheck(r"ss\.t2t", 0, "soft split Unfold output", F("t*c*kh*kw*n", lambda s: one(1, s.patch, s.n))),
    "fusion_ffn_fold": TensorCheck(rf"{_BLOCK}\.ffn\.fold", 0, "fusion FFN Fold output", F(
        "t*(f/(kh*kw))*fh*fw", lambda s: one(1, s.sizes.f // (s.sizes.kernel[0] * s.sizes.kernel[1]), *s.sizes.fold))),
    "soft_composition_fold": TensorCheck(r"sc\.t2t", 0, "soft composition Fold output", F(
        "t*c*fh*fw", lambda s: one(1, s.sizes.c, *s.sizes.fold))),
}

# Conv / linear / matmul FLOPs of the whole stage, every instance (2 per multiply-add).
FLOPS: dict[str, F] = {
    "soft_split": F("2*t*n*c*kh*kw*d", lambda s: one(1, 2, s.n, s.patch, s.sizes.d)),
    "attention": F("L*(8*t*n*d^2 + 4*t^2*n^2*d)", lambda s: (
        (1, (s.sizes.L * 8 * s.n * s.sizes.d**2,)), (2, (s.sizes.L * 4 * s.n**2 * s.sizes.d,)))),
    "fusion_ffn": F("L*4*t*n*d*f", lambda s: one(1, s.sizes.L * 4 * s.n * s.sizes.d * s.sizes.f)),
    "soft_composition": F("2*t*n*d*c*kh*kw", lambda s: one(1, 2, s.n, s.sizes.d, s.patch)),
}


def _note(sizes: Sizes) -> str:
    k, st, p = ("x".join(map(str, v)) for v in (sizes.kernel, sizes.stride, sizes.padding))
    return (f"FuseFormer's module names: the FuseFormer profile; sizes read from the module: channels {sizes.c}, "
            f"hidden {sizes.d}, heads {sizes.k}, blocks {sizes.L}, soft split kernel {k} stride {st} padding {p}, "
            f"fusion FFN {sizes.f}, Fold output {sizes.fold[0]}x{sizes.fold[1]}")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The FuseFormer profile of a FuseFormer-shaped module (`probe`, built on the meta device), else None."""
    if not looks_like_fuseformer(probe):
        return None
    try:
        sizes = sizes_of(probe)
    except ValueError:
        return None
    formulas = StageFormulas(symbols_for(probe, sizes), ELEMENTS, FLOPS, TENSORS)
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: tail_subject(subject_for(run, stage_of, STAGES[0])),
                        stage_of=root_output(stage_of), stages=STAGES, headlines=HEADLINES, formulas=formulas,
                        quadratic_stage="attention", quadratic_words="attention",
                        quadratic_headline="attention matrix", kernel_stages=("attention",), note=_note(sizes))

