"""A JSON codec for frozen dataclass records, driven by their type hints.

Handles what records are made of: int, float, str, bool, None, `X | None`, `tuple[X, ...]`,
`dict[str, X]` and nested dataclasses. Unknown keys in input are ignored (the schema may grow).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = (int, float, str, bool, type(None))


def to_jsonable(obj: Any) -> Any:
    """Records to plain JSON values (dicts, lists, numbers, strings)."""
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        return {name: to_jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _decode(options[0], value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value))
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {str(k): _decode(vt, v) for k, v in value.items()}
    if origin is typing.Literal:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_jsonable(tp, value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_jsonable(cls: type[T], data: dict[str, Any]) -> T:
    """Plain JSON values back to the record type `cls`."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in data:
            kwargs[field.name] = _decode(hints[field.name], data[field.name])
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"{cls.__name__}: missing field {field.name!r}")
    return cls(**kwargs)
