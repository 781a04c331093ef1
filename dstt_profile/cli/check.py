"""`dstt-profile check BUDGETS.toml`: every budget entry run with fake tensors and compared."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from dstt_profile.analysis import budgets
from dstt_profile.analysis.budgets_file import load_budgets
from dstt_profile.cli.options import check_parser
from dstt_profile.fileio import check_outputs, output_path, write_atomic
from dstt_profile.pipeline.runs import profile_run
from dstt_profile.render.budgets import render_table, result_json, summary


def _paths(args: argparse.Namespace) -> tuple[Path, Path, dict[str, Path]]:
    """The budgets file, the baseline file and every output by what it is, each checked (check_outputs)."""
    budgets_path = output_path(args.budgets, "the budgets file")
    assert budgets_path is not None
    given = output_path(args.baseline, "--baseline")
    baseline_path = given if given is not None else budgets.default_baseline_path(budgets_path)
    outputs: dict[str, Path] = {}
    if args.update:
        outputs["the baseline (--update)"] = baseline_path
    for option in ("junit", "json"):
        if (path := output_path(getattr(args, option), f"--{option}")) is not None:
            outputs[f"--{option}"] = path
    kept = {"the baseline": baseline_path} if not args.update and baseline_path.exists() else {}
    check_outputs(outputs, {"the budgets file": budgets_path, **kept})
    return budgets_path, baseline_path, outputs


def check_command(argv: Sequence[str]) -> int:
    args = check_parser().parse_args(list(argv))
    budgets_path, baseline_path, outputs = _paths(args)
    entries = load_budgets(budgets_path)
    # No output may be a file an entry reads (its model file, its stage map): checked before any runs.
    named = {f"{what} (entry {b.name!r})": Path(name) for b in entries for what, name in b.run.input_files().items()}
    check_outputs(outputs, named)
    # the baseline figures to compare with: none when updating, or when the default file is absent
    absent = args.update or (args.baseline is None and not baseline_path.exists())
    baselines = {} if absent else budgets.read_baseline(baseline_path)
    results = [budgets.evaluate(b, profile_run(b.run, keep_ops=False), baselines.get(b.name)) for b in entries]
    print(f"{render_table(results)}\n\n{summary(results)}")
    if args.update:
        write_atomic(baseline_path, budgets.baseline_json(results))
        print(f"wrote baseline {baseline_path}")
    if args.json is not None:
        write_atomic(Path(args.json), result_json(results))
    if args.junit is not None:
        from dstt_profile.render.junit import junit_xml

        write_atomic(Path(args.junit), junit_xml(results))
    return 0 if all(r.passed for r in results) else 1
