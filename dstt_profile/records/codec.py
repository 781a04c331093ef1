"""A JSON codec for frozen dataclass records, driven by their type hints alone (ints within 64 bits, floats
finite, fields without a default present, no key unknown); a broken rule is a `SchemaError` naming where."""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from dstt_profile.errors import SchemaError

T = TypeVar("T")

INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = (int, float, str, bool, type(None))


def to_jsonable(obj: Any) -> Any:
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


hints_of: Callable[[type], dict[str, Any]] = functools.cache(typing.get_type_hints)


def describe(value: Any) -> str:
    """A short account of a JSON value for a message: NaN, Infinity, a 401-digit integer, 'lots', a list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else f"a {value.bit_length()}-bit integer"
    if isinstance(value, str):
        return repr(value) if len(value) <= 30 else repr(value[:27]) + "..."
    if value is None:
        return "null"
    return "an object" if isinstance(value, dict) else "a list" if isinstance(value, (list, tuple)) else type(value).__name__


def _fail(where: str, expected: str, value: Any) -> SchemaError:
    return SchemaError(where, f"expected {expected}, got {describe(value)}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, "a whole number", value)
    if not INT_MIN <= value <= INT_MAX:
        raise _fail(where, "a whole number within 64 bits", value)
    return value


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, "a number", value)
    if not (INT_MIN <= value <= INT_MAX if isinstance(value, int) else math.isfinite(value)):
        raise _fail(where, "a finite number", value)
    return float(value)


def _union(tp: Any, value: Any, where: str) -> Any:
    args = typing.get_args(tp)
    if value is None:
        if type(None) in args:
            return None
        raise _fail(where, "a value", value)
    options = [a for a in args if a is not type(None)]
    problem: SchemaError | None = None
    for option in options:
        try:
            return _decode(option, value, where)
        except SchemaError as exc:
            problem = problem or exc
    assert problem is not None
    raise problem


def _decode(tp: Any, value: Any, where: str) -> Any:
    if tp is Any:
        return value
    if tp is int:
        return _int(value, where)
    if tp is float:
        return _float(value, where)
    if tp is str or tp is bool or tp is type(None):
        if type(value) is not tp:
            raise _fail(where, {str: "a string", bool: "true or false"}.get(tp, "null"), value)
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(where, "a list", value)
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise SchemaError(where, f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        _, vt = typing.get_args(tp)
        return {_key(k, where): _decode(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise _fail(where, " or ".join(map(repr, typing.get_args(tp))), value)
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_jsonable(tp, value, where)
    raise SchemaError(where, f"the record type {tp!r} has no decoder")


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise _fail(where, "string keys", key)
    return key


def from_jsonable(cls: type[T], data: Any, where: str = "", required: Collection[str] = ()) -> T:
    """JSON values back to the record type `cls`; `required`: fields that must be present despite a default."""
    name = where or cls.__name__
    if isinstance(data, cls):  # decoded already (a run's configuration, checked by its own rules first)
        return data
    if not isinstance(data, dict):
        raise _fail(name, "an object", data)
    hints = hints_of(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise SchemaError(name, f"unknown field {describe(unknown[0])}")
    kwargs: dict[str, Any] = {}
    for field in fields.values():
        at = f"{where}.{field.name}" if where else field.name
        if field.name in data:
            kwargs[field.name] = _decode(hints[field.name], data[field.name], at)
        elif field.name in required or (field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING):
            raise SchemaError(at, "missing")
    return cls(**kwargs)
