"""Shared pieces of the built-in profiles of released video-inpainting transformers (profiles/known.py):
exact formulas in a run's symbols (`Formula`, `StageFormulas`: the `Formulas` protocol), a stage map from
module-name rules (`stage_map`), and the size arithmetic the formulas read off a built module (`conv_out`,
`pair`, `conv_chain`, `feature_size`, `has_modules`); a profile is put together in profiles/released.py.

Every formula is `b * sum(t^power * prod(factors))`, exact in integers (a factor may be a fraction), the
form the formula checks compare with a trace; symbols are any frozen dataclass with `b` and `t` fields."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

from torch import nn

from dstt_profile.errors import UsageError
from dstt_profile.profiles.base import FormulaValue
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import CheckRecord, StageRecord

__all__ = ["Clip", "Formula", "Geometry", "StageFormulas", "TensorCheck", "Term", "conv_chain", "conv_out", "feature_size",
           "has_modules", "one", "pair", "stage_map", "symbols_of"]


class Clip(Protocol):
    """What every symbol set holds: the batch `b` and the frames per clip `t`."""

    @property
    def b(self) -> int: ...

    @property
    def t(self) -> int: ...


S = TypeVar("S", bound=Clip)
Term = tuple[int, tuple[Fraction | int, ...]]  # (power of t, constant factors)


def one(power: int, *factors: Fraction | int) -> tuple[Term, ...]:
    """A formula of one term: t^power times the factors."""
    return ((power, factors),)


@dataclass(frozen=True)
class Formula(Generic[S]):
    """`b * sum(t^power * prod(factors))` over its terms, `general` its text in the profile's symbols."""

    general: str
    terms: Callable[[S], tuple[Term, ...]]

    def coefficients(self, sym: S) -> dict[int, Fraction]:
        """Power of t -> exact coefficient (b included): the formula as a polynomial in t."""
        out: dict[int, Fraction] = {}
        for power, factors in self.terms(sym):
            out[power] = out.get(power, Fraction(0)) + Fraction(sym.b) * math.prod(factors)
        return out

    def value(self, sym: S) -> int:
        total = sum((c * sym.t**p for p, c in self.coefficients(sym).items()), Fraction(0))
        if total.denominator != 1:
            raise ValueError(f"{self.general} is not a whole number for {sym}")
        return int(total)

    def substituted(self, sym: S) -> str:
        texts = [_term_text(power, factors) for power, factors in self.terms(sym)]
        body = " + ".join(texts) or "0"
        return body if sym.b == 1 else f"{sym.b}*({body})" if len(texts) > 1 else f"{sym.b}*{body}"

    def at(self, sym: S) -> FormulaValue:
        """General (with b* in front where the batch is not 1), substituted, and the exact value."""
        return FormulaValue(f"b*{self.general}" if sym.b != 1 else self.general, self.substituted(sym), self.value(sym))


def _term_text(power: int, factors: tuple[Fraction | int, ...]) -> str:
    parts = [{0: "", 1: "t"}.get(power, f"t^{power}")]
    divisor = 1
    for f in factors:
        frac = Fraction(f)
        if frac.numerator != 1:
            parts.append(str(frac.numerator))
        divisor *= frac.denominator
    text = "*".join(p for p in parts if p) or "1"
    return f"{text}/{divisor}" if divisor != 1 else text


@dataclass(frozen=True)
class TensorCheck(Generic[S]):
    """A tensor checked against a formula that is not a stage's headline: output `output` of the first module
    whose name fully matches `module` (its first call)."""

    module: str
    output: int
    what: str
    formula: Formula[S]


