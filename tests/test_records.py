"""Records round-trip through JSON unchanged, and the formula registry prints and evaluates exactly."""

from __future__ import annotations

import json

import pytest
from traces import profiled

from dstt_profile.errors import UsageError
from dstt_profile.profiles.dstt.formulas import ELEMENTS, FLOPS, Symbols
from dstt_profile.records.legacy import upgraded
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result
from dstt_profile.units import parse_bytes, parse_flops


def test_json_round_trip() -> None:
    result = Result((profiled(RunConfig(frames=2)),))
    again = Result.from_json(result.to_json())
    assert again == result
    assert again.runs[0].ops[0] == result.runs[0].ops[0]


def test_a_version_1_file_is_upgraded() -> None:
    # dstt-profile/1 held the tensor view inside `peak` (tensor_*), and profile.blocks, and named the
    # measured tensor peak predicted_peak_bytes; version 2 reads it as the run it was
    record = profiled(RunConfig(frames=2), keep_ops=False)
    data = json.loads(Result((record,)).to_json())
    run = data["runs"][0]
    tensor = run.pop("tensor_peak")
    run["peak"].update({f"tensor_{'op_index' if k == 'op_index' else k}": v for k, v in tensor.items()
                        if k in ("bytes", "stage", "op", "op_index", "module")})
    run["profile"]["blocks"] = "transformer"
    old = Result.from_dict({**data, "schema": "dstt-profile/1"}).runs[0]
    assert old.tensor_peak == record.tensor_peak and old.peak == record.peak
    assert old.tensor_peak.bytes == 132_710_400  # decoder.4.conv, tensors only: 66,355,200*t at t=2
    measured = upgraded({"measured": {"predicted_peak_bytes": 5, "repeats": 3}}, "runs[0]")["measured"]
    assert measured == {"predicted_tensor_peak_bytes": 5, "repeats": 3}
    assert Result.from_dict({**data, "schema": "dstt-profile/1"}).to_dict()["schema"] == "dstt-profile/2"


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
