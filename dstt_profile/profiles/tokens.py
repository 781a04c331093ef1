"""Symbols and sizes the released transformers share (profiles/known.py): a run's clip and the encoder's feature
map (`FrameSymbols`), the token grid of FuseFormer's soft split, which E2FGVI and ProPainter keep
(`TokenSymbols`), and the sizes of a soft-split transformer read off a built module (`TokenSizes`,
`soft_split`, `first_linear`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from torch import nn

from dstt_profile.profiles.attention import pair

__all__ = ["SOFT_SPLIT_KINDS", "FrameSymbols", "SoftSplit", "TokenSizes", "TokenSymbols", "first_linear", "soft_split"]

# The soft split's layers, by module name: an Unfold into patches, a Linear onto the tokens.
SOFT_SPLIT_KINDS: dict[str, type[nn.Module]] = {"ss.t2t": nn.Unfold, "ss.embedding": nn.Linear}


@dataclass(frozen=True)
class FrameSymbols:
    """b clips of t frames of H x W, and the feature map h x w the encoder makes of a frame."""

    b: int
    t: int
    H: int
    W: int
    h: int
    w: int


@dataclass(frozen=True)
class TokenSymbols(FrameSymbols):
    """A frame's tokens out of the soft split: an nh x nw grid, n a frame."""

    nh: int
    nw: int

    @property
    def n(self) -> int:
        return self.nh * self.nw


class SoftSplit(TypedDict):
    """The soft split's sizes (`TokenSizes`' fields of that name)."""

    c: int
    d: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class TokenSizes:
    """What a soft-split transformer holds: channels c into the soft split, token width d, heads k, blocks L,
    and the soft split's kernel / stride / padding (per axis)."""

    c: int
    d: int
    k: int
    L: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def patch(self) -> int:  # values per soft-split patch: c*kh*kw
        return self.c * self.kernel[0] * self.kernel[1]

    def grid(self, h: int, w: int) -> tuple[int, int]:
        """The token grid (nh, nw) the soft split's Unfold makes of an h x w feature map."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def shown(self) -> str:
        """These sizes as a profile's note lists them."""
        k, st, p = ("x".join(map(str, v)) for v in (self.kernel, self.stride, self.padding))
        return (f"channels {self.c}, hidden {self.d}, heads {self.k}, blocks {self.L}, soft split kernel {k} "
                f"stride {st} padding {p}")


def soft_split(module: nn.Module) -> SoftSplit:
    """The soft split's sizes: the kernel, stride and padding of its Unfold (`ss.t2t`), the token width d its
    Linear (`ss.embedding`) makes of a patch's c*kh*kw values."""
    unfold, embed = module.get_submodule("ss.t2t"), module.get_submodule("ss.embedding")
    assert isinstance(unfold, nn.Unfold) and isinstance(embed, nn.Linear)
    kernel = pair(unfold.kernel_size)
    return SoftSplit(c=embed.in_features // (kernel[0] * kernel[1]), d=int(embed.out_features), kernel=kernel,
                     stride=pair(unfold.stride), padding=pair(unfold.padding))


def first_linear(module: nn.Module, name: str) -> nn.Linear:
    """The first Linear of `module`'s submodule `name` (a block's FFN: its width f is the Linear's output)."""
    return next(m for m in module.get_submodule(name).modules() if isinstance(m, nn.Linear))
