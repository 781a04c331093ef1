"""Loading a user's model: `path/to/file.py:Name`, `package.module:name`, or a factory object.

A file is loaded by path under a module name of its own (`dstt_profile_user_<hash>_<stem>`), so it
never replaces a module of the same name. Its directory and every `--model-path DIR` are import roots
while it loads and while its factory runs; top-level modules those roots provide (a user's own
`model/` package, say) are imported from them then, and set aside afterwards, so this project's
modules of the same names are neither shadowed by them nor shadow them.

`Name` is a class or a factory function, called with the model arguments as keywords; it must return
a `torch.nn.Module`. Every failure is one line (UsageError) naming the model reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import ArgValue

Factory = Callable[..., nn.Module]


def parse_arg(text: str, option: str = "--model-arg") -> tuple[str, ArgValue]:
    """'heads=8' -> ('heads', 8): the value as an int, else a float, else true/false, else text."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"{option} {text!r} is not NAME=VALUE")
    raw = raw.strip()
    value: ArgValue
    try:
        value = int(raw, 10)
    except ValueError:
        try:
            value = float(raw)
        except ValueError:
            value = {"true": True, "false": False}.get(raw.lower(), raw)
    return name, value


def _provided(roots: Sequence[Path]) -> set[str]:
    """Top-level module names the import roots provide (a `name.py` or a `name/` directory)."""
    names = set()
    for root in roots:
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if entry.suffix == ".py":
                names.add(entry.stem)
            elif entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)
    return names


def _under(module: types.ModuleType, roots: Sequence[Path]) -> bool:
    origin = getattr(module, "__file__", None)
    paths = [Path(origin)] if origin else [Path(p) for p in getattr(module, "__path__", [])]
    for path in paths:
        resolved = path.resolve()
        if any(resolved.is_relative_to(root) for root in roots):
            return True
    return False


def _family(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


class UserImports:
    """Import roots for a user's code, and the user's own top-level modules kept apart from ours."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = [root.resolve() for root in roots]
        self.names = _provided(self.roots)
        self.theirs: dict[str, types.ModuleType] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The user's roots first on sys.path and their modules in sys.modules; ours back after."""
        ours = {
            name: mod
            for name, mod in sys.modules.items()
            if any(_family(name, top) for top in self.names) and not _under(mod, self.roots)
        }
        for name in ours:
            del sys.modules[name]
        before = set(sys.modules)  # modules already here from these roots stay where they are
        sys.modules.update(self.theirs)
        saved_path = list(sys.path)
        sys.path[:0] = [str(root) for root in self.roots]
        importlib.invalidate_caches()
        try:
            yield
        finally:
            sys.path[:] = saved_path
            for name, mod in list(sys.modules.items()):
                if name not in before and any(_family(name, top) for top in self.names) and _under(mod, self.roots):
                    self.theirs[name] = mod
                    del sys.modules[name]
            sys.modules.update(ours)


def _import_failure(reference: str, exc: BaseException) -> UsageError:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        return UsageError(
            f"--model {reference}: importing it needs the module {exc.name!r}, which is not importable; "
            f"add the directory that holds {top!r} with --model-path DIR"
        )
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
        with imports.active():
            spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _import_failure(reference, exc) from None
    return module


def load(reference: str, model_path: Sequence[str] = ()) -> tuple[Factory, UserImports]:
    """The factory a model reference names, and the imports it runs with."""
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"--model {reference!r} is not FILE.py:NAME or package.module:NAME (or 'dstt')")
    roots = [Path(p) for p in model_path]
    for root in roots:
        if not root.is_dir():
            raise UsageError(f"--model-path {root}: not a directory")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"--model {reference}: {target}: no such file")
        imports = UserImports([path.resolve().parent, *roots])
        module = _load_file(reference, path, imports)
    else:
        imports = UserImports(roots)
        try:
            with imports.active():
                module = importlib.import_module(target)
        except Exception as exc:
            raise _import_failure(reference, exc) from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        where = target if target.endswith(".py") else f"module {target}"
        raise UsageError(f"--model {reference}: {where} has no class or function {attr!r}")
    return factory, imports


def call(reference: str, factory: Factory, args: dict[str, ArgValue], imports: UserImports | None) -> nn.Module:
    """`factory(**args)`, checked: one line naming the reference where it raises or returns no module."""
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    try:
        with imports.active() if imports is not None else contextlib.nullcontext():
            module: Any = factory(**args)
    except Exception as exc:
        raise UsageError(f"--model {reference}: calling it ({shown}) raised {type(exc).__name__}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise UsageError(
            f"--model {reference}: calling it ({shown}) returned {type(module).__name__}, not a torch.nn.Module"
        )
    return module
