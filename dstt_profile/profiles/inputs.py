"""`--inputs FILE.py:function` (or `package.module:function`, or a callable in the API): what a model's forward
is called with beside or instead of the clip (docs/models.md, "Forward arguments"). The function is called as
`function(batch=, frames=, height=, width=, dtype=, device=)` and returns the forward's arguments: a tuple
(positional), a dict (keywords) or a `(tuple, dict)` pair; a lone tensor is one positional argument."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from dstt_profile.engine.contain import UserExit
from dstt_profile.engine.subject import ForwardInputs, InputSpec
from dstt_profile.errors import UsageError
from dstt_profile.profiles import loader, references
from dstt_profile.profiles.imports import running
from dstt_profile.records.runconfig import RunConfig

InputsFunction = Callable[..., Any]
OPTION = "--inputs"

_IN_PROCESS: dict[str, InputsFunction] = {}


def register_inputs(function: InputsFunction) -> str:
    """A reference for an inputs function object given to the API (`inputs=make`)."""
    if not callable(function):
        raise UsageError(f"inputs must be 'FILE.py:function', 'package.module:function' or a callable, got {function!r}",
                         "inputs")
    return references.register(_IN_PROCESS, function)


def forward_inputs(reference: str, value: Any) -> ForwardInputs:
    """The forward's arguments from what an inputs function returned (UsageError naming it where they are not)."""
    if isinstance(value, torch.Tensor):
        return ForwardInputs((value,))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], tuple) and isinstance(value[1], Mapping):
        return ForwardInputs(value[0], _keywords(reference, value[1]))
    if isinstance(value, tuple):
        return ForwardInputs(value)
    if isinstance(value, Mapping):
        return ForwardInputs((), _keywords(reference, value))
    raise UsageError(f"{OPTION} {reference}: it returned {type(value).__name__}; return the forward's arguments as a tuple "
                     "(positional), a dict (keywords) or a (tuple, dict) pair")


def _keywords(reference: str, value: Mapping[Any, Any]) -> dict[str, Any]:
    if bad := next((k for k in value if not isinstance(k, str) or not k.isidentifier()), None):
        raise UsageError(f"{OPTION} {reference}: the keyword {bad!r} it returned is not an argument name")
    return dict(value)


def maker(run: RunConfig) -> Callable[[InputSpec], ForwardInputs]:
    """The `Subject.inputs` of `run` (which names an inputs function): each call runs the function as user code."""
    reference = run.inputs
    assert reference is not None
    if reference in _IN_PROCESS:
        function, imports = _IN_PROCESS[reference], None
    else:
        function, imports = loader.load_function(reference, run.model_path, OPTION)

    def make(spec: InputSpec) -> ForwardInputs:
        given = {"batch": spec.batch, "frames": spec.frames, "height": spec.height, "width": spec.width,
                 "dtype": spec.dtype, "device": torch.device(spec.device)}
        shown = f"batch={spec.batch}, frames={spec.frames}, height={spec.height}, width={spec.width}, dtype={spec.dtype}"
        try:
            with running(imports):
                value = function(**given)
        except UserExit as exc:
            raise UsageError(f"{OPTION} {reference}: calling it ({shown}) {exc}") from None
        except Exception as exc:
            raise UsageError(f"{OPTION} {reference}: calling it ({shown}) raised {type(exc).__name__}: {exc}") from None
        return forward_inputs(reference, value)

    return make
