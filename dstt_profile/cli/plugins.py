"""Commands and writers named as "module:function", imported only when used."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load(target: str) -> Callable[..., Any] | None:
    """The function `target` names; None where its module is not installed."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    found: Callable[..., Any] | None = getattr(module, attr, None)
    return found
