"""The generic analyses as subcommands: `scaling` and `training` (DSTT's own: profiles/dstt/commands.py)."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.cli.options import analysis_runs
from dstt_profile.errors import UsageError


def scaling_command(argv: Sequence[str]) -> int:
    from dstt_profile.api import profile_runs
    from dstt_profile.pipeline.search import peak_crossover
    from dstt_profile.render.laws import scaling_text

    runs = analysis_runs("scaling", "Exact scaling laws in t (fits verified on every point) and the "
                         "crossovers: from which t the temporal attention matrix is the largest headline "
                         "tensor, and from which t a temporal block holds the peak.", argv, frames="1:8")
    if len(runs) < 3:
        raise UsageError("scaling: --frames needs at least 3 values of t to fit and verify a law (e.g. 1:8)")
    report = profile_runs(runs, keep_ops="none", scaling=False)
    print(scaling_text(report, peak_crossover(runs[0]) if report.run.profile.quadratic_stage else None))
    return 0


def training_command(argv: Sequence[str]) -> int:
    from dstt_profile.pipeline.training import training_split
    from dstt_profile.render.training import render

    runs = analysis_runs("training", "One training step (forward + backward, fake tensors): its tensor "
                         "peak split into gradients, activations saved for backward and temporaries, with "
                         "parameters and Adam's state beside it.", argv)
    runs = [run.replace(mode="train") for run in runs]  # always the training step
    print("\n\n".join(render(training_split(run), run) for run in runs))
    return 0
