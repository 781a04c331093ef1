"""The project's own docs: docs/json.md lists every field of every record, and nothing in the
repository points to a document it does not hold."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from dstt_profile.records import schema as records

ROOT = Path(__file__).resolve().parent.parent
JSON_DOC = ROOT / "docs" / "json.md"


def _reachable(cls: type, seen: dict[str, type]) -> dict[str, type]:
    """Every record type a `cls` holds, at any depth: what a result's JSON is made of."""
    if cls.__name__ in seen:
        return seen
    seen[cls.__name__] = cls
    for hint in typing.get_type_hints(cls).values():
        for arg in (hint, *_args(hint)):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                _reachable(arg, seen)
    return seen


def _args(hint: object) -> list[object]:
    found = list(typing.get_args(hint))
    return [a for arg in found for a in (arg, *_args(arg))]


RECORDS = list(_reachable(records.Result, {}).values())


def _documented(name: str) -> set[str]:
    """The field names in the table under `### \\`name\\`` in docs/json.md."""
    text = JSON_DOC.read_text(encoding="utf-8")
    section = text.split(f"### `{name}`", 1)
    assert len(section) == 2, f"docs/json.md has no section for {name}"
    body = section[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", body, flags=re.M))


@pytest.mark.parametrize("record", [r for r in RECORDS if r.__name__ != "Result"],
                         ids=lambda r: r.__name__)
def test_every_record_field_is_documented(record: type) -> None:
    fields = {f.name for f in dataclasses.fields(record)}
    assert fields - _documented(record.__name__) == set()
    assert _documented(record.__name__) - fields == set()  # and nothing stale


def test_top_level_fields_are_documented() -> None:
    text = JSON_DOC.read_text(encoding="utf-8")
    assert {f.name for f in dataclasses.fields(records.Result)} == {"runs", "schema", "meta", "scaling"}
    for name in ("schema", "meta", "runs", "scaling"):
        assert f"- `{name}`:" in text
    assert records.SCHEMA in text


def test_docs_links_resolve() -> None:
    """Every relative link to a .md file in the tracked docs points to a file that exists."""
    for md in [ROOT / "README.md", ROOT / "reports" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", md.read_text(encoding="utf-8")):
            assert (md.parent / target).is_file(), f"{md.relative_to(ROOT)} links to missing {target}"


def test_no_reference_to_missing_documents() -> None:
    hits = []
    for path in ROOT.rglob("*"):
        if any(part in (".venv", ".git", "build") for part in path.parts) or path.suffix not in (".py", ".md", ".j2"):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\b(dstt|design)\.md\b", text) and path.name != "test_docs.py":
            hits.append(str(path.relative_to(ROOT)))
    assert hits == []
