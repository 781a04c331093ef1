"""Random bad numbers, seeded, into every numeric option and every numeric budgets key: always exit 2,
one line on stderr, no traceback, nothing run and nothing written.

Every generated string holds at least one piece that no number anywhere may contain (a digit that is
not ASCII, a sign, an exponent, NaN, an underscore, more than 30 digits) or is empty or blank, so
each case is invalid by construction whatever else surrounds it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dstt_profile.cli.main import main

SEED = 20240613
CASES = 300

# Never valid in any number: digits of other scripts, superscripts, fractions, signs, exponents...
POISON = [
    "²", "٣", "１", "𝟙", "½", "Ⅻ", "߂", "৪", "-", "−", "e", "E", "_", "0x", "NaN", "nan", "inf", "Infinity",
    "∞", "1" * 31, "9" * 45, "10" + "0" * 400,
]
# Harmless alone: may or may not make a valid number, so every case also holds a piece of POISON.
FILLER = ["0", "1", "7", "12", "240", "432", ".", ".5", "1.5", " ", "\t", "GiB", "MB", "TB", "x", "X", "%", "+",
          ",", ":", "k", "FLOP", "B"]
BLANK = ["", " ", "\t", "\n", "   \t "]


def bad_numbers(seed: int = SEED, count: int = CASES) -> list[str]:
    rng = random.Random(seed)
    out = list(BLANK)
    while len(out) < count:
        pieces = [rng.choice(FILLER) for _ in range(rng.randint(0, 4))]
        pieces.insert(rng.randint(0, len(pieces)), rng.choice(POISON))
        out.append("".join(pieces))
    return out


VALUES = bad_numbers()

CLI_OPTIONS = [
    [f"--{name}"] for name in ("frames", "batch", "heads", "zones", "repeats", "res")
] + [["fit", "--budget"], ["fit", "--budget", "1GiB", "--batch"], ["fit", "--budget", "1GiB", "--res"]]

BUDGET_KEYS = ["frames", "batch", "peak", "flops", "growth", "res", "stages.ffn"]
# TOML literals that are no valid value for any of those keys
LITERALS = ["nan", "inf", "-inf", "1.5", "-3", "1e400", "99999999999999999999999999", "true", "[1]", "{ a = 1 }",
            '""']


def test_generator_is_seeded_and_varied() -> None:
    assert bad_numbers() == VALUES and len(VALUES) == CASES
    assert len(set(VALUES)) > CASES * 0.8
    assert all(any(p in v for p in POISON) or not v.strip() for v in VALUES)


def _one_line(capsys: pytest.CaptureFixture[str], context: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dstt-profile: error: "), (context, captured.err)
    assert "Traceback" not in captured.err and captured.out == "", context
    return lines[0]


@pytest.mark.parametrize("option", CLI_OPTIONS, ids=lambda o: " ".join(o))
def test_every_numeric_option(
    option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dstt_profile.pipeline.sweep.trace", lambda *a, **k: pytest.fail("ran the model"))
    out = tmp_path / "out"
    for value in VALUES:
        *head, flag = option
        argv = [*head, f"{flag}={value}"] + ([] if head else ["--out", str(out)])
        assert main(argv) == 2, (option, value)
        _one_line(capsys, f"{option} {value!r}")
    assert not out.exists()


def _entry(key: str, literal: str) -> str:
    values = {"frames": "2", "res": '"48x48"', "peak": '"1 GiB"'}
    lines = [f"{k} = {v}" for k, v in values.items() if k != key]
    if key.startswith("stages."):
        return "[[budget]]\nname = \"t\"\n" + "\n".join(lines) + f"\n[budget.stages]\n{key[7:]} = {literal}\n"
    return "[[budget]]\nname = \"t\"\n" + "\n".join([*lines, f"{key} = {literal}"]) + "\n"


@pytest.mark.parametrize("key", BUDGET_KEYS)
def test_every_budgets_key(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dstt_profile.cli.check.profile_run", lambda *a, **k: pytest.fail("ran the model"))
    path = tmp_path / "b.toml"
    for literal in [json.dumps(v, ensure_ascii=False) for v in VALUES] + LITERALS:
        path.write_text(_entry(key, literal), encoding="utf-8")
        assert main(["check", str(path), "--junit", str(tmp_path / "j.xml")]) == 2, (key, literal)
        line = _one_line(capsys, f"{key} = {literal}")
        assert f"key '{key}'" in line, (literal, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.toml"]


def test_cases_tried() -> None:
    """The count reported: strings into CLI options, strings and literals into budgets keys, strings and
    bad values into the API."""
    cli = len(VALUES) * len(CLI_OPTIONS)
    budgets = (len(VALUES) + len(LITERALS)) * len(BUDGET_KEYS)
    api = 3 * len(VALUES) + 5 * len(BAD_VALUES)
    assert (cli, budgets, api) == (2700, 2177, 960)


BAD_VALUES = [float("nan"), float("inf"), -1, 0, 1.5, 10**400, True, None, "", "²", [1], 2**70]


def test_every_numeric_api_argument() -> None:
    """The same strings, and bad Python values, through the API: its own UsageError every time."""
    from dstt_profile.api import max_frames, profile, run_config, sweep
    from dstt_profile.errors import UsageError

    tried = 0
    for value in VALUES:
        for function, kwargs in ((sweep, {"frames": value}), (run_config, {"res": value}), (max_frames, {"budget_bytes": value})):
            with pytest.raises(UsageError):
                function(**kwargs)
            tried += 1
    for bad in BAD_VALUES:
        for name in ("frames", "batch", "heads", "zones"):
            with pytest.raises(UsageError):
                run_config(**{name: bad})
            tried += 1
        with pytest.raises(UsageError):
            profile(res=(bad, 432))
        tried += 1
    assert tried == 3 * CASES + 5 * len(BAD_VALUES)
