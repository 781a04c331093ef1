"""Records round-trip through JSON unchanged, and the formula registry prints and evaluates exactly."""

from __future__ import annotations

import pytest
from traces import profiled

from dstt_profile.errors import UsageError
from dstt_profile.profiles.dstt.formulas import ELEMENTS, FLOPS, Symbols
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result
from dstt_profile.units import parse_bytes, parse_flops


def test_json_round_trip() -> None:
    result = Result((profiled(RunConfig(frames=2)),))
    again = Result.from_json(result.to_json())
    assert again == result
    assert again.runs[0].ops[0] == result.runs[0].ops[0]


def test_wrong_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="not a dstt-profile/2 result"):
        Result.from_dict({"schema": "other/9", "runs": []})


def test_formulas_two_ways() -> None:
    sym = Symbols.of(RunConfig(frames=14))
    ta = ELEMENTS["temporal_attention"]
    assert (ta.general, ta.substituted(sym), ta.value(sym)) == ("k*t^2*n^2/s^2", "t^2*720*720", 101_606_400)
    assert ELEMENTS["vec2patch_fold"].substituted(sym) == "t*128*60*108"
    assert ELEMENTS["vec2patch_fold"].value(sym) == 11_612_160  # 14*128*60*108
    assert ta.coefficients(sym) == {2: 518_400}  # 720*720
    # spatial: 4 blocks * (8*t*n*d^2 + 4*t*n^2*d) = 4*14*(8*720*512^2 + 4*720^2*512) = 144,011,427,840
    assert FLOPS["spatial_attention"].value(sym) == 144_011_427_840


@pytest.mark.parametrize(
    ("text", "value"),
    [("16GiB", 16 * 2**30), ("1.5 GiB", 1_610_612_736), ("400 MB", 400_000_000), ("1024", 1024), ("2KiB", 2048)],
)
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["-1GiB", "12 parsecs", "GiB", ""])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_bytes(text)


def test_parse_flops() -> None:
    assert parse_flops("1.8 TFLOP") == 1_800_000_000_000
    assert parse_flops("900G") == 900_000_000_000
