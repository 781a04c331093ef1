"""Tracing with the inputs' real values where they decide shapes (docs/memory.md, "Data-dependent shapes"): the
forward's inputs are real, the weights fake. An op whose tensors are all real (a mask pooled, compared, its
`nonzero()` windows) runs for real; any op that touches a fake tensor (the weights, or anything computed from
them) runs fake, its real arguments converted. The clip's values never decide a shape in a network that keeps
its data-dependent choices to the masks, so such a network is traced exactly at the cost of its mask ops."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensor,
    FakeTensorMode,
    unset_fake_temporarily,
)
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map_only

from dstt_profile.engine.hooks import tensors

DATA_DEPENDENT = (DynamicOutputShapeException, DataDependentOutputException)

# Subjects (Subject.key, device) whose fake trace met a data-dependent op: traced mixed from then on.
_NEEDS_VALUES: set[tuple[Hashable, str]] = set()


def data_dependent(exc: BaseException) -> BaseException | None:
    """The data-dependent-shape error in `exc`'s chain (fake tensors cannot say what it returns), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DATA_DEPENDENT):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def op_of(exc: BaseException) -> str:
    """'aten.nonzero' for a data-dependent-shape error (its `func`), else the error's type."""
    func = getattr(exc, "func", None)
    return str(func).removesuffix(".default") if func is not None else type(exc).__name__


def needs_values(key: Hashable, device: str) -> bool:
    return (key, device) in _NEEDS_VALUES


def remember(key: Hashable, device: str) -> None:
    _NEEDS_VALUES.add((key, device))


class RealWhereReal(TorchDispatchMode):
    """Ops on real tensors alone run for real; ops touching a fake tensor run under `fake`, real arguments
    converted (the converter keeps one fake per real tensor, views sharing their base's storage)."""

    def __init__(self, fake: FakeTensorMode) -> None:
        super().__init__()
        self.fake = fake

    def _as_fake(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor if isinstance(tensor, FakeTensor) else self.fake.from_tensor(tensor)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if any(isinstance(t, FakeTensor) for t in tensors((args, kwargs))):
            args, kwargs = tree_map_only(torch.Tensor, self._as_fake, (args, kwargs))
            return func(*args, **kwargs)
        with unset_fake_temporarily():
            return func(*args, **kwargs)
