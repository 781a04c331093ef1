"""The analyses as subcommands: `scaling`, `whatif`, `training`, `seed`.

Each parses the main job's options (--frames, --res, --dtype, --batch, --attention, ...: the same
parser, so the same rules and messages) and refuses those that only the main job uses (--measure,
--format, --out, ...). Every figure comes from fake-tensor runs, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.cli.options import analysis_parser, analysis_runs, seed_parser
from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import RunConfig


def scaling_command(argv: Sequence[str]) -> int:
    """Exact polynomial laws in t of every stage's headline elements and FLOPs, the peak fitted per
    segment of constant peak stage, and both crossovers (headline and peak)."""
    from dstt_profile.analysis.scaling import peak_crossover, report
    from dstt_profile.api import profile_many
    from dstt_profile.profiles.dstt.profile import NAME as DSTT

    p = analysis_parser(
        "scaling",
        "Exact scaling laws in t (fits verified on every point) and the crossovers: from which t the temporal "
        "attention matrix is the largest headline tensor, and from which t a temporal block holds the peak.",
        frames="1:8",
    )
    runs = analysis_runs("scaling", p, argv)
    if len(runs) < 3:
        raise UsageError("scaling: --frames needs at least 3 values of t to fit and verify a law (e.g. 1:8)")
    result = profile_many(runs, keep_ops=False)
    print(report(result))
    profile = result.runs[0].profile
    if profile.quadratic_stage:
        crossing = peak_crossover(runs[0].replace(frames=1))
        view = "allocator peak" if runs[0].memory == "allocator" else "tensor peak"
        found = f"t = {crossing}" if crossing is not None else "no t up to 65,536"
        where = "a temporal block" if profile.name == DSTT else profile.quadratic_name
        print(f"The {view} is set inside {where} from {found} (searched over fake-tensor runs)")
    return 0


def whatif_command(argv: Sequence[str]) -> int:
    """matmul against sdpa attention at the largest t asked for; with 3+ values of t, how each peak grows."""
    from dstt_profile.analysis.whatif import compare, growth, render, sweep_pair

    p = analysis_parser(
        "whatif",
        "The attention what-if: the matmul backend (t^2 matrix materialised) against sdpa (fused kernel). "
        "With several t (e.g. --frames 24:27), the growth of each backend's peak as exact fits.",
    )
    runs = analysis_runs("whatif", p, argv, fixed=("attention",))
    if runs[0].model != "dstt":
        raise UsageError(f"whatif compares the built-in DSTT network's attention backends, not --model {runs[0].model}")
    frames = [r.frames for r in runs]
    base = runs[0]
    matmul, sdpa = sweep_pair(base, frames)
    at = frames.index(max(frames))
    grow = growth(matmul, sdpa) if len(frames) >= 3 else None
    print(render(compare(matmul.runs[at], sdpa.runs[at]), grow))
    return 0


def training_command(argv: Sequence[str]) -> int:
    """The training step's tensor peak split into gradients, saved activations and temporaries."""
    from dstt_profile.analysis.training import render, training_split

    p = analysis_parser(
        "training",
        "One training step (forward + backward, fake tensors): its tensor peak split into gradients, "
        "activations saved for backward and temporaries, with parameters and Adam's state beside it.",
    )
    runs = analysis_runs("training", p, argv)  # always the training step: --mode is train whatever is given
    lines = [render(training_split(run.replace(mode="train")), run.replace(mode="train")) for run in runs]
    print("\n\n".join(lines))
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
