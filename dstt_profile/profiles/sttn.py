"""The STTN profile (Zeng et al., ECCV 2020: the released model/sttn.py `InpaintGenerator`), for a module with
the release's module names (`detect`); its sizes are read off the module (docs/models.md, "Built-in profiles:
STTN and FuseFormer"). Its forward takes the masks too: run it with `--inputs FILE.py:function`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from dstt_profile.profiles.attention import (
    Formula,
    StageFormulas,
    TensorCheck,
    conv_chain,
    feature_size,
    has_modules,
    one,
    pair,
    stage_map,
    symbols_of,
)
from dstt_profile.profiles.base import Headline, ModelProfile
from dstt_profile.profiles.released import DECODER, ENCODER, TANH, Release, SubjectFor
from dstt_profile.profiles.tokens import FrameSymbols
from dstt_profile.records.runconfig import RunConfig

NAME = "sttn"
STAGES = ("encoder", "attention", "ffn", "decoder", "output")

_BLOCK = r"transformer\.\d+"

# The ops of a module no rule names (the root, a block) belong to the running stage: the input views to the
# encoder, the masks' resize to the feature map (run between the encoder and the transformer) to the encoder,
# a block's residual adds to its attention and FFN; the root's tanh after the decoder is the output stage.
stage_of = stage_map((
    ("encoder", "encoder"),
    (rf"{_BLOCK}\.attention", "attention"),
    (rf"{_BLOCK}\.feed_forward", "ffn"),
    ("decoder", "decoder"),
))

HEADLINES: dict[str, Headline] = {
    "encoder": ENCODER,
    # "attention" has none here: the kernel module runs once per patch size and a module's record holds its
    # first call, so the stage shows the largest attention matrix its first block makes, read from the data
    # flow (analysis/attention.py): the smallest patch size's, (t*N_max)^2
    "ffn": Headline(rf"{_BLOCK}\.feed_forward\.conv\.0", 0, "FFN hidden activation (after the first, dilated, convolution)"),
    "decoder": DECODER,
    "output": TANH,
}
RELEASE = Release(NAME, "STTN", STAGES, stage_of, HEADLINES, quadratic_words="multi-scale patch attention",
                  quadratic_headline="attention matrix (smallest patch size)")

# Module names every STTN generator has (the released file, a fork with other sizes).
_ATTENTION = "transformer.0.attention"
_SIGNATURE = ("encoder", "transformer", _ATTENTION, f"{_ATTENTION}.query_embedding", f"{_ATTENTION}.key_embedding",
              f"{_ATTENTION}.value_embedding", f"{_ATTENTION}.output_linear", f"{_ATTENTION}.attention",
              "transformer.0.feed_forward", "transformer.0.feed_forward.conv", "decoder")


@dataclass(frozen=True)
class Sizes:
    """What the module holds: channels c, blocks L, the patch sizes (ph, pw) of the heads (one head each, c/heads
    channels: d_k), the kernel area o of the attention's output convolution, the FFN's kernel areas."""

    c: int
    L: int
    patches: tuple[tuple[int, int], ...]
    o: int
    ffn: tuple[int, ...]

    @property
    def d_k(self) -> int:
        return self.c // len(self.patches)


@dataclass(frozen=True)
class Symbols(FrameSymbols):
    """One run's symbols: b, t, frame H x W, feature map h x w, and `sizes`."""

    sizes: Sizes

    @property
    def grids(self) -> tuple[int, ...]:
        """N_i: patches per frame of each patch size, (h/ph_i)*(w/pw_i) (as the release divides: floored)."""
        return tuple((self.h // ph) * (self.w // pw) for ph, pw in self.sizes.patches)


def _patches(value: Any) -> tuple[tuple[int, int], ...] | None:
    """The release's `patchsize` ((width, height) pairs) as (height, width) pairs, or None where it is not one."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or not value:
        return None
    try:
        pairs = tuple(pair(p) for p in value if isinstance(p, Sequence) and len(p) == 2)
    except (TypeError, ValueError):
        return None
    if len(pairs) != len(value) or any(v < 1 for p in pairs for v in p):
        return None
    return tuple((height, width) for width, height in pairs)


def looks_like_sttn(module: nn.Module) -> bool:
    """True when `module` has STTN's module names (1x1 convolution projections and a `patchsize` list)."""
    if not has_modules(module, _SIGNATURE):
        return False
    attention = module.get_submodule(_ATTENTION)
    return isinstance(attention.get_submodule("query_embedding"), nn.Conv2d) and _patches(getattr(attention, "patchsize", None)) is not None


def _kernel_area(conv: nn.Conv2d) -> int:
    kh, kw = pair(conv.kernel_size)
    return kh * kw


def sizes_of(module: nn.Module) -> Sizes:
    """The sizes an STTN-shaped module's layers hold."""
    attention = module.get_submodule(_ATTENTION)
    patches = _patches(getattr(attention, "patchsize", None))
    assert patches is not None
    output = [m for m in attention.get_submodule("output_linear").modules() if isinstance(m, nn.Conv2d)]
    ffn = [m for m in module.get_submodule("transformer.0.feed_forward").modules() if isinstance(m, nn.Conv2d)]
    query = attention.get_submodule("query_embedding")
    assert isinstance(query, nn.Conv2d) and output
    return Sizes(c=int(query.weight.shape[0]), L=len(list(module.get_submodule("transformer").children())),
                 patches=patches, o=_kernel_area(output[0]), ffn=tuple(_kernel_area(m) for m in ffn))


def symbols_for(module: nn.Module, sizes: Sizes) -> Callable[[RunConfig], Symbols]:
    encoder = conv_chain(module.get_submodule("encoder"))

    def make(run: RunConfig) -> Symbols:
        h, w = feature_size(encoder, run.height, run.width)
        return Symbols(b=run.batch, t=run.frames, H=run.height, W=run.width, h=h, w=w, sizes=sizes)

    return symbols_of(make)


F = Formula[Symbols]


def _matmul_coefficient(s: Symbols) -> int:
    """Sum over the patch sizes of 4*N_i^2*d_k*ph_i*pw_i: the two products with the (t*N_i)^2 matrix."""
    return sum(4 * n * n * s.sizes.d_k * ph * pw for n, (ph, pw) in zip(s.grids, s.sizes.patches))


# Headline-tensor elements, one instance.
ELEMENTS: dict[str, F] = {
    "encoder": F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "attention": F("(t*N_max)^2", lambda s: one(2, max(s.grids), max(s.grids))),
    "ffn": F("t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w)),
    "decoder": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
    "output": F("t*3*4h*4w", lambda s: one(1, 3, 4 * s.h, 4 * s.w)),
}

TENSORS: dict[str, TensorCheck[Symbols]] = {
    "attention_values": TensorCheck(rf"{_BLOCK}\.attention\.attention", 0, "first patch size's attention output",
                                    F("t*N_1*d_k*ph_1*pw_1", lambda s: one(1, s.grids[0], s.sizes.d_k, *s.sizes.patches[0]))),
    "attention_output": TensorCheck(rf"{_BLOCK}\.attention", 0, "a block's attention output", F(
        "t*c*h*w", lambda s: one(1, s.sizes.c, s.h, s.w))),
}

# Conv / matmul FLOPs of the whole stage, every instance (2 per multiply-add).
FLOPS: dict[str, F] = {
    "attention": F("L*(2*(3 + o)*t*c^2*h*w + 4*t^2*d_k*sum_i(N_i^2*ph_i*pw_i))", lambda s: (
        (1, (s.sizes.L * 2 * (3 + s.sizes.o) * s.sizes.c**2 * s.h * s.w,)), (2, (s.sizes.L * _matmul_coefficient(s),)))),
    "ffn": F("L*2*(a_1 + a_2)*t*c^2*h*w", lambda s: one(1, s.sizes.L * 2 * sum(s.sizes.ffn) * s.sizes.c**2 * s.h * s.w)),
}


def _note(sizes: Sizes) -> str:
    patches = ", ".join(f"{ph}x{pw}" for ph, pw in sizes.patches)
    return f"channels {sizes.c}, blocks {sizes.L}, patch sizes (h x w) {patches}"


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The STTN profile of an STTN-shaped module (`probe`, built on the meta device), else None."""
    if not looks_like_sttn(probe):
        return None
    sizes = sizes_of(probe)
    if len(sizes.ffn) != 2:
        return None
    return RELEASE.profile(title, subject_for, StageFormulas(symbols_for(probe, sizes), ELEMENTS, FLOPS, TENSORS),
                           _note(sizes))
