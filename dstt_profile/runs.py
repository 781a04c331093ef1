"""The one way a `RunConfig` is made, from the command line, the API or a budgets file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import normalised, refuse_shorthands
from dstt_profile.records.runconfig import ArgValue, RunConfig, model_args_of, parse_res


def build_run(frames: Any, res: Any = "240x432", *, option: str = "res", shorthands: Mapping[str, ArgValue] | None = None,
              **fields: Any) -> RunConfig:
    """A validated, normalised RunConfig; `res` 'HxW' or (H, W) (named `option`); `shorthands` DSTT's
    (profiles/dstt/args.SHORTHANDS), refused for a model that is not DSTT-shaped."""
    height, width = parse_res(res, option)
    given = dict(shorthands or {})
    args = dict(model_args_of(fields.pop("model_args", ())))
    if twice := sorted(set(given) & set(args)):
        raise UsageError(f"{twice[0]!r} is set both by its own option and in the model arguments: give one",
                         f"model_args.{twice[0]}")
    try:
        run = RunConfig(frames=frames, height=height, width=width, model_args=model_args_of({**args, **given}), **fields)
    except TypeError as exc:  # a field RunConfig does not have
        raise UsageError(str(exc)) from None
    refuse_shorthands(run.replace(model_args=args), given)
    return normalised(run)
