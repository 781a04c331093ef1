"""Plain-text cells and the one plain-text table: columns as wide as their widest cell, two spaces apart."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from dstt_profile.units import fmt_bytes


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def dims(shape: Sequence[int], empty: str = "-") -> str:
    """A shape as `14x256x60x108`; `empty` for a scalar."""
    return "x".join(map(str, shape)) if shape else empty


def exact_bytes(n: int) -> str:
    """'1.5 GiB (1,662,682,636 B)'"""
    return f"{fmt_bytes(n)} ({n:,} B)"


def module_name(module: str) -> str:
    return module or "<root>"
