"""The one way a `RunConfig` is made, whichever edge its options came from: the command line (every
subcommand, cli/options.py), the Python API (api.run_config) or a budgets file (budgets_file.py).

Each edge reads its own syntax (text, Python values, TOML) into values; from there every run is
built here by the same steps: the frame size read by the one HxW reader (`parse_res`: text or a
pair), DSTT's size shorthands merged into the model arguments and refused for a model that is not
DSTT-shaped, the run validated, then checked against its model's profile with its arguments stated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import normalised, refuse_shorthands
from dstt_profile.records.runconfig import ArgValue, RunConfig, model_args_of, parse_res


def build_run(
    frames: Any,
    res: Any = "240x432",
    *,
    option: str = "res",
    shorthands: Mapping[str, ArgValue] | None = None,
    **fields: Any,
) -> RunConfig:
    """A validated, normalised RunConfig. `res` is 'HxW' or (H, W) (named `option` in a message);
    `shorthands` are DSTT's size options as given (--heads, ...), merged into `model_args`; `fields`
    are RunConfig's other fields."""
    height, width = parse_res(res, option)
    given = dict(shorthands or {})
    args = dict(model_args_of(fields.pop("model_args", ())))
    try:
        run = RunConfig(frames=frames, height=height, width=width, model_args=model_args_of({**args, **given}), **fields)
    except TypeError as exc:  # a field RunConfig does not have
        raise UsageError(str(exc)) from None
    refuse_shorthands(run.replace(model_args=args), given)
    return normalised(run)
