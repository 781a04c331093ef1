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
    TensorCheck,
    conv_chain,
    feature_size,
    one,
    pair,
    stage_map,
    symbols_of,
)
from dstt_profile.profiles.base import Headline, ModelProfile
from dstt_profile.profiles.released import (
    DECODER,
    ENCODER,
    SOFT_COMPOSITION,
    SOFT_SPLIT,
    TANH,
    Release,
    SubjectFor,
    has_layers,
    matrix_headline,
    read,
)
from dstt_profile.profiles.tokens import SOFT_SPLIT_KINDS, TokenSizes, TokenSymbols, first_linear, soft_split
from dstt_profile.records.runconfig import RunConfig

NAME = "fuseformer"
STAGES = ("encoder", "soft_split", "attention", "fusion_ffn", "soft_composition", "decoder", "output")

_BLOCK = r"transformer\.\d+"

# The ops of a module no rule names (the root, a block) belong to the running stage: the input view to the
# encoder, the skip add of the soft composition onto the encoder's features to the soft composition, a
# block's residual adds to its attention and fusion FFN; the root's tanh after the decoder is the output stage.
stage_of = stage_map((
    ("encoder", "encoder"),
    ("ss|add_pos_emb", "soft_split"),
    (rf"{_BLOCK}\.(norm1|dropout|attention)", "attention"),
    (rf"{_BLOCK}\.(norm2|ffn)", "fusion_ffn"),
    ("sc", "soft_composition"),
    ("decoder", "decoder"),
))

HEADLINES: dict[str, Headline] = {
    "encoder": ENCODER,
    "soft_split": SOFT_SPLIT,
    "attention": matrix_headline(rf"{_BLOCK}\.attention\.attention", "attention matrix of a block (every token of the clip)"),
    "fusion_ffn": Headline(rf"{_BLOCK}\.ffn\.conv1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": SOFT_COMPOSITION,
    "decoder": DECODER,
    "output": TANH,
}
RELEASE = Release(NAME, "FuseFormer", STAGES, stage_of, HEADLINES, quadratic_words="attention",
                  quadratic_headline="attention matrix")

# Module names every FuseFormer generator has (the released file, a fork with other sizes).
_SIGNATURE = ("encoder", "ss", "ss.t2t", "ss.embedding", "add_pos_emb", "transformer", "transformer.0.attention",
              "transformer.0.attention.query_embedding", "transformer.0.attention.key_embedding",
              "transformer.0.attention.value_embedding", "transformer.0.attention.output_linear",
              "transformer.0.attention.attention", "transformer.0.ffn", "transformer.0.ffn.conv1",
              "transformer.0.ffn.conv2", "transformer.0.ffn.fold", "transformer.0.ffn.unfold", "transformer.0.norm1",
              "transformer.0.norm2", "sc", "sc.embedding", "sc.t2t", "decoder")


@dataclass(frozen=True)
class Sizes(TokenSizes):
    """What the module holds: channels c into the soft split, token width d, heads k, blocks L, soft split
    kernel / stride / padding (per axis), the fusion FFN's width f, the Fold output size (fh, fw)."""

    f: int
    fold: tuple[int, int]


@dataclass(frozen=True)
class Symbols(TokenSymbols):
    """One run's symbols: b, t, frame H x W, feature map h x w, token grid nh x nw (n per frame), and `sizes`."""

    sizes: Sizes


def looks_like_fuseformer(module: nn.Module) -> bool:
    """True when `module` has FuseFormer's module names (and the soft split's Unfold and Linear)."""
    return has_layers(module, _SIGNATURE, {**SOFT_SPLIT_KINDS, "sc.t2t": nn.Fold})


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes a FuseFormer-shaped module's layers hold."""
    split, fold = soft_split(module), module.get_submodule("sc.t2t")
    assert isinstance(fold, nn.Fold)
    first = first_linear(module, "transformer.0.ffn.conv1")
    head = getattr(module.get_submodule("transformer.0.attention"), "head", None)
    if not isinstance(head, int) or isinstance(head, bool) or head < 1:
        raise ValueError("transformer.0.attention holds no head count (`head`)")
    return Sizes(**split, k=head, L=len(list(module.get_submodule("transformer").children())),
                 f=int(first.out_features), fold=pair(fold.output_size))


def symbols_for(module: nn.Module, sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    encoder = conv_chain(module.get_submodule("encoder"))

    def make(run: RunConfig) -> Symbols:
        h, w = feature_size(encoder, run.height, run.width)
        nh, nw = sizes.grid(h, w)
        return Symbols(b=run.batch, t=run.frames, H=run.height, W=run.width, h=h, w=w, nh=nh, nw=nw, sizes=sizes)

    return symbols_of(make)


F = Formula[Symbols]

# Headline-tensor elements, one instance.
ELEMENTS: dict[str, F] = {
    "encoder": F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "soft_split": F("t*n*d", lambda s: one(1, s.n, s.sizes.d)),
    "attention": F("k*(t*n)^2", lambda s: one(2, s.sizes.k, s.n, s.n)),
    "fusion_ffn": F("t*n*f", lambda s: one(1, s.n, s.sizes.f)),
    "soft_composition": F("t*n*c*kh*kw", lambda s: one(1, s.n, s.sizes.patch)),
    "decoder": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
    "output": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
}

TENSORS: dict[str, TensorCheck[Symbols]] = {
    "soft_split_unfold": TensorCheck(r"ss\.t2t", 0, "soft split Unfold output", F("t*c*kh*kw*n", lambda s: one(1, s.sizes.patch, s.n))),
    "fusion_ffn_fold": TensorCheck(rf"{_BLOCK}\.ffn\.fold", 0, "fusion FFN Fold output", F(
        "t*(f/(kh*kw))*fh*fw", lambda s: one(1, s.sizes.f // (s.sizes.kernel[0] * s.sizes.kernel[1]), *s.sizes.fold))),
    "soft_composition_fold": TensorCheck(r"sc\.t2t", 0, "soft composition Fold output", F(
        "t*c*fh*fw", lambda s: one(1, s.sizes.c, *s.sizes.fold))),
}

# Conv / linear / matmul FLOPs of the whole stage, every instance (2 per multiply-add).
FLOPS: dict[str, F] = {
    "soft_split": F("2*t*n*c*kh*kw*d", lambda s: one(1, 2, s.n, s.sizes.patch, s.sizes.d)),
    "attention": F("L*(8*t*n*d^2 + 4*t^2*n^2*d)", lambda s: (
        (1, (s.sizes.L * 8 * s.n * s.sizes.d**2,)), (2, (s.sizes.L * 4 * s.n**2 * s.sizes.d,)))),
    "fusion_ffn": F("L*4*t*n*d*f", lambda s: one(1, s.sizes.L * 4 * s.n * s.sizes.d * s.sizes.f)),
    "soft_composition": F("2*t*n*d*c*kh*kw", lambda s: one(1, 2, s.n, s.sizes.d, s.sizes.patch)),
}


def _note(sizes: Sizes) -> str:
    return f"{sizes.shown()}, fusion FFN {sizes.f}, Fold output {sizes.fold[0]}x{sizes.fold[1]}"


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The FuseFormer profile of a FuseFormer-shaped module (`probe`, built on the meta device), else None."""
    if not looks_like_fuseformer(probe) or (sizes := read(sizes_of, probe, (ValueError,))) is None:
        return None
    return RELEASE.profile(title, subject_for, StageFormulas(symbols_for(probe, sizes), ELEMENTS, FLOPS, TENSORS),
                           _note(sizes))
