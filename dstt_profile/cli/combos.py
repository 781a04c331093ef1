"""Lists in the main job's --dtype, --attention and --mode: every combination is run, in the order
given (dtype slowest), and shown side by side (render/sidebyside.py)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from dstt_profile.cli.job import plan_job, run_job
from dstt_profile.cli.options import split_list
from dstt_profile.records.schema import Result

LISTED = ("dtype", "attention", "mode")  # options that take a comma-separated list


def combinations(args: argparse.Namespace) -> list[argparse.Namespace]:
    """One namespace per combination of the listed options' values (just `args` when none is a list)."""
    lists: list[list[str | None]] = [
        list(split_list(f"--{option}", getattr(args, option))) if getattr(args, option) is not None else [None]
        for option in LISTED
    ]  # an option left unset (DSTT's --attention for another model) stays unset
    out = []
    for combo in itertools.product(*lists):
        variant = argparse.Namespace(**vars(args))
        for option, value in zip(LISTED, combo):
            setattr(variant, option, value)
        out.append(variant)
    return out


def varying(variants: list[argparse.Namespace]) -> list[str]:
    """The listed options whose value differs between the combinations."""
    return [o for o in LISTED if len({getattr(v, o) for v in variants}) > 1]


def run_combinations(variants: list[argparse.Namespace]) -> int:
    """Every combination validated and its files checked first, then each run (files as the main job
    writes them); then one side-by-side table. Exit 1 when any run's formula check failed."""
    from dstt_profile.render.sidebyside import render

    args = variants[0]
    for variant in variants:
        plan_job(variant)
    codes: list[int] = []
    results: list[Result] = []
    written: list[Path] = []
    for variant in variants:
        code, report, paths = run_job(variant, show=False)
        codes.append(code)
        results.append(report.result)
        written += paths
    if not args.quiet:
        names = varying(variants)
        labels = [" ".join(str(getattr(v, o)) for o in names) for v in variants]
        print(render(results, labels))
        print()
        for path in written:
            print(f"wrote {path}")
    return max(codes)
