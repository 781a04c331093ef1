"""Size arithmetic the E2FGVI and ProPainter profiles read off a built module: multiply-adds per pixel of its
convolutions, deformable alignments and second-order propagation, the blocks' one attention, its window and the
keys its rolls add, SPyNet's pyramid, a chain of convolutions (some after a x2 upsampling) on a frame of a given
size."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from dstt_profile.profiles.attention import Geometry, conv_chain, feature_size, pair


def conv_macs(module: nn.Module) -> int:
    """Multiply-adds per output pixel of every Conv2d in `module`: out * in/groups * kh * kw, summed."""
    return sum(int(m.weight.numel()) for m in module.modules() if isinstance(m, nn.Conv2d))


def alignment_macs(module: nn.Module) -> int:
    """Multiply-adds per pixel of a deformable alignment: its offset convolutions and its own 3x3 deformable
    convolution (its `weight`, as a convolution's)."""
    return conv_macs(module.get_submodule("conv_offset")) + int(module.get_parameter("weight").numel())


def propagation_macs(module: nn.Module, directions: Sequence[str], fusion: str) -> tuple[int, int]:
    """Multiply-adds per pixel of a flow-guided propagation `module`: its deformable alignments
    (`deform_align.<direction>`: each frame aligned), and its backbones (`backbone.<direction>`) with its fusion
    (submodule `fusion`: every frame)."""
    aligned = sum(alignment_macs(module.get_submodule(f"deform_align.{n}")) for n in directions)
    every = sum(conv_macs(module.get_submodule(f"backbone.{n}")) for n in directions) + conv_macs(module.get_submodule(fusion))
    return aligned, every


def block_attention(blocks: Sequence[nn.Module], name: str, keys: Sequence[str]) -> nn.Module:
    """The first block's attention (submodule `name`), where every block's holds the same attributes `keys`
    (ValueError where they differ)."""
    attentions = [block.get_submodule(name) for block in blocks]
    if len({tuple(getattr(a, key, None) for key in keys) for a in attentions}) != 1:
        raise ValueError("the transformer blocks' attention sizes differ")
    return attentions[0]


def window_keys(attention: nn.Module) -> tuple[tuple[int, int], int]:
    """An attention's window (its `window_size`) and the keys a frame its rolls by `expand_size` add (none
    without a roll)."""
    window, expand = pair(attention.window_size), pair(attention.expand_size)
    return window, rolled_keys(window, expand) if any(e > 0 for e in expand) else 0


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
