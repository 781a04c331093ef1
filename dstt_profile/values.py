"""Every whole number a user gives is read here: ASCII digits or a real `int`, in an inclusive range, so
'²', '1.5', 'NaN', '-3' or `10**400` are one `UsageError` naming the option."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from dstt_profile.errors import UsageError

INT64_MAX = 2**63 - 1  # the largest count torch (and a JSON reader in another language) can hold
MAX_DIGITS = 30  # longer text is refused before it is converted (10**30 is past every range here)

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)


def shown(value: Any) -> str:
    """`repr(value)`, cut to 40 characters: a message stays one readable line whatever was typed."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(value: Any, what: str, low: int = 0, high: int = INT64_MAX) -> int:
    """`value` (an int, or text of ASCII digits) as an int in [low, high]; UsageError naming `what` otherwise."""
    if isinstance(value, str) and len(value.strip()) <= MAX_DIGITS and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    else:
        raise UsageError(f"{what} {shown(value)} is not a whole number")
    if number < low or number > high:
        raise UsageError(f"{what} {shown(value)} is out of range: use {low}..{high}")
    return number


def positive(value: Any, what: str, high: int = INT64_MAX) -> int:
    """A whole number of at least 1."""
    number = whole_number(value, what, -INT64_MAX, high)
    if number < 1:
        raise UsageError(f"{what} must be at least 1, got {shown(value)}")
    return number


def decimal(text: str, what: str) -> Fraction:
    """'1.5' -> Fraction(3, 2), exactly: ASCII digits with an optional fraction, nothing else."""
    if _DECIMAL.fullmatch(text.strip()) is None or len(text.strip()) > MAX_DIGITS:
        raise UsageError(f"{what} {shown(text)} is not a number")
    return Fraction(text.strip())
