"""The seed analysis table (docs/architecture.md) at t = 14, bytes at int8, fp16 and fp32: each of the
seed's size notes (one byte per element) checked against the exact bytes per t^p."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from dstt_profile.profiles.dstt.formulas import ELEMENTS, Symbols
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import RunRecord

SEED_FRAMES = 14
TOLERANCE = Fraction(5, 100)  # the seed rounds its notes; 5% either way is "agrees"
DTYPE_BYTES = (("int8", 1), ("fp16", 2), ("fp32", 4))

# stage -> (tensor, the seed's size note); "" where the seed gave none.
SEED_ROWS: tuple[tuple[str, str, str], ...] = (
    ("he_output", "tokens entering the transformer", "t*300KB"),
    ("spatial_attention", "attention matrix of one spatial block", "t*2MB"),
    ("ffn", "hidden activation (after the first Linear)", "t*1.5MB"),
    ("temporal_attention", "attention matrix of one temporal block", "t^2*500KB"),
    ("vec2patch", "embedding output, before Fold", "t*4MB"),
    ("vec2patch_fold", "Fold output", ""),
)
_UNITS = {"KB": (10**3, 2**10, "KiB"), "MB": (10**6, 2**20, "MiB"), "GB": (10**9, 2**30, "GiB")}
_NOTE = re.compile(r"^t(?:\^(?P<power>\d+))?\*(?P<amount>[0-9.]+)(?P<unit>KB|MB|GB)$")


@dataclass(frozen=True)
class SeedRow:
    stage: str
    tensor: str
    formula: str
    substituted: str
    elements: int  # at t = 14
    per_unit: int  # bytes per t^power at one byte per element (the polynomial's coefficient)
    power: int
    note: str
    verdict: str  # "" where the seed gave no note

    def bytes_at(self, element_bytes: int) -> int:
        return self.elements * element_bytes

    @property
    def agrees(self) -> bool:
        return not self.verdict.startswith("discrepancy")


def _fmt(value: Fraction, unit: str) -> str:
    return f"{float(value):.4g} {unit}"


def verdict(note_text: str, per_unit: int) -> str:
    """Compare a seed note with the exact bytes per t^power at one byte per element."""
    m = _NOTE.match(note_text)
    if not m:
        raise ValueError(f"unreadable seed note {note_text!r}")
    power, amount, unit = int(m.group("power") or 1), Fraction(m.group("amount")), m.group("unit")
    decimal, binary, bunit = _UNITS[unit]
    ours_dec, ours_bin = Fraction(per_unit, decimal), Fraction(per_unit, binary)
    off_dec, off_bin = ours_dec / amount - 1, ours_bin / amount - 1
    per = "frame" if power == 1 else f"frame^{power}"
    truth = f"{_fmt(ours_bin, bunit)} ({_fmt(ours_dec, unit)}, {per_unit:,} B) per {per}"
    if min(abs(off_dec), abs(off_bin)) <= TOLERANCE:
        return f"agrees (rounded): {truth}"
    return f"discrepancy: seed {note_text} is really {truth}, {float(off_bin):+.1%} against the seed in {bunit}"


def seed_rows(frames: int = SEED_FRAMES, measured: RunRecord | None = None) -> list[SeedRow]:
    """The seed table at 240x432; with `measured`, its stage elements must equal the formulas."""
    sym = Symbols.of(RunConfig(frames=frames))
    rows = []
    for stage, tensor, note in SEED_ROWS:
        formula = ELEMENTS[stage]
        elements = formula.value(sym)
        if measured is not None and stage in measured.stages and measured.stages[stage].elements != elements:
            raise ValueError(f"{stage}: measured {measured.stages[stage].elements} != formula {elements}")
        coefs = formula.coefficients(sym)
        power = max(coefs)
        per_unit = int(coefs[power])
        rows.append(SeedRow(stage, tensor, formula.general, formula.substituted(sym), elements, per_unit, power, note,
                            verdict(note, per_unit) if note else ""))
    return rows


def seed_claims() -> list[str]:
    """The seed's prose figures: one temporal matrix at fp32 is 406 MB at t = 14 and 8.5 GB at t = 64."""
    out = []
    for frames, claim in ((14, "406 MB"), (64, "8.5 GB")):
        n = ELEMENTS["temporal_attention"].value(Symbols.of(RunConfig(frames=frames))) * 4
        out.append(f"t={frames} fp32 temporal matrix: seed {claim}, ours {n:,} B = {n / 1e9:.4g} GB = {n / 2**30:.4g} GiB")
    return out


def render(rows: list[SeedRow] | None = None) -> str:
    rows = rows if rows is not None else seed_rows()
    head = f"{'stage':<19s} {'formula':<17s} {'elements':>12s} {'int8 B':>12s} {'fp16 B':>12s} {'fp32 B':>13s}  seed note"
    lines = [f"Seed analysis table at t = {SEED_FRAMES}, 240x432 (bytes per dtype)", head]
    for r in rows:
        sizes = " ".join(f"{r.bytes_at(b):>12,}" for _, b in DTYPE_BYTES)
        lines.append(f"{r.stage:<19s} {r.substituted:<17s} {r.elements:>12,} {sizes}  {r.note or '-'}")
    lines.append("Seed notes against the exact figures (one byte per element, as the seed counted):")
    lines += [f"  {r.stage}: {r.verdict}" for r in rows if r.note]
    lines += ["  " + c for c in seed_claims()]
    return "\n".join(lines)