@dataclass(frozen=True)
class StageFormulas(Generic[S]):
    """The `Formulas` of a profile: `elements` per stage (one instance's headline tensor, where the matrix is
    materialised; `fused` where it is not), `tensors` beside the headlines, `flops` per stage (every
    instance, 2 per multiply-add). Checks come in that order: stage elements, tensors, stage FLOPs."""

    symbols: Callable[[RunConfig], S]
    elements: Mapping[str, Formula[S]]
    flops: Mapping[str, Formula[S]] = field(default_factory=dict)
    tensors: Mapping[str, TensorCheck[S]] = field(default_factory=dict)
    fused: Mapping[str, Formula[S]] = field(default_factory=dict)

    def _element_formula(self, stage: str, materialised: bool) -> Formula[S] | None:
        return (self.elements if materialised else self.fused).get(stage)

    def stage(self, run: RunConfig, stage: str, materialised: bool) -> FormulaValue | None:
        formula = self._element_formula(stage, materialised)
        return formula.at(self.symbols(run)) if formula is not None else None

    def checks(self, run: RunConfig, stages: Mapping[str, StageRecord], tensor: Callable[[str, int], int]) -> tuple[CheckRecord, ...]:
        sym = self.symbols(run)

        def check(name: str, formula: Formula[S], measured: int, unit: str) -> CheckRecord:
            v = formula.at(sym)
            return CheckRecord(name, v.general, v.substituted, v.value, measured, unit)

        out = []
        for name, record in stages.items():
            if (formula := self._element_formula(name, record.materialised)) is not None:
                out.append(check(f"{name}.elements", formula, record.elements, "elements"))
        out += [check(f"{name}.elements", c.formula, tensor(c.module, c.output), "elements") for name, c in self.tensors.items()]
        out += [check(f"{name}.flops", formula, stages[name].flops, "FLOPs") for name, formula in self.flops.items()
                if name in stages]
        return tuple(out)


def symbols_of(make: Callable[[RunConfig], S]) -> Callable[[RunConfig], S]:
    """`make`, with a ValueError (a size the network cannot take) as one UsageError line."""

    def symbols(run: RunConfig) -> S:
        try:
            return make(run)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    return symbols


def stage_map(rules: Sequence[tuple[str, str | None]]) -> Callable[[str], str | None]:
    """`stage_of` from (module-name regex, stage) rules: the first whose regex fully matches a module's name or
    the name of a module it lies in (a rule takes a module and all below it) names its stage; a stage of None
    (or no match) marks a glue module, whose ops belong to the running stage."""
    compiled = tuple((re.compile(rf"(?:{pattern})(\..+)?"), stage) for pattern, stage in rules)

    def stage_of(module: str) -> str | None:
        return next((stage for regex, stage in compiled if regex.fullmatch(module)), None)

    return stage_of


def pair(value: Any) -> tuple[int, int]:
    """A module's size attribute (an int, or a pair as Conv2d, Unfold and Fold hold them) as (height, width)."""
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        first, second = tuple(value)
        return int(first), int(second)
    return int(value), int(value)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The output length of a convolution (or Unfold) along one axis (ValueError where none is left)."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(f"a {kernel}-wide kernel (stride {stride}, padding {padding}) leaves nothing of {size}")
    return out


Geometry = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]  # kernel, stride, padding, dilation


def conv_chain(module: nn.Module) -> tuple[Geometry, ...]:
    """The geometry of every Conv2d of `module`, in module order (the order a plain encoder runs them)."""
    return tuple((pair(m.kernel_size), pair(m.stride), pair(m.padding), pair(m.dilation))
                 for m in module.modules() if isinstance(m, nn.Conv2d))


def feature_size(chain: Iterable[Geometry], height: int, width: int) -> tuple[int, int]:
    """The (height, width) a chain of convolutions (`conv_chain`) makes of a height x width frame."""
    for (kh, kw), (sh, sw), (ph, pw), (dh, dw) in chain:
        height, width = conv_out(height, kh, sh, ph, dh), conv_out(width, kw, sw, pw, dw)
    return height, width


def has_modules(module: nn.Module, names: Iterable[str]) -> bool:
    """True when `module` has a submodule of every dotted name in `names`."""
    present = {name for name, _ in module.named_modules()}
    return all(name in present for name in names)
