"""Lists in the main job's --dtype, --attention and --mode: every combination run, shown side by side."""

from __future__ import annotations

import argparse
import itertools

from dstt_profile.cli.job import plan_job, run_job
from dstt_profile.cli.options import option_lists

LISTED = ("dtype", "attention", "mode")  # options that take a comma-separated list


def combinations(args: argparse.Namespace) -> list[argparse.Namespace]:
    """One namespace per combination of the listed options' values (just `args` when none is a list)."""
    combos = itertools.product(*option_lists(args, LISTED))
    return [argparse.Namespace(**{**vars(args), **dict(zip(LISTED, combo))}) for combo in combos]


def run_combinations(variants: list[argparse.Namespace]) -> int:
    """Every combination validated and its files checked first, then run; one side-by-side table."""
    from dstt_profile.render.sidebyside import render

    for variant in variants:
        plan_job(variant)
    done = [(code, report.result, paths) for code, report, paths in (run_job(v, show=False) for v in variants)]
    if not variants[0].quiet:
        names = [o for o in LISTED if len({getattr(v, o) for v in variants}) > 1]  # the options that vary
        labels = [" ".join(str(getattr(v, o)) for o in names) for v in variants]
        print(render([result for _, result, _ in done], labels))
        print()
        for path in (path for _, _, paths in done for path in paths):
            print(f"wrote {path}")
    return max(code for code, _, _ in done)
