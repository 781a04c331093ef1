"""What `diff` found between two results (analysis/diff.py): per pair of runs, each figure in A and in B."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, overload


class _Absent:
    """A setting one run has and the other has not (a model argument of one model only)."""

    def __repr__(self) -> str:
        return "(not set)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Change:
    name: str
    a: int
    b: int

    @property
    def delta(self) -> int:
        return self.b - self.a

    @property
    def growth(self) -> Fraction | None:
        """(b - a) / a exactly; None where a is not above 0 (growth from nothing is unbounded)."""
        return Fraction(self.delta, self.a) if self.a > 0 else None

    def exceeds(self, limit: Fraction) -> bool:
        """Whether the figure grew by more than `limit` of A's; any growth from 0 does."""
        growth = self.growth
        return self.b > self.a if growth is None else growth > limit


@dataclass(frozen=True)
class Divergence:
    """The first op where two traces differ in what they run or, where they run the same ops, in its bytes."""

    index: int
    kind: str  # "structure" or "bytes"
    a: str  # A's op there ("" past its end)
    b: str


@dataclass(frozen=True)
class RunDiff:
    frames_a: int
    frames_b: int
    config: tuple[tuple[str, Any, Any], ...]  # key, A's value, B's value
    totals: tuple[Change, ...]  # peak (B's view), the other view, FLOPs, other FLOPs, parameters
    stages: dict[str, tuple[Change, Change, Change]]  # headline bytes, FLOPs, highest live bytes
    families: dict[str, tuple[Change, ...]]  # FLOPs [, calls, bytes allocated]
    ops_a: int
    ops_b: int
    divergence: Divergence | None
    same_ops: bool  # both kept per-op records and they agree op for op
    peak_at: tuple[str, str]  # where the headline peak is in A and in B: "stage (module)"


@dataclass(frozen=True)
class Comparison(Sequence[RunDiff]):
    """One RunDiff per pair of runs (it iterates as them), and the t values only one result holds."""

    diffs: tuple[RunDiff, ...]
    only_a: tuple[int, ...] = ()
    only_b: tuple[int, ...] = ()

    @overload
    def __getitem__(self, index: int) -> RunDiff: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[RunDiff]: ...

    def __getitem__(self, index: int | slice) -> RunDiff | Sequence[RunDiff]:
        return self.diffs[index]

    def __len__(self) -> int:
        return len(self.diffs)

    @property
    def complete(self) -> bool:
        return not self.only_a and not self.only_b


@dataclass(frozen=True)
class Failure:
    """One reason a --max-growth gate fails: a figure that grew past the limit, or (`change` None) a t
    only one result holds (`only in A`, `only in B`)."""

    frames: int
    name: str
    change: Change | None = None
