"""Calling a user's model factory (`call`), and a Subject's `build` for it (`Builder`): on the meta device where
it can be built there, else for real on the CPU and moved to it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import unset_fake_temporarily

from dstt_profile.engine.contain import UserExit
from dstt_profile.errors import UsageError
from dstt_profile.profiles.imports import UserImports, running
from dstt_profile.records.runconfig import ArgValue

Factory = Callable[..., nn.Module]


class CallError(UsageError):
    """A factory that failed: `raised` is the exception it raised (None where it exited or returned no module)."""

    def __init__(self, message: str, raised: Exception | None) -> None:
        super().__init__(message)
        self.raised = raised


def call(reference: str, factory: Factory, args: dict[str, ArgValue], imports: UserImports | None) -> nn.Module:
    """`factory(**args)`, checked: one line naming the reference where it raises or returns no module."""
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    try:
        with running(imports):
            module: Any = factory(**args)
    except UserExit as exc:
        raise CallError(f"--model {reference}: calling it ({shown}) {exc}", None) from None
    except Exception as exc:
        raise CallError(f"--model {reference}: calling it ({shown}) raised {type(exc).__name__}: {exc}", exc) from None
    if not isinstance(module, nn.Module):
        raise CallError(f"--model {reference}: calling it ({shown}) returned {type(module).__name__}, not a torch.nn.Module", None)
    return module


# Where an error message names the op that failed: torch.nonzero(), aten::_unique2, Tensor.item()
_OP_NAMED = (re.compile(r"\btorch\.(\w+)\(\)"), re.compile(r"\baten::(\w+)"), re.compile(r"\bTensor\.(\w+)\(\)"))


def _what_failed(exc: Exception) -> str:
    """'NotImplementedError in nonzero' where the message names an op, else the type and the message's first line."""
    text = str(exc)
    if op := next((m.group(1) for pattern in _OP_NAMED if (m := pattern.search(text))), None):
        return f"{type(exc).__name__} in {op}"
    first = text.strip().partition("\n")[0]
    if not first:
        return type(exc).__name__
    return f"{type(exc).__name__}: {first if len(first) <= 80 else first[:77] + '...'}"


class Builder:
    """A Subject's `build(real)` for a factory (engine/subject.py): `real`, one built on the CPU. Otherwise one
    built under `torch.device("meta")`, where weights cost nothing; where that raises (an op in the model's
    `__init__` whose result needs values, such as `nonzero`, has no meta kernel) the model is built for real
    on the CPU and moved to the meta device, `meta_failure` says why, and later builds go to the CPU at once."""

    def __init__(self, reference: str, factory: Factory, args: dict[str, ArgValue], imports: UserImports | None) -> None:
        self.reference, self.factory, self.args, self.imports = reference, factory, args, imports
        self.meta_failure = ""  # 'NotImplementedError in nonzero': why building on the meta device failed
        self._spare: nn.Module | None = None

    def __call__(self, real: bool = False) -> nn.Module:
        if real:
            return call(self.reference, self.factory, self.args, self.imports)
        if self._spare is not None:
            spare, self._spare = self._spare, None
            return spare
        if not self.meta_failure:
            try:
                return call(self.reference, self.factory, self.args, self.imports)
            except CallError as exc:
                if exc.raised is None:
                    raise
                self.meta_failure = _what_failed(exc.raised)
        # for real: no fake tensors (a fake trace builds inside its FakeTensorMode), nor the tool's random state used
        with unset_fake_temporarily(), torch.random.fork_rng(devices=[]):
            with torch.device("cpu"):
                module = call(self.reference, self.factory, self.args, self.imports)
            try:
                return module.to("meta")
            except Exception as exc:
                raise UsageError(f"--model {self.reference}: moving it to the meta device raised "
                                 f"{type(exc).__name__}: {exc}") from None

    def spare(self, module: nn.Module) -> None:
        """`module`, a meta build of this factory its caller has done with, for the next meta build to return
        where that would build on the CPU: one real build per model, however many times it is asked for."""
        if self.meta_failure:
            self._spare = module
