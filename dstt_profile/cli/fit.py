"""`dstt-profile fit --budget SIZE`: the largest t that fits (pipeline/search.py), one or a grid."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.cli.options import fit_configs, fit_parser
from dstt_profile.pipeline.search import solve
from dstt_profile.profiles.registry import check_checkpoint
from dstt_profile.render.fit import grid_json, render_grid, render_text
from dstt_profile.units import parse_bytes


def fit_command(argv: Sequence[str]) -> int:
    args = fit_parser().parse_args(list(argv))
    budget = parse_bytes(args.budget)
    configs = fit_configs(args)
    checked = check_checkpoint(args.checkpoint, configs[0]) if args.checkpoint is not None else None
    answers = [solve(base, budget, gate=args.gate) for base in configs]
    if args.format == "json":
        print(answers[0].to_json() if len(answers) == 1 else grid_json(answers))
    elif len(answers) == 1:
        print(render_text(answers[0], configs[0]))
    else:
        print(render_grid(answers, budget, args.gate, args.memory))
    if checked is not None and args.format == "text":
        print(checked)
    return 0 if all(a.max_frames > 0 for a in answers) else 1
