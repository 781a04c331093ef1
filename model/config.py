"""`DSTTConfig`: the size of a DSTT network, every constraint on it checked here, once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

ATTENTION_BACKENDS: tuple[str, ...] = ("matmul", "sdpa")

# Channel groups of the hierarchical encoder's five convolutions (the released network's).
HIER_GROUPS: tuple[int, ...] = (1, 2, 4, 8, 1)


@dataclass(frozen=True)
class DSTTConfig:
    """Sizes of the generator (symbols: docs/architecture.md); the defaults: the released one at 240x432."""

    height: int = 240
    width: int = 432
    channel: int = 256
    hidden: int = 512
    heads: int = 4
    blocks: int = 8
    zones: int = 2
    kernel: int = 7
    stride: int = 3
    padding: int = 3
    dropout: float = 0.0
    attention: str = "matmul"

    def __post_init__(self) -> None:
        if (problem := first_problem(self)) is not None:
            raise ValueError(problem)

    # Derived sizes, in the symbols of docs/architecture.md: (H/4, W/4), (h', w'), n = h'*w', c' = c/2, d/k.
    @property
    def feature_size(self) -> tuple[int, int]:
        return self.height // 4, self.width // 4

    @property
    def token_grid(self) -> tuple[int, int]:
        return _grid(self.height // 4, self), _grid(self.width // 4, self)

    @property
    def tokens(self) -> int:
        hp, wp = self.token_grid
        return hp * wp

    @property
    def fold_channels(self) -> int:
        return self.channel // 2

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def block_kind(self, index: int) -> Literal["temporal", "spatial"]:
        """Blocks alternate temporal (even index) and spatial (odd index), as released."""
        return "temporal" if index % 2 == 0 else "spatial"

    def replace(self, **changes: object) -> DSTTConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _grid(side: int, cfg: DSTTConfig) -> int:
    return (side + 2 * cfg.padding - cfg.kernel) // cfg.stride + 1


def _side_ok(side: int, cfg: DSTTConfig) -> bool:
    if side <= 0 or side % 4:
        return False
    grid = _grid(side // 4, cfg)
    return grid >= cfg.zones and grid % cfg.zones == 0


def nearest_valid(side: int, cfg: DSTTConfig, reach: int = 4096) -> list[int]:
    """The nearest valid frame sides below and above `side` (one each where they exist)."""
    below = next((s for s in range(side - 1, 0, -1) if _side_ok(s, cfg)), None)
    above = next((s for s in range(side + 1, side + reach) if _side_ok(s, cfg)), None)
    return [s for s in (below, above) if s is not None]


def _side_problem(name: str, side: int, cfg: DSTTConfig) -> str | None:
    if _side_ok(side, cfg):
        return None
    near = ", ".join(str(s) for s in nearest_valid(side, cfg)) or "none"
    if side % 4:
        return f"{name} {side} is not divisible by 4; nearest valid: {near}"
    grid = _grid(side // 4, cfg)
    return (f"{name} {side} gives {grid} tokens along it (patch kernel {cfg.kernel}, stride {cfg.stride}, "
            f"padding {cfg.padding}), not a multiple of zones={cfg.zones}; nearest valid: {near}")


def first_problem(cfg: DSTTConfig) -> str | None:
    """The first constraint `cfg` breaks, as a sentence; None when the config is valid."""
    for name in ("height", "width", "channel", "hidden", "heads", "blocks", "zones", "kernel", "stride"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer, got {value!r}"
        if value <= 0:
            return f"{name} must be positive, got {value}"
    if isinstance(cfg.padding, bool) or not isinstance(cfg.padding, int) or cfg.padding < 0:
        return f"padding must be a non-negative integer, got {cfg.padding!r}"
    if not isinstance(cfg.dropout, (int, float)) or not 0.0 <= cfg.dropout < 1.0:
        return f"dropout must be in [0, 1), got {cfg.dropout!r}"
    if cfg.attention not in ATTENTION_BACKENDS:
        return f"attention must be one of {', '.join(ATTENTION_BACKENDS)}, got {cfg.attention!r}"
    if cfg.channel % (2 * max(HIER_GROUPS)):
        return (f"channel {cfg.channel} must be divisible by {2 * max(HIER_GROUPS)} "
                f"(hierarchical encoder groups {list(HIER_GROUPS)}, halved by Vec2Patch)")
    if cfg.hidden % cfg.heads:
        divisors = [k for k in range(1, cfg.hidden + 1) if cfg.hidden % k == 0]
        near = sorted(divisors, key=lambda k: (abs(k - cfg.heads), k))[:2]
        return f"heads {cfg.heads} must divide hidden {cfg.hidden}; nearest valid: {', '.join(map(str, sorted(near)))}"
    if 2 * cfg.padding > cfg.kernel or cfg.stride > cfg.kernel:
        return (f"patch kernel {cfg.kernel}, stride {cfg.stride}, padding {cfg.padding}: "
                "patches must cover every pixel (stride <= kernel) and padding must be at most kernel/2")
    return _side_problem("height", cfg.height, cfg) or _side_problem("width", cfg.width, cfg)
