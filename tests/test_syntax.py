"""Every source file parses as Python 3.11, the oldest version pyproject.toml allows (tomllib)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINIMUM = (3, 11)
SOURCES = sorted(p for folder in ("dstt_profile", "model", "tests") for p in (ROOT / folder).rglob("*.py"))


def test_the_minimum_is_pyprojects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, MINIMUM))


def test_every_folder_has_sources() -> None:
    for folder in ("dstt_profile", "model", "tests"):
        assert any(p.is_relative_to(ROOT / folder) for p in SOURCES), folder


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_parses_as_the_minimum_python(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=MINIMUM)


def test_newer_syntax_is_refused() -> None:
    # PEP 695 type parameters are 3.12 syntax: the check must catch them
    with pytest.raises(SyntaxError):
        ast.parse("def f[T](x: T) -> T:\n    return x\n", feature_version=MINIMUM)
