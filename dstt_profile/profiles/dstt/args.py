"""DSTT's model arguments: their defaults, their rules, and the `DSTTConfig` they describe.

The command line's `--heads --zones --blocks --hidden --channel --attention` are shorthands for
`--model-arg` with these names. Every rule is `model/config.py`'s, checked before any work.
"""

from __future__ import annotations

from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import ArgValue, RunConfig
from model.config import ATTENTION_BACKENDS, DSTTConfig, first_problem

DEFAULTS: dict[str, ArgValue] = {
    "attention": "matmul",
    "heads": 4,
    "zones": 2,
    "blocks": 8,
    "hidden": 512,
    "channel": 256,
}
WHOLE = ("heads", "zones", "blocks", "hidden", "channel")
SHORTHANDS = tuple(DEFAULTS)  # command-line options that set these arguments


def full_args(run: RunConfig) -> dict[str, ArgValue]:
    """`run`'s arguments with DSTT's defaults filled in, each checked (UsageError naming the rule)."""
    given = run.args
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise UsageError(
            f"model argument {unknown[0]!r} is not one of DSTT's: {', '.join(sorted(DEFAULTS))}"
        )
    args = {**DEFAULTS, **given}
    for name in WHOLE:
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    if args["attention"] not in ATTENTION_BACKENDS:
        raise UsageError(f"attention {args['attention']!r} is not one of {', '.join(ATTENTION_BACKENDS)}")
    problem = first_problem(_unchecked(run, args))
    if problem is not None:
        raise UsageError(problem)
    return args


def _unchecked(run: RunConfig, args: dict[str, Any]) -> DSTTConfig:
    cfg = object.__new__(DSTTConfig)
    for name, value in DSTTConfig.__dataclass_fields__.items():
        object.__setattr__(cfg, name, value.default)
    object.__setattr__(cfg, "height", run.height)
    object.__setattr__(cfg, "width", run.width)
    for name in DEFAULTS:
        object.__setattr__(cfg, name, args[name])
    return cfg


def config_of(run: RunConfig) -> DSTTConfig:
    """The network `run` describes (its arguments, at its frame size)."""
    args = full_args(run)
    return DSTTConfig(height=run.height, width=run.width, **args)  # type: ignore[arg-type]


def dstt_run(**fields: Any) -> RunConfig:
    """A RunConfig of the built-in network from keywords, DSTT's arguments among them
    (`dstt_run(frames=14, attention="sdpa", heads=8)`), with every argument stated."""
    args = {name: fields.pop(name) for name in list(fields) if name in DEFAULTS}
    run = RunConfig(**fields)
    run = run.replace(model_args={**run.args, **args})
    return run.replace(model_args=full_args(run))
