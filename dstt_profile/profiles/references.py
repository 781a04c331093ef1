"""References for Python objects given to the API (a model factory, an inputs function): `python:module.name`,
`#2`, `#3`, ... where another object of the same name was given before in this process."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def register(table: dict[str, T], value: T) -> str:
    """The reference `value` is known by in `table`, entered there the first time it is given."""
    base = f"python:{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
    name, n = base, 1
    while name in table and table[name] is not value:
        n += 1
        name = f"{base}#{n}"
    table[name] = value
    return name
