"""Parsing and printing of sizes (bytes) and FLOP counts, with their units stated."""

from __future__ import annotations

import re

from dstt_profile.errors import UsageError

_BYTE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_FLOP_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def _split(text: str, what: str) -> tuple[float, str]:
    if not isinstance(text, str):
        text = str(text)
    if text.strip().startswith("-"):
        raise UsageError(f"{what} {text!r} is negative")
    m = _NUMBER.match(text)
    if not m:
        raise UsageError(f"{what} {text!r} is not a number with an optional unit")
    return float(m.group(1)), m.group(2).lower()


def parse_bytes(text: str | int) -> int:
    """'16GiB', '1.5 GiB', '400 MB', '1024' (bytes) -> bytes. KiB/MiB/GiB are powers of 2, KB/MB/GB of 10."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise UsageError(f"size {text} is negative")
        return text
    value, unit = _split(str(text), "size")
    if unit not in _BYTE_UNITS:
        raise UsageError(f"size {text!r} has an unknown unit {unit!r} (use B, KiB, MiB, GiB, KB, MB, GB)")
    return round(value * _BYTE_UNITS[unit])


def parse_flops(text: str | int) -> int:
    """'1.8 TFLOP', '900G', '5e9'-free plain integers -> FLOPs. Suffixes K, M, G, T, P (powers of 10)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise UsageError(f"FLOP count {text} is negative")
        return text
    value, unit = _split(str(text), "FLOP count")
    unit = unit.removesuffix("flops").removesuffix("flop")
    if unit not in _FLOP_UNITS:
        raise UsageError(f"FLOP count {text!r} has an unknown unit (use K, M, G, T or P, optionally + FLOP)")
    return round(value * _FLOP_UNITS[unit])


def fmt_bytes(n: float) -> str:
    """Binary units, three significant figures: 406389760 -> '387.6 MiB'."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def fmt_count(n: float, unit: str = "") -> str:
    """Decimal prefixes: 1.23e12 -> '1.23 T' + unit."""
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {prefix}{unit}"
    return f"{int(n)} {unit}".rstrip()
