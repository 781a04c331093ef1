"""`dstt-profile check`: budgets just above and just below the real figures, malformed files, JUnit, baselines.

Figures at t=14, 240x432, float32, inference, matmul attention (fake tensors, verified by running):
  peak              1,003,806,720 B  (reached in temporal attention's bmm)
  temporal_attention  406,425,600 B  = 4 B * 1x4x4x2520x2520 = 4 * 101,606,400
  flops         1,673,136,783,360 FLOP
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dstt_profile.cli.check import check_command
from dstt_profile.cli.main import main

PEAK_T14 = 1_507_147_776  # allocator peak, decoder.4.conv: 107,642,880*14 + 147,456 (tests/test_allocator.py)
TEMPORAL_T14 = 4 * 1 * 4 * 4 * 2520 * 2520  # = 406,425,600
FLOPS_T14 = 1_673_136_783_360


def entry(name: str = "t14", **keys: object) -> str:
    values = {"frames": 14, "res": '"240x432"', "dtype": '"float32"', **keys}
    body = "\n".join(f"{k} = {v}" for k, v in values.items())
    return f'[[budget]]\nname = "{name}"\n{body}\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    return path


def test_budget_just_above_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = entry(peak=PEAK_T14 + 1, flops=FLOPS_T14 + 1) + f"[budget.stages]\ntemporal_attention = {TEMPORAL_T14}\n"
    assert check_command([str(write(tmp_path, text))]) == 0
    out = capsys.readouterr().out
    assert "1.4 GiB" in out  # 1,507,147,776 / 2**30 = 1.40
    assert "all 1 budget entries hold" in out


def test_budget_just_below_fails_with_overrun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command([str(write(tmp_path, entry(peak=PEAK_T14 - 1)))]) == 1
    out = capsys.readouterr().out
    assert "OVER BUDGET" in out
    assert "peak 1.4 GiB (1,507,147,776) is over its budget 1.4 GiB (1,507,147,775)" in out


def test_overrun_percentage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # (1,507,147,776 - 1,500,000,000) / 1,500,000,000 = 0.48% -> "+0.5%"
    text = entry(peak='"1.5 GB"') + '[budget.stages]\ntemporal_attention = "400 MB"\n'
    assert check_command([str(write(tmp_path, text))]) == 1
    out = capsys.readouterr().out
    assert "overrun +0.5%" in out
    # (406,425,600 - 400,000,000) / 400,000,000 = 1.61% -> "+1.6%"
    assert "overrun +1.6%" in out


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"colour": '"red"', "peak": '"1 GiB"'}, "budget 't14': key 'colour': unknown key"),
        ({"peak": '"1.5 GB/s"'}, "budget 't14': key 'peak': size '1.5 GB/s' is not a number"),
        ({"peak": '"1.5 PiB"'}, "budget 't14': key 'peak': size '1.5 PiB' has an unknown unit"),
        ({"peak": '"-1 GiB"'}, "budget 't14': key 'peak': size '-1 GiB' is negative"),
        ({"peak": "-5"}, "budget 't14': key 'peak': size -5 is negative"),
        ({"flops": '"2 TB"'}, "budget 't14': key 'flops': FLOP count '2 TB' has an unknown unit"),
        ({"res": '"240by432"', "peak": '"1 GiB"'}, "budget 't14': key 'res': res '240by432' is not HEIGHTxWIDTH"),
        ({"res": '"241x432"', "peak": '"1 GiB"'}, "budget 't14': key 'res':"),
        ({"frames": "0", "peak": '"1 GiB"'}, "budget 't14': key 'frames': frames must be a positive integer, got 0"),
        ({"frames": '"14"', "peak": '"1 GiB"'}, "budget 't14': key 'frames': frames must be a positive integer, got '14'"),
        ({"mode": '"training"', "peak": '"1 GiB"'}, "budget 't14': key 'mode': mode 'training' is not one of"),
        ({"growth": '"2"', "peak": '"1 GiB"'}, "budget 't14': key 'growth': '2' is not a tolerance"),
        ({}, "budget 't14': key 'peak': the entry sets no limit"),
    ],
)
def test_malformed_entry_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: dict[str, str], expected: str
) -> None:
    path = write(tmp_path, entry(**keys))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"dstt-profile: error: {path}: ")
    assert expected in err


def test_unknown_stage_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, entry() + '[budget.stages]\nattention = "1 GiB"\n')
    assert main(["check", str(path)]) == 2
    assert "budget 't14': key 'stages.attention': unknown stage" in capsys.readouterr().err


def test_missing_file_and_bad_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["check", str(missing)]) == 2
    assert capsys.readouterr().err == f"dstt-profile: error: {missing}: budgets file not found\n"
    assert main(["check", str(write(tmp_path, "[[budget]\n"))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid TOML" in err


def test_duplicate_name_and_unknown_top_level_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, entry(peak=1) + entry(peak=2))
    assert main(["check", str(path)]) == 2
    assert "budget 't14': key 'name': the name is used twice" in capsys.readouterr().err
    path = write(tmp_path, "budgets = 1\n" + entry(peak=1))
    assert main(["check", str(path)]) == 2
    assert "unknown top-level key 'budgets'" in capsys.readouterr().err


def test_junit_names_failing_entry_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = entry("fits", peak='"1.5 GiB"') + entry("too small", peak='"1400 MiB"')
    junit, result = tmp_path / "junit.xml", tmp_path / "result.json"
    assert check_command([str(write(tmp_path, text)), "--junit", str(junit), "--json", str(result)]) == 1
    capsys.readouterr()
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"fits", "too small"}
    assert cases["fits"].find("failure") is None
    failure = cases["too small"].find("failure")
    assert failure is not None
    # 1400 MiB = 1,468,006,400 B; (1,507,147,776 - 1,468,006,400) / 1,468,006,400 = 2.67% -> "+2.7%"
    assert "overrun +2.7%" in (failure.get("message") or "")
    data = json.loads(result.read_text())
    assert data["passed"] is False
    assert [e["passed"] for e in data["entries"]] == [True, False]
    assert data["entries"][1]["metrics"][0]["actual"] == PEAK_T14
    assert not list(tmp_path.glob(".*tmp"))


def test_baseline_update_then_growth_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, entry(peak='"4 GiB"', growth='"+2%"'))
    baseline = tmp_path / "budgets.baseline.json"
    assert check_command([str(path), "--update"]) == 0  # default baseline path: beside the budgets file
    assert json.loads(baseline.read_text())["entries"]["t14"]["peak"] == PEAK_T14
    assert check_command([str(path)]) == 0  # unchanged: +0.0%
    assert "+0.0%" in capsys.readouterr().out

    # Pretend the model used to be 5% smaller: 1,507,147,776 / 1.05 = 1,435,378,834.3; as a whole number
    # 1,435,378,835, and 1,507,147,776 / 1,435,378,835 - 1 = +5.0%.
    data = json.loads(baseline.read_text())
    data["entries"]["t14"]["peak"] = 1_435_378_835
    baseline.write_text(json.dumps(data))
    assert check_command([str(path)]) == 1
    out = capsys.readouterr().out
    assert "GREW" in out
    assert "peak grew +5.0% over the baseline" in out and "tolerance +2%" in out

    path.write_text(entry(peak='"4 GiB"', growth='"+10%"'))
    assert check_command([str(path)]) == 0


def test_explicit_missing_baseline_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, entry(peak='"4 GiB"'))
    assert main(["check", str(path), "--baseline", str(tmp_path / "none.json")]) == 2
    assert "baseline file not found" in capsys.readouterr().err
