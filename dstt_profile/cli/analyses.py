"""The generic analyses as subcommands: `scaling` and `training` (DSTT's own, `whatif` and `seed`, are
its profile's: profiles/dstt/commands.py).

Each parses the main job's options (--frames, --res, --dtype, --batch, --attention, ...: the same
parser, so the same rules and messages) and refuses those that only the main job uses (--measure,
--format, --out, ...). Every figure comes from fake-tensor runs, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.cli.options import analysis_parser, analysis_runs
from dstt_profile.errors import UsageError


def scaling_command(argv: Sequence[str]) -> int:
    """Exact polynomial laws in t of every stage's headline bytes, FLOPs and peak, the peak fitted per
    segment of constant peak stage, and the crossovers of the stage that grows with t^2."""
    from dstt_profile.api import profile_runs
    from dstt_profile.pipeline.search import peak_crossover
    from dstt_profile.render.laws import scaling_text

    p = analysis_parser(
        "scaling",
        "Exact scaling laws in t (fits verified on every point) and the crossovers: from which t the temporal "
        "attention matrix is the largest headline tensor, and from which t a temporal block holds the peak.",
        frames="1:8",
    )
    runs = analysis_runs("scaling", p, argv)
    if len(runs) < 3:
        raise UsageError("scaling: --frames needs at least 3 values of t to fit and verify a law (e.g. 1:8)")
    report = profile_runs(runs, keep_ops="none", scaling=False)
    crossing = peak_crossover(runs[0]) if report.run.profile.quadratic_stage else None
    print(scaling_text(report, crossing))
    return 0


def training_command(argv: Sequence[str]) -> int:
    """The training step's tensor peak split into gradients, saved activations and temporaries."""
    from dstt_profile.pipeline.training import training_split
    from dstt_profile.render.training import render

    p = analysis_parser(
        "training",
        "One training step (forward + backward, fake tensors): its tensor peak split into gradients, "
        "activations saved for backward and temporaries, with parameters and Adam's state beside it.",
    )
    runs = [run.replace(mode="train") for run in analysis_runs("training", p, argv)]  # always the training step
    print("\n\n".join(render(training_split(run), run) for run in runs))
    return 0
