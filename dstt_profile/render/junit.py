"""JUnit XML for `dstt-profile check --junit`: one test case per budget entry, a failure per breach."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from dstt_profile.records.budgets import EntryResult
from dstt_profile.render.budgets import problem
from dstt_profile.render.xmltext import xml_text

SUITE = "dstt-profile budgets"


def _case(result: EntryResult) -> ET.Element:
    run = result.run
    case = ET.Element("testcase", {"classname": "budgets", "name": xml_text(result.name), "time": "0"})
    if failures := result.failures():
        failure = ET.SubElement(case, "failure", {"message": xml_text(problem(failures[0])), "type": "BudgetExceeded"})
        failure.text = xml_text("\n".join(f"{m.entry}: {problem(m)}" for m in failures))
    out = ET.SubElement(case, "system-out")
    out.text = xml_text("\n".join(
        [" ".join(w for w in (f"t={run.frames}", run.res, run.dtype, f"batch={run.batch}", str(run.arg("attention", "")), run.mode) if w)]
        + [f"{m.metric}: actual {m.actual:,} budget {m.budget if m.budget is None else f'{m.budget:,}'}"
           for m in result.metrics]
    ))
    return case


def junit_xml(results: Sequence[EntryResult]) -> str:
    failures = sum(1 for r in results if not r.passed)
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": SUITE, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE, **counts})
    for result in results:
        suite.append(_case(result))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
