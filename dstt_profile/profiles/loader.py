"""Loading a user's model, `path/to/file.py:Name` or `package.module:name` (docs/models.md): a file
under a module name of its own, its directory and every `--model-path DIR` import roots while it loads
and while its factory runs (`UserImports`), both as user code (engine/contain.py). Every failure is one
line (UsageError) naming the model reference."""

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
    """'heads=8' -> ('heads', 8): the value as an int, else a float, else true/false, else text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"{option} {text!r} is not NAME=VALUE")
    return name.strip(), _typed(raw.strip())


def _typed(raw: str) -> ArgValue:
    """An int for ASCII digits with an optional sign, a float for what `float` reads in ASCII without
    underscores, true/false, else the text itself (other Unicode digits and '1_0' stay text)."""
    if _INT.fullmatch(raw):
        return int(raw)
    with contextlib.suppress(ValueError):
        if raw.isascii() and "_" not in raw:
            return float(raw)
    return {"true": True, "false": False}.get(raw.lower(), raw)


def _provided(roots: Sequence[Path]) -> set[str]:
    """Top-level module names the import roots provide (a `name.py` or a `name/` directory)."""
    return {entry.stem if entry.suffix == ".py" else entry.name for root in roots if root.is_dir()
            for entry in root.iterdir() if entry.suffix == ".py" or (entry.is_dir() and entry.name.isidentifier())}


def _under(module: types.ModuleType, roots: Sequence[Path]) -> bool:
    origin = getattr(module, "__file__", None)
    paths = [Path(origin)] if origin else [Path(p) for p in getattr(module, "__path__", [])]
    return any(path.resolve().is_relative_to(root) for path in paths for root in roots)


def _family(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


class UserImports:
    """Import roots for a user's code, and the user's own top-level modules kept apart from ours: the
    top-level modules the roots provide are imported from them while the user's code runs and set
    aside afterwards, so that ours of the same names neither shadow nor are shadowed by them."""

    def __init__(self, roots: Sequence[Path], program: str = "") -> None:
        self.roots = [root.resolve() for root in roots]
        self.program = program  # sys.argv[0] while the user's code runs: their file or module
        self.names = _provided(self.roots)
        self.theirs: dict[str, types.ModuleType] = {}

    def swappable(self) -> set[str]:
        """The top-level names the roots provide that may be the user's now: one of OWN_PACKAGES, one
        not imported yet, or one already imported from the roots. A module the tool has imported
        itself (torch, numpy, dstt_profile, ...) is never unloaded nor shadowed."""
        return {top for top in self.names
                if top in OWN_PACKAGES or (loaded := sys.modules.get(top)) is None or _under(loaded, self.roots)}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The user's roots first on sys.path and their modules in sys.modules; ours back after."""
        names = self.swappable()
        ours = {name: mod for name, mod in sys.modules.items()
                if any(_family(name, top) for top in names) and not _under(mod, self.roots)}
        for name in ours:
            del sys.modules[name]
        before = set(sys.modules)  # modules already here from these roots stay where they are
        sys.modules.update({name: mod for name, mod in self.theirs.items() if any(_family(name, top) for top in names)})
        saved_path = list(sys.path)
        sys.path[:0] = [str(root) for root in self.roots]
        importlib.invalidate_caches()
        try:
            yield
        finally:
            sys.path[:] = saved_path
            for name, mod in list(sys.modules.items()):
                if name not in before and any(_family(name, top) for top in names) and _under(mod, self.roots):
                    self.theirs[name] = mod
                    del sys.modules[name]
            sys.modules.update(ours)


def program_of(imports: UserImports | None) -> str:
    """sys.argv[0] while the user's code runs: their file or module ('' for the tool's own)."""
    return imports.program if imports is not None else ""


@contextlib.contextmanager
def _running(imports: UserImports | None) -> Iterator[None]:
    """The block as the user's code (contain.py) with their imports active, where there are any."""
    with user_code(program_of(imports)), imports.active() if imports is not None else contextlib.nullcontext():
        yield


def _import_failure(reference: str, exc: BaseException) -> UsageError:
    if isinstance(exc, UserExit):
        return UsageError(f"--model {reference}: its import {exc}")
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        return UsageError(f"--model {reference}: importing it needs the module {exc.name!r}, which is not importable; "
                          f"add the directory that holds {top!r} with --model-path DIR")
    return UsageError(f"--model {reference}: importing it failed: {type(exc).__name__}: {exc}")


def _load_file(reference: str, path: Path, imports: UserImports) -> types.ModuleType:
    where = "\n".join([str(path.resolve()), *map(str, imports.roots)])  # another root: another module
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    name = f"dstt_profile_user_{digest}_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"--model {reference}: {path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _running(imports):
            spec.loader.exec_module(module)
    except Exception as exc:
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
    if path is not None:
        imports = UserImports([path.resolve().parent, *roots], program=target)
        module = _load_file(reference, path, imports)
    else:
        imports = UserImports(roots, program=target)
        try:
            with _running(imports):
                module = importlib.import_module(target)
        except Exception as exc:
            raise _import_failure(reference, exc) from None
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
