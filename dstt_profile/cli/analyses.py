"""The analyses as subcommands: `scaling`, `whatif`, `training`, `seed`.

Each parses the main job's options (--frames, --res, --dtype, --batch, --attention, ...: the same
parser, so the same rules and messages) and refuses those that only the main job uses (--measure,
--format, --out, ...). Every figure comes from fake-tensor runs, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.cli.options import analysis_parser, analysis_runs, seed_parser
from dstt_profile.errors import UsageError
from dstt_profile.records.laws import MemoryView
from dstt_profile.records.runconfig import RunConfig


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


def whatif_command(argv: Sequence[str]) -> int:
    """matmul against sdpa attention at the largest t asked for; with 3+ values of t, how each peak grows."""
    from dstt_profile.analysis.laws import peak_laws
    from dstt_profile.analysis.series import scaling_series
    from dstt_profile.api import profile_many
    from dstt_profile.profiles.dstt.whatif import BACKENDS, compare, render

    p = analysis_parser(
        "whatif",
        "The attention what-if: the matmul backend (t^2 matrix materialised) against sdpa (fused kernel). "
        "With several t (e.g. --frames 24:27), the growth of each backend's peak as exact fits.",
    )
    runs = analysis_runs("whatif", p, argv, fixed=("attention",))
    if runs[0].model != "dstt":
        raise UsageError(f"whatif compares the built-in DSTT network's attention backends, not --model {runs[0].model}")
    matmul, sdpa = (profile_many([r.with_args(attention=a) for r in runs], keep_ops=False).runs for a in BACKENDS)
    at = max(range(len(runs)), key=lambda i: runs[i].frames)
    view = MemoryView(runs[0].memory)
    growth = tuple(peak_laws(scaling_series(r, ""), view) for r in (matmul, sdpa)) if len(runs) >= 3 else None
    print(render(compare(matmul[at], sdpa[at]), growth))  # type: ignore[arg-type]
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


def seed_command(argv: Sequence[str]) -> int:
    """The seed analysis table at t = 14, 240x432, every element count checked against a trace."""
    from dstt_profile.api import profile_run
    from dstt_profile.profiles.dstt.seed import SEED_FRAMES, render, seed_rows

    seed_parser().parse_args(list(argv))
    traced = profile_run(RunConfig(frames=SEED_FRAMES), keep_ops=False)
    print(render(seed_rows(measured=traced)))
    print(f"(every element count above equals a fake-tensor trace at t = {SEED_FRAMES})")
    return 0
