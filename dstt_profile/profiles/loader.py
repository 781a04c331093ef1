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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from dstt_profile.engine.contain import UserExit, user_code
from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import ArgValue

Factory = Callable[..., nn.Module]

# This project's top-level packages other than dstt_profile (pyproject's packages): a user's module of
# the same name is imported as theirs while their code runs, and ours is put back after.
OWN_PACKAGES = frozenset({"model"})

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


def _under(module: types.ModuleType, roots: Sequence[Path]) -> bool:
    origin = getattr(module, "__file__", None)
    paths = [Path(origin)] if origin else [Path(p) for p in getattr(module, "__path__", [])]
    return any(path.resolve().is_relative_to(root) for path in paths for root in roots)


class UserImports:
    """Import roots for a user's code, the top-level modules they provide imported from them while it runs and
    set aside after, so that ours of the same names neither shadow nor are shadowed by them."""

    def __init__(self, roots: Sequence[Path], program: str = "") -> None:
        self.roots = [root.resolve() for root in roots]
        self.program = program  # sys.argv[0] while the user's code runs: their file or module
        self.names = {e.stem if e.suffix == ".py" else e.name for root in self.roots if root.is_dir()
                      for e in root.iterdir() if e.suffix == ".py" or (e.is_dir() and e.name.isidentifier())}
        self.theirs: dict[str, types.ModuleType] = {}

    def swappable(self) -> set[str]:
        """The roots' top-level names that may be the user's now: one of OWN_PACKAGES, one not imported
        yet, or one imported from the roots; one the tool imported (torch, ...) is never unloaded."""
        return {top for top in self.names
                if top in OWN_PACKAGES or (loaded := sys.modules.get(top)) is None or _under(loaded, self.roots)}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The user's roots first on sys.path and their modules in sys.modules; ours back after."""
        names = self.swappable()
        ours = {n: m for n, m in sys.modules.items()
                if n.partition(".")[0] in names and not _under(m, self.roots)}
        for name in ours:
            del sys.modules[name]
        before = set(sys.modules)  # modules already here from these roots stay where they are
        sys.modules.update({n: m for n, m in self.theirs.items() if n.partition(".")[0] in names})
        saved_path = list(sys.path)
        sys.path[:0] = [str(root) for root in self.roots]
        importlib.invalidate_caches()
        try:
            yield
        finally:
            sys.path[:] = saved_path
            for name, mod in list(sys.modules.items()):
                if name not in before and name.partition(".")[0] in names and _under(mod, self.roots):
                    self.theirs[name] = mod
                    del sys.modules[name]
            sys.modules.update(ours)


@contextlib.contextmanager
def _running(imports: UserImports | None) -> Iterator[None]:
    active = imports.active() if imports is not None else contextlib.nullcontext()
    with user_code(imports.program if imports else ""), active:
        yield


def _import_failure(reference: str, exc: BaseException) -> UsageError:
    if isinstance(exc, UserExit):
        return UsageError(f"--model {reference}: its import {exc}")
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return UsageError(f"--model {reference}: importing it needs the module {exc.name!r}, which is not importable; "
                          f"add the directory that holds {exc.name.split('.')[0]!r} with --model-path DIR")
    return UsageError(f"--model {reference}: importing it failed: {type(exc).__name__}: {exc}")


def _import(reference: str, target: str, path: Path | None, imports: UserImports) -> types.ModuleType:
    """Module `target`, or the file `path` under a module name of its own (another root: another module)."""
    if path is not None:
        where = "\n".join([str(path.resolve()), *map(str, imports.roots)])
        stem = "".join(c if c.isalnum() else "_" for c in path.stem)
        name = f"dstt_profile_user_{hashlib.sha256(where.encode()).hexdigest()[:12]}_{stem}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"--model {reference}: {path} cannot be loaded as Python")
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        execute = spec.loader.exec_module
    try:
        with _running(imports):
            if path is None:
                module = importlib.import_module(target)
            else:
                execute(module)
    except Exception as exc:
        if path is not None:
            del sys.modules[name]
        raise _import_failure(reference, exc) from None
    return module


def _source_file(reference: str, target: str, attr: str) -> Path | None:
    """The .py file `target` names, or None where it is a module name; UsageError with the forms
    `--model` takes where it names a directory, a file that is not Python source, or nothing."""
    path = Path(target)
    hint = f"give a source file as FILE.py:{attr}, or a module as package.module:{attr} with --model-path DIR"
    if target.endswith(".py"):
        if path.is_dir():
            raise UsageError(f"--model {reference}: {target} is a directory, not a Python file; {hint}")
        if path.exists() and not path.is_file():
            raise UsageError(f"--model {reference}: {target} is not a regular file; {hint}")
        if not path.is_file():
            raise UsageError(f"--model {reference}: {target}: no such file")
        return path
    if all(part.isidentifier() for part in target.split(".")) and not path.is_file():  # package.module
        return None
    if path.is_dir():
        raise UsageError(f"--model {reference}: {target} is a directory; give a source file in it as FILE.py:{attr}, "
                         f"or the directory with --model-path {target} and a module in it as module:{attr}")
    if path.exists():
        raise UsageError(f"--model {reference}: {target} is not a Python source file (FILE.py); {hint}")
    raise UsageError(f"--model {reference}: {target}: no such file, and not a module name; {hint}")


def load(reference: str, model_path: Sequence[str] = ()) -> tuple[Factory, UserImports]:
    """The factory a model reference names, and the imports it runs with."""
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"--model {reference!r} is not FILE.py:NAME or package.module:NAME (or 'dstt')")
    roots = [Path(p) for p in model_path]
    if bad := next((root for root in roots if not root.is_dir()), None):
        raise UsageError(f"--model-path {bad}: not a directory")
    path = _source_file(reference, target, attr)
    imports = UserImports(roots if path is None else [path.resolve().parent, *roots], program=target)
    module = _import(reference, target, path, imports)
    factory, where = getattr(module, attr, None), target if target.endswith(".py") else f"module {target}"
    if factory is None or not callable(factory):
        raise UsageError(f"--model {reference}: {where} has no class or function {attr!r}")
    if not _is_factory(factory):
        raise UsageError(f"--model {reference}: {attr!r} in {where} is a {type(factory).__name__}, not a "
                         "torch.nn.Module class or a Python function that returns one")
    return factory, imports


def _is_factory(value: object) -> bool:
    """A model factory as a reference may name one: an `nn.Module` subclass, or a function written in
    Python (never a builtin such as `os.system`, nor any other callable object a module happens to hold)."""
    if isinstance(value, type):
        return issubclass(value, nn.Module)
    if isinstance(value, functools.partial):
        return _is_factory(value.func)
    return isinstance(value, types.FunctionType)


def call(reference: str, factory: Factory, args: dict[str, ArgValue], imports: UserImports | None) -> nn.Module:
    """`factory(**args)`, checked: one line naming the reference where it raises or returns no module."""
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    try:
        with _running(imports):
            module: Any = factory(**args)
    except UserExit as exc:
        raise UsageError(f"--model {reference}: calling it ({shown}) {exc}") from None
    except Exception as exc:
        raise UsageError(f"--model {reference}: calling it ({shown}) raised {type(exc).__name__}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise UsageError(f"--model {reference}: calling it ({shown}) returned {type(module).__name__}, not a torch.nn.Module")
    return module
