"""Parsing and printing of sizes (bytes) and FLOP counts, with their units stated."""

from __future__ import annotations

import re

from dstt_profile.errors import UsageError
from dstt_profile.values import INT64_MAX, decimal, whole_number

BYTE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30,
              "TiB": 2**40}
FLOP_UNITS = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_BYTES = {"": 1, **{k.lower(): v for k, v in BYTE_UNITS.items()}}
_FLOPS = {"": 1, **{k.lower(): v for k, v in FLOP_UNITS.items()}}
_NUMBER = re.compile(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", re.ASCII)
BYTE_UNIT_LIST = ", ".join(BYTE_UNITS)


def _parse(text: str | int, what: str, units: dict[str, int], listed: str) -> int:
    if not isinstance(text, str):
        if isinstance(text, int) and not isinstance(text, bool) and text < 0:
            raise UsageError(f"{what} {text} is negative")
        return whole_number(text, what)
    if text.strip().startswith("-"):
        raise UsageError(f"{what} {text!r} is negative")
    if not (m := _NUMBER.fullmatch(text)):
        raise UsageError(f"{what} {text!r} is not a number with an optional unit")
    unit = m.group(2).lower()
    if units is _FLOPS:
        unit = unit.removesuffix("flops").removesuffix("flop")
    if unit not in units:
        raise UsageError(f"{what} {text!r} has an unknown unit {m.group(2)!r} (use {listed})")
    value = decimal(m.group(1), what) * units[unit]
    rounded = round(value)
    if value != rounded and units[unit] == 1:
        raise UsageError(f"{what} {text!r} is not a whole number")
    if rounded == 0 and value != 0:
        raise UsageError(f"{what} {text!r} rounds to 0")
    if rounded > INT64_MAX:
        raise UsageError(f"{what} {text!r} is out of range: at most {INT64_MAX:,}")
    return rounded


def parse_bytes(text: str | int) -> int:
    """'16GiB', '1.5 GiB', '400 MB', '1024' (bytes) -> bytes. KiB/MiB/GiB/TiB are powers of 2, KB/MB/GB/TB of 10."""
    return _parse(text, "size", _BYTES, BYTE_UNIT_LIST)


def parse_flops(text: str | int) -> int:
    """'1.8 TFLOP', '900G', plain integers -> FLOPs. Suffixes K, M, G, T, P (powers of 10), optionally + FLOP."""
    return _parse(text, "FLOP count", _FLOPS, f"{', '.join(FLOP_UNITS)}, optionally + FLOP")


def fmt_bytes(n: float) -> str:
    """Binary units, one decimal place: 406389760 -> '387.6 MiB'; under 1 KiB, whole bytes."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def fmt_count(n: float, unit: str = "") -> str:
    """Decimal prefixes, two decimal places: 1.23e12 -> '1.23 T' + unit; under 1 K, a whole number."""
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {prefix}{unit}"
    return f"{int(n)} {unit}".rstrip()
