"""`--checkpoint FILE`: check that a real checkpoint matches the configuration being profiled."""

from __future__ import annotations

from dstt_profile.errors import UsageError
from dstt_profile.profiles.dstt.args import config_of
from dstt_profile.records.runconfig import RunConfig


def check_checkpoint(path: str, run: RunConfig, option: str = "--checkpoint") -> str:
    """One line saying that the checkpoint at `path` loads strictly into `run`'s network; a
    UsageError with model.load_checkpoint's one-line reason where it does not."""
    from model.dstt import CheckpointError, load_checkpoint

    if not path:
        raise UsageError(f"{option}: the path is empty")
    if run.model != "dstt":
        raise UsageError(f"{option} checks a checkpoint against the built-in DSTT network, not --model {run.model}")
    try:
        model = load_checkpoint(path, config_of(run))
    except CheckpointError as exc:
        raise UsageError(f"{option} {exc}") from None
    tensors = len(model.state_dict())
    params = sum(p.numel() for p in model.parameters())
    cfg = config_of(run)
    return (
        f"checkpoint   {path}: matches (hidden {cfg.hidden}, channel {cfg.channel}, blocks {cfg.blocks}, "
        f"heads {cfg.heads}; {tensors} tensors, {params:,} parameters, loaded strictly)"
    )
