"""Loading a saved result validates it against the record types: every bad field is named, in one line.

The rules come from the dataclass type hints alone (codec.py), so the records below, made up for the
test, are checked the same way as the real ones: a field added later needs no new validation code.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from traces import profiled

from dstt_profile.cli.main import main
from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import from_jsonable, to_jsonable
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result


@dataclass(frozen=True)
class Peak:
    bytes: int
    tensor_bytes: int  # a field "added later": required, since it has no default
    stage: str


@dataclass(frozen=True)
class Run:
    peak: Peak
    shares: dict[str, float]
    shape: tuple[int, ...]
    note: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


GOOD = {"peak": {"bytes": 10, "tensor_bytes": 8, "stage": "ffn"}, "shares": {"ffn": 0.5}, "shape": [1, 2]}


def test_good_record_decodes_and_defaults_may_be_missing() -> None:
    run = from_jsonable(Run, GOOD)
    assert run == Run(Peak(10, 8, "ffn"), {"ffn": 0.5}, (1, 2))
    assert from_jsonable(Run, to_jsonable(run)) == run


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("peak", "bytes"), float("nan"), "run.peak.bytes: expected a whole number, got NaN"),
        (("peak", "bytes"), float("inf"), "run.peak.bytes: expected a whole number, got Infinity"),
        (("peak", "bytes"), 10**400, "run.peak.bytes: expected a whole number within 64 bits, got a 1329-bit integer"),
        (("peak", "bytes"), 2**63, "run.peak.bytes: expected a whole number within 64 bits, got 9223372036854775808"),
        (("peak", "bytes"), 1.0, "run.peak.bytes: expected a whole number, got 1.0"),
        (("peak", "bytes"), True, "run.peak.bytes: expected a whole number, got true"),
        (("peak", "tensor_bytes"), "lots", "run.peak.tensor_bytes: expected a whole number, got 'lots'"),
        (("peak", "stage"), 3, "run.peak.stage: expected a string, got 3"),
        (("shares", "ffn"), float("-inf"), "run.shares.ffn: expected a finite number, got -Infinity"),
        (("shares",), [], "run.shares: expected an object, got a list"),
        (("shape",), {"a": 1}, "run.shape: expected a list, got an object"),
        (("note",), 5, "run.note: expected a string, got 5"),
        (("seconds",), "1", "run.seconds: expected a number, got '1'"),
        (("peak",), None, "run.peak: expected an object, got null"),
    ],
)
def test_each_bad_value_is_named(path: tuple[str, ...], value: Any, message: str) -> None:
    data = copy.deepcopy(GOOD)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SchemaError) as caught:
        from_jsonable(Run, data, "run")
    assert str(caught.value) == message


def test_missing_and_unknown_fields() -> None:
    data = copy.deepcopy(GOOD)
    del data["peak"]["tensor_bytes"]
    with pytest.raises(SchemaError, match=r"^run\.peak\.tensor_bytes: missing$"):
        from_jsonable(Run, data, "run")
    data = {**copy.deepcopy(GOOD), "colour": "red"}
    with pytest.raises(SchemaError, match=r"^run: unknown field 'colour'$"):
        from_jsonable(Run, data, "run")
    with pytest.raises(SchemaError, match=r"^run\.shape\[1\]: expected a whole number, got '2'$"):
        from_jsonable(Run, {**copy.deepcopy(GOOD), "shape": [1, "2"]}, "run")


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    """A real result (t=2, no per-op records), as JSON values."""
    return Result((profiled(RunConfig(frames=2), keep_ops=False),)).to_dict()


def _broken(saved: dict[str, Any], change: Any) -> dict[str, Any]:
    data = copy.deepcopy(saved)
    change(data["runs"][0])
    return data


CASES = [
    (lambda r: r["peak"].__setitem__("bytes", float("nan")), "runs[0].peak.bytes: expected a whole number, got NaN"),
    (lambda r: r["peak"].__setitem__("bytes", float("inf")), "runs[0].peak.bytes: expected a whole number, got Infinity"),
    (lambda r: r["peak"].__setitem__("bytes", 10**400), "runs[0].peak.bytes: expected a whole number within 64 bits"),
    (lambda r: r["peak"].__setitem__("bytes", "lots"), "runs[0].peak.bytes: expected a whole number, got 'lots'"),
    (lambda r: r.__setitem__("stages", []), "runs[0].stages: expected an object, got a list"),
    (lambda r: r["config"].pop("frames"), "runs[0].config.frames: missing"),
    (lambda r: r["config"].__setitem__("colour", "red"), "runs[0].config: unknown field 'colour'"),
    (lambda r: r["config"].__setitem__("frames", 0), "runs[0].config: frames must be a positive integer, got 0"),
    (lambda r: r.__setitem__("surprise", 1), "runs[0]: unknown field 'surprise'"),
    (lambda r: r.pop("peak"), "runs[0].peak: missing"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_result_load_names_the_field(saved: dict[str, Any], change: Any, message: str, tmp_path: Path) -> None:
    path = tmp_path / "X.json"
    path.write_text(json.dumps(_broken(saved, change)), encoding="utf-8")
    with pytest.raises(SchemaError) as caught:
        Result.load(path)
    assert message in str(caught.value)


@pytest.mark.parametrize(("change", "message"), CASES)
def test_report_of_a_bad_result_is_one_line_exit_2(
    saved: dict[str, Any], change: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "X.json"
    path.write_text(json.dumps(_broken(saved, change)), encoding="utf-8")
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"dstt-profile: error: {path}: not a dstt-profile result (")
    assert message in captured.err and captured.err.count("\n") == 1, captured.err
    assert not (tmp_path / "out").exists()


def test_1e400_is_refused_not_rendered_as_inf(saved: dict[str, Any], tmp_path: Path) -> None:
    text = json.dumps(saved).replace(f'"bytes": {saved["runs"][0]["peak"]["bytes"]}, "stage"', '"bytes": 1e400, "stage"', 1)
    assert "1e400" in text
    path = tmp_path / "X.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaError, match=r"runs\[0\]\.peak\.bytes: expected a whole number, got Infinity"):
        Result.load(path)


def test_valid_result_loads_with_config_defaults_filled(saved: dict[str, Any]) -> None:
    data = copy.deepcopy(saved)
    del data["runs"][0]["config"]["memory"]  # has a default: may be missing
    run = Result.from_dict(data).runs[0]
    assert run.config.memory == "allocator" and run.frames == 2
    assert Result.from_dict(saved).to_dict() == saved


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schema": "dstt-profile/1"}, "runs: missing"),
        ({"schema": "dstt-profile/1", "runs": {}}, "runs: expected a list, got an object"),
        ({"schema": "dstt-profile/1", "runs": [], "meta": 3}, "meta: expected an object, got 3"),
        ({"schema": "dstt-profile/1", "runs": [], "x": 1}, "unknown field 'x'"),
        ([1], "not a dstt-profile/2 result (schema: 'list')"),
    ],
)
def test_top_level(data: Any, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Result.from_dict(data)
    assert str(caught.value) == message
