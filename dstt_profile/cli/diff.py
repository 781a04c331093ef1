"""`dstt-profile diff A.json B.json [--max-growth +2%]`: what changed between two saved results."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.analysis.diff import diff_results, over_limit, parse_growth
from dstt_profile.cli.options import diff_parser
from dstt_profile.cli.report import load_result
from dstt_profile.fileio import output_path
from dstt_profile.records.schema import Result


def _load(text: str, which: str) -> Result:
    path = output_path(text, f"diff: result {which}")
    assert path is not None
    return load_result(path, "diff")


def diff_command(argv: Sequence[str]) -> int:
    from dstt_profile.render.difftext import render

    args = diff_parser().parse_args(list(argv))
    limit = parse_growth(args.max_growth) if args.max_growth is not None else None
    a, b = _load(args.a, "A"), _load(args.b, "B")
    diffs = diff_results(a, b)
    failed = over_limit(diffs, limit) if limit is not None else []
    print(render(diffs, args.a, args.b, limit, failed))
    return 1 if failed else 0
