"""DSTT's own subcommands, registered by its profile: `whatif` and `seed`."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.cli.options import UsageParser, analysis_runs
from dstt_profile.errors import UsageError
from dstt_profile.records.laws import MemoryView
from dstt_profile.records.runconfig import RunConfig

COMMANDS = {"whatif": f"{__name__}:whatif_command", "seed": f"{__name__}:seed_command"}


def whatif_command(argv: Sequence[str]) -> int:
    """matmul against sdpa attention at the largest t asked for; with 3+ values of t, how each peak grows."""
    from dstt_profile.analysis.laws import peak_laws
    from dstt_profile.analysis.report import scaling_series
    from dstt_profile.api import profile_many
    from dstt_profile.profiles.dstt.whatif import BACKENDS, compare, render

    runs = analysis_runs("whatif", "The attention what-if: the matmul backend (t^2 matrix materialised) "
                         "against sdpa (fused kernel). With several t (e.g. --frames 24:27), the growth of "
                         "each backend's peak as exact fits.", argv, fixed=("attention",))
    if runs[0].model != "dstt":
        raise UsageError(f"whatif compares the built-in DSTT network's attention backends, not --model {runs[0].model}")
    matmul, sdpa = (profile_many([r.with_args(attention=a) for r in runs], keep_ops=False).runs for a in BACKENDS)
    view, at = MemoryView(runs[0].memory), max(range(len(runs)), key=lambda i: runs[i].frames)
    growth = tuple(peak_laws(scaling_series(r, ""), view) for r in (matmul, sdpa)) if len(runs) >= 3 else None
    print(render(compare(matmul[at], sdpa[at]), growth))  # type: ignore[arg-type]
    return 0


def seed_command(argv: Sequence[str]) -> int:
    """The seed analysis table at t = 14, 240x432, every element count checked against a trace."""
    from dstt_profile.api import profile_run
    from dstt_profile.profiles.dstt.seed import SEED_FRAMES, render, seed_rows

    UsageParser("seed", description="The seed analysis (docs/architecture.md) at t = 14, 240x432: each "
                "tensor's formula, elements and bytes at int8, fp16 and fp32, and each of the seed's size "
                "notes against the exact figure.").parse_args(list(argv))
    print(render(seed_rows(measured=profile_run(RunConfig(frames=SEED_FRAMES), keep_ops=False))))
    print(f"(every element count above equals a fake-tensor trace at t = {SEED_FRAMES})")
    return 0
