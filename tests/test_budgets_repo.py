"""The repository's own budgets: CI fails if a change to model/ makes DSTT bigger."""

from __future__ import annotations

from pathlib import Path

import pytest

from dstt_profile.cli.check import check_command

ROOT = Path(__file__).resolve().parent.parent


def test_repository_budgets_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code = check_command([str(ROOT / "budgets.toml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all 3 budget entries hold" in out
