"""Loading a user's model, `path/to/file.py:Name` or `package.module:name` (docs/models.md), as user
code (engine/contain.py) with its own imports (`UserImports`); every failure one UsageError."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import re
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from dstt_profile.engine.contain import UserExit
from dstt_profile.errors import UsageError
from dstt_profile.profiles.builder import Factory
from dstt_profile.profiles.imports import UserImports, running
from dstt_profile.profiles.packagefile import file_package
from dstt_profile.records.runconfig import ArgValue

_INT = re.compile(r"[+-]?[0-9]+")


def parse_arg(text: str, option: str = "--model-arg") -> tuple[str, ArgValue]:
    """'heads=8' -> ('heads', 8): an int for ASCII digits with an optional sign, a float for what `float`
    reads in ASCII without underscores, true/false, else the text itself ('1_0', other digits)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"{option} {text!r} is not NAME=VALUE")
    name, raw = name.strip(), raw.strip()
    if _INT.fullmatch(raw):
        return name, int(raw)
    with contextlib.suppress(ValueError):
        if raw.isascii() and "_" not in raw:
            return name, float(raw)
    return name, {"true": True, "false": False}.get(raw.lower(), raw)

def _holder(name: str, path: Path | None) -> Path | None:
    """A directory up to three above the model file's own that holds the top-level module `name`, if one does."""
    if path is None or "." in name:
        return None
    return next((d for d in list(path.resolve().parents)[1:4] if (d / name).is_dir() or (d / f"{name}.py").is_file()), None)


def _import_failure(reference: str, exc: BaseException, path: Path | None = None, option: str = "--model") -> UsageError:
    if isinstance(exc, UserExit):
        return UsageError(f"{option} {reference}: its import {exc}")
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        found = _holder(exc.name, path)
        return UsageError(f"{option} {reference}: importing it needs the module {exc.name!r}, which is not importable; "
                          f"add the directory that holds {exc.name.split('.')[0]!r} with --model-path DIR"
                          + (f" ({found} holds one)" if found else ""))
    return UsageError(f"{option} {reference}: importing it failed: {type(exc).__name__}: {exc}")


def _import(reference: str, target: str, path: Path | None, imports: UserImports, option: str = "--model") -> types.ModuleType:
    """Module `target`, or the file `path` under a module name of its own (another root: another module)."""
    if path is not None:
        where = "\n".join([str(path.resolve()), *map(str, imports.roots)])
        stem = "".join(c if c.isalnum() else "_" for c in path.stem)
        name = f"dstt_profile_user_{hashlib.sha256(where.encode()).hexdigest()[:12]}_{stem}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{option} {reference}: {path} cannot be loaded as Python")
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        execute = spec.loader.exec_module
    try:
        with running(imports):
            if path is None:
                module = importlib.import_module(target)
            else:
                execute(module)
    except Exception as exc:
        if path is not None:
            del sys.modules[name]
        raise _import_failure(reference, exc, path, option) from None
    return module

def _import_package_file(reference: str, path: Path, name: str, imports: UserImports,
                         option: str = "--model") -> types.ModuleType:
    """The file `path`, imported as the module `name` of its package (so its relative imports work)."""
    try:
        with running(imports):
            module = importlib.import_module(name)
    except Exception as exc:
        raise _import_failure(reference, exc, path, option) from None
    origin = getattr(module, "__file__", None)
    if origin is None or Path(origin).resolve() != path.resolve():
        raise UsageError(f"{option} {reference}: importing it as {name} from {imports.roots[0]} found "
                         f"{origin or 'a module without a file'} instead")
    return module


def _source_file(reference: str, target: str, attr: str, option: str = "--model") -> Path | None:
    """The .py file `target` names, or None where it is a module name; UsageError with the forms
    `--model` takes where it names a directory, a file that is not Python source, or nothing."""
    path = Path(target)
    hint = f"give a source file as FILE.py:{attr}, or a module as package.module:{attr} with --model-path DIR"
    if target.endswith(".py"):
        if path.is_dir():
            raise UsageError(f"{option} {reference}: {target} is a directory, not a Python file; {hint}")
        if path.exists() and not path.is_file():
            raise UsageError(f"{option} {reference}: {target} is not a regular file; {hint}")
        if not path.is_file():
            raise UsageError(f"{option} {reference}: {target}: no such file")
        return path
    if all(part.isidentifier() for part in target.split(".")) and not path.is_file():  # package.module
        return None
    if path.is_dir():
        raise UsageError(f"{option} {reference}: {target} is a directory; give a source file in it as FILE.py:{attr}, "
                         f"or the directory with --model-path {target} and a module in it as module:{attr}")
    if path.exists():
        raise UsageError(f"{option} {reference}: {target} is not a Python source file (FILE.py); {hint}")
    raise UsageError(f"{option} {reference}: {target}: no such file, and not a module name; {hint}")


def load(reference: str, model_path: Sequence[str] = ()) -> tuple[Factory, UserImports]:
    """The factory a model reference names, and the imports it runs with."""
    found, imports = _load_attr(reference, model_path, "--model", " (or 'dstt')")
    where = _where(reference)
    if not _is_factory(found):
        raise UsageError(f"--model {reference}: {reference.rpartition(':')[2]!r} in {where} is a {type(found).__name__}, "
                         "not a torch.nn.Module class or a Python function that returns one")
    return found, imports


def load_function(reference: str, model_path: Sequence[str], option: str) -> tuple[Callable[..., Any], UserImports]:
    """The Python function a reference `FILE.py:name` or `package.module:name` given to `option` names."""
    found, imports = _load_attr(reference, model_path, option, "")
    if not isinstance(found, (types.FunctionType, functools.partial)):
        raise UsageError(f"{option} {reference}: {reference.rpartition(':')[2]!r} in {_where(reference)} is a "
                         f"{type(found).__name__}, not a Python function")
    return found, imports


def _where(reference: str) -> str:
    target = reference.rpartition(":")[0]
    return target if target.endswith(".py") else f"module {target}"


def _load_attr(reference: str, model_path: Sequence[str], option: str, also: str) -> tuple[Any, UserImports]:
    """What `reference` names in its file or module, callable, and the imports it runs with."""
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"{option} {reference!r} is not FILE.py:NAME or package.module:NAME{also}")
    roots = [Path(p) for p in model_path]
    if bad := next((root for root in roots if not root.is_dir()), None):
        raise UsageError(f"--model-path {bad}: not a directory")
    path = _source_file(reference, target, attr, option)
    if path is None:
        top = target.partition(".")[0]
        imports = UserImports(roots, program=target, packages={top})
        module = _import(reference, target, None, imports, option)
    elif (package := file_package(path, roots, target)) is not None:
        name, imports = package
        module = _import_package_file(reference, path, name, imports, option)
    else:
        imports = UserImports([path.resolve().parent, *roots], program=target)
        module = _import(reference, target, path, imports, option)
    found = getattr(module, attr, None)
    if found is None or not callable(found):
        raise UsageError(f"{option} {reference}: {_where(reference)} has no class or function {attr!r}")
    return found, imports

def _is_factory(value: object) -> bool:
    """A model factory as a reference may name one: an `nn.Module` subclass, or a function written in
    Python (never a builtin such as `os.system`, nor any other callable object a module happens to hold)."""
    if isinstance(value, type):
        return issubclass(value, nn.Module)
    if isinstance(value, functools.partial):
        return _is_factory(value.func)
    return isinstance(value, types.FunctionType)

