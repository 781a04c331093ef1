"""The one way a `RunConfig` is built from what a user gave: command-line text, API arguments or a
budgets file's values.

Every edge hands over the same options (`RUN_OPTIONS`) by name, with its own way of naming them in
messages (`--batch` on the command line, `batch` in the API and in a budgets file). Whole numbers may
be text of ASCII digits or ints; the frame size is 'HxW' text or a pair (`parse_res`); everything else
is checked by RunConfig itself. A problem is a `FieldError`: one line, and the option it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.numbers import INT64_MAX, positive
from dstt_profile.records.runconfig import (
    DEVICES,
    DTYPES,
    MAX_FRAMES,
    MEMORY_VIEWS,
    MODES,
    OPTIMIZERS,
    RunConfig,
    parse_res,
)
from model.config import ATTENTION_BACKENDS

# What a run is made of, as every edge names it. `res` stands for RunConfig's height and width.
RUN_OPTIONS = (
    "frames", "res", "batch", "dtype", "device", "attention", "mode", "heads", "zones", "hidden", "channel",
    "blocks", "memory", "optimizer",
)
WHOLE_OPTIONS = ("frames", "batch", "heads", "zones", "hidden", "channel", "blocks")
# The options that take one of a few names, and those names.
CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": tuple(DTYPES),
    "device": DEVICES,
    "attention": ATTENTION_BACKENDS,
    "mode": MODES,
    "memory": MEMORY_VIEWS,
    "optimizer": OPTIMIZERS,
}
API_ONLY = ("real",)  # real tensors: the Python API's alone (the command line has --measure)
_SIDES = ("height", "width")


class FieldError(UsageError):
    """A value a run cannot have; `option` names the option it came from (one of RUN_OPTIONS)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def highest(name: str) -> int:
    """The largest value whole-number option `name` may take."""
    return MAX_FRAMES if name == "frames" else INT64_MAX


def _whole(name: str, value: Any, label: str) -> Any:
    """Text or an int as a whole number of at least 1 (at most MAX_FRAMES for frames); any other
    value is left for RunConfig to refuse in its own words."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return positive(value, label, highest(name))
    return value


def _option_of(message: str) -> str:
    """The option a RunConfig message is about: its first word (height and width are `res`'s)."""
    first = message.split(" ", 1)[0]
    if first in _SIDES:
        return "res"
    return first if first in RUN_OPTIONS else "res"


def build_run(values: Mapping[str, Any], label: Callable[[str], str] = str) -> RunConfig:
    """A validated RunConfig from `values` (option name -> value; those left out take RunConfig's
    defaults). `label(name)` is how the option is named in a message: `--batch`, `batch`."""
    unknown = sorted(set(values) - {*RUN_OPTIONS, *API_ONLY})
    if unknown:
        raise FieldError(unknown[0], f"unknown option {unknown[0]!r} (known: {', '.join((*RUN_OPTIONS, *API_ONLY))})")
    fields: dict[str, Any] = {}
    for name, value in values.items():
        try:
            if name == "res":
                fields["height"], fields["width"] = parse_res(value, label(name))
            elif name in WHOLE_OPTIONS:
                fields[name] = _whole(name, value, label(name))
            else:
                fields[name] = value
        except UsageError as exc:
            raise FieldError(name, str(exc)) from None
    try:
        return RunConfig(**fields)
    except UsageError as exc:
        raise FieldError(_option_of(str(exc)), str(exc)) from None
