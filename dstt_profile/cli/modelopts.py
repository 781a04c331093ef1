"""The model options of the main job and `fit`: what is profiled and with which arguments.

`--model dstt | FILE.py:NAME | package.module:NAME`, `--model-arg NAME=VALUE` (repeatable),
`--model-path DIR` (repeatable), `--stages FILE.toml`; and DSTT's size options `--heads --zones
--blocks --hidden --channel --attention`, shorthands for `--model-arg` that a model which is not
DSTT-shaped refuses.
"""

from __future__ import annotations

import argparse
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import DEFAULT_MODEL, ArgValue
from dstt_profile.values import positive

SIZE_SHORTHANDS = ("heads", "zones", "blocks", "hidden", "channel")


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="what to profile: dstt (the built-in network, default), FILE.py:NAME or package.module:NAME "
        "(a class or factory returning a torch.nn.Module; docs/models.md)",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an argument of the model's class or factory (repeatable; VALUE read as int, float, true/false, else text)",
    )
    p.add_argument(
        "--model-path",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory to import the model's own modules from (repeatable)",
    )
    p.add_argument("--stages", default=None, metavar="FILE.toml", help="stage map: module-name patterns -> stage names")


def model_fields(args: argparse.Namespace, attention: str | None) -> tuple[dict[str, Any], dict[str, ArgValue]]:
    """RunConfig's model fields from the options (their `model_args`: the --model-arg values), and
    DSTT's shorthands as given (--heads, ..., and `attention`), for runs.build_run to merge and check."""
    from dstt_profile.profiles.loader import parse_arg

    given: dict[str, ArgValue] = {}
    for name in SIZE_SHORTHANDS:
        text = getattr(args, name, None)
        if text is not None:
            given[name] = positive(text, f"--{name}")
    if attention is not None:
        given["attention"] = attention
    extra: dict[str, ArgValue] = {}
    for text in args.model_arg:
        name, value = parse_arg(text)
        if name in extra:
            raise UsageError(f"--model-arg {name}= is given twice")
        if name in given:
            raise UsageError(f"--model-arg {name}= and --{name} both set {name!r}: give one")
        extra[name] = value
    fields: dict[str, Any] = dict(
        model=args.model,
        model_args=extra,
        model_path=tuple(args.model_path),
        stages=args.stages,
    )
    return fields, given
