"""DSTT's model arguments: defaults, rules, the `DSTTConfig` they describe, and their `SHORTHANDS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import ArgValue, RunConfig
from dstt_profile.values import INT64_MAX, positive
from model.config import ATTENTION_BACKENDS, DSTTConfig, first_problem

DEFAULTS: dict[str, ArgValue] = {"attention": "matmul", "heads": 4, "zones": 2, "blocks": 8, "hidden": 512, "channel": 256}
WHOLE = ("heads", "zones", "blocks", "hidden", "channel")


@dataclass(frozen=True)
class Shorthand:
    """An option (--NAME; key NAME in a budgets file) setting model argument NAME, read by `parse`."""

    name: str
    help: str
    parse: Callable[[str, str], ArgValue] = positive


SHORTHANDS: tuple[Shorthand, ...] = (
    Shorthand("attention", "DSTT's attention backend: matmul (default) or sdpa", lambda text, _option: text),
    Shorthand("heads", "DSTT's attention heads k (default 4)"),
    Shorthand("zones", "DSTT's zones per side s in temporal blocks (default 2)"),
    Shorthand("hidden", "DSTT's token width d (default 512)"),
    Shorthand("channel", "DSTT's encoder channels c (default 256)"),
    Shorthand("blocks", "DSTT's transformer blocks L (default 8)"),
)
SHORTHAND_NAMES = tuple(s.name for s in SHORTHANDS)


def full_args(run: RunConfig) -> dict[str, ArgValue]:
    """`run`'s arguments with DSTT's defaults filled in, each checked (UsageError naming the rule and
    its field: "res" for the frame size, "model_args.NAME" for an argument)."""
    if unknown := sorted(set(run.args) - set(DEFAULTS)):
        raise UsageError(f"model argument {unknown[0]!r} is not one of DSTT's: {', '.join(sorted(DEFAULTS))}",
                         f"model_args.{unknown[0]}")
    args = {**DEFAULTS, **run.args}
    for name in WHOLE:
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT64_MAX:
            raise UsageError(f"{name} must be a positive integer, got {value!r}", f"model_args.{name}")
    if args["attention"] not in ATTENTION_BACKENDS:
        raise UsageError(f"attention {args['attention']!r} is not one of {', '.join(ATTENTION_BACKENDS)}",
                         "model_args.attention")
    if (problem := first_problem(_unchecked(run, args))) is not None:
        word = problem.partition(" ")[0]
        raise UsageError(problem, "res" if word in ("height", "width") else f"model_args.{word}" if word in DEFAULTS else "model_args")
    return args


def _unchecked(run: RunConfig, args: dict[str, Any]) -> DSTTConfig:
    """A DSTTConfig of these sizes, not validated (first_problem says what is wrong with it)."""
    cfg = object.__new__(DSTTConfig)
    for name, value in {**{n: f.default for n, f in DSTTConfig.__dataclass_fields__.items()}, "height": run.height,
                        "width": run.width, **args}.items():
        object.__setattr__(cfg, name, value)
    return cfg


def config_of(run: RunConfig) -> DSTTConfig:
    """The network `run` describes (its arguments, at its frame size)."""
    return DSTTConfig(height=run.height, width=run.width, **full_args(run))  # type: ignore[arg-type]
