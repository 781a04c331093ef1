"""Loading a user's model, `path/to/file.py:Name` or `package.module:name` (docs/models.md), as user
code (engine/contain.py) with its own imports (`UserImports`); every failure one UsageError."""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import unset_fake_temporarily

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


def _locations(module: types.ModuleType) -> list[Path]:
    """Where a module lives: its file, or a package's directories. A namespace package's `__path__` is
    worked out again from its parent's (`sys.path` for a top-level one) whenever that changes, so it is
    read only while the modules and `sys.path` it was imported with are in place."""
    origin = getattr(module, "__file__", None)
    if origin:
        return [Path(origin)]
    try:
        return [Path(p) for p in getattr(module, "__path__", None) or ()]
    except (KeyError, TypeError):  # a namespace package whose parent package is not in sys.modules
        return []


def _under(module: types.ModuleType, roots: Sequence[Path]) -> bool:
    return any(path.resolve().is_relative_to(root) for path in _locations(module) for root in roots)


class _RootsFirst(importlib.abc.MetaPathFinder):
    """Top-level names found in the roots before anywhere else, packages with or without `__init__.py`
    alike: without it the directory is a namespace package, which any regular package of that name further
    along `sys.path` (or an installed one, such as this project's `model`) would otherwise win over."""

    def __init__(self, roots: Sequence[Path], names: Collection[str]) -> None:
        self.roots = [str(root) for root in roots]
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, self.roots if path is None else path)
        if spec is None and top in OWN_PACKAGES:  # never a module of ours under the user's package
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec


class UserImports:
    """Import roots for a user's code, the top-level modules they provide imported from them while it runs and
    set aside after, so that ours of the same names neither shadow nor are shadowed by them. `packages`:
    top-level names that must come from the roots (the package a model file belongs to, say); OWN_PACKAGES
    names the roots provide always do."""

    def __init__(self, roots: Sequence[Path], program: str = "", packages: Collection[str] = ()) -> None:
        self.roots = list(dict.fromkeys(root.resolve() for root in roots))
        self.program = program  # sys.argv[0] while the user's code runs: their file or module
        self.names = {e.stem if e.suffix == ".py" else e.name for root in self.roots if root.is_dir()
                      for e in root.iterdir() if e.suffix == ".py" or (e.is_dir() and e.name.isidentifier())}
        self.packages = frozenset(packages)
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
        finder = _RootsFirst(self.roots, names & (self.packages | OWN_PACKAGES))
        sys.meta_path.insert(0, finder)
        importlib.invalidate_caches()
        try:
            yield
        finally:
            # theirs told apart while sys.path and their packages are still in place (see _locations)
            leaving = {name: mod for name, mod in list(sys.modules.items())
                       if name not in before and name.partition(".")[0] in names and _under(mod, self.roots)}
            for name in leaving:
                del sys.modules[name]
            self.theirs.update(leaving)
            sys.path[:] = saved_path
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)
            sys.modules.update(ours)


@contextlib.contextmanager
def _running(imports: UserImports | None) -> Iterator[None]:
    active = imports.active() if imports is not None else contextlib.nullcontext()
    with user_code(imports.program if imports else ""), active:
        yield


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
        with _running(imports):
            if path is None:
                module = importlib.import_module(target)
            else:
                execute(module)
    except Exception as exc:
        if path is not None:
            del sys.modules[name]
        raise _import_failure(reference, exc, path, option) from None
    return module


def _file_imports(path: Path) -> tuple[int, set[str]]:
    """How many packages up the file's relative imports reach (`from ..x import`: 2; 0: it has none), and
    the dotted names it imports absolutely (`from a.b import c`: a.b and a.b.c); (0, set()) where it does
    not parse (its import then says why)."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):  # a UnicodeDecodeError is a ValueError
        return 0, set()
    level, names = 0, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            level = max(level, node.level)
            if not node.level and node.module:
                names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return level, names


def _imports_itself(directory: Path, imported: set[str]) -> bool:
    """Whether the file imports from `directory` by the directory's name: `from model.modules.x import`
    in model/ where model/modules is there (the name alone may be an installed package's)."""
    inside = {name.split(".")[1] for name in imported if name.startswith(f"{directory.name}.")}
    return any((directory / name).is_dir() or (directory / f"{name}.py").is_file() for name in inside)


def _package_of(path: Path, roots: Sequence[Path]) -> tuple[str, Path] | None:
    """The dotted name the file `path` imports as and the import root it is found from, where the file is
    part of a package; None for a stand-alone file. Its package: the directories above it holding an
    `__init__.py`; where its own has none, directories taken as namespace packages: as many as its relative
    imports climb (`from .misc import` in model/x.py: model), else up to the nearest one it imports from
    by name (`from model.modules import` in model/x.py: model), else those below the nearest --model-path root."""
    path = path.resolve()
    above = list(path.parents)[:-1]  # nearest first, the file system's root left out
    named = next((k for k, d in enumerate(above) if not d.name.isidentifier()), len(above))
    depth = next((k for k, d in enumerate(above[:named]) if not (d / "__init__.py").is_file()), named)
    level, imported = _file_imports(path)
    depth = max(depth, level)
    if not depth:
        depth = next((k for k, d in enumerate(above[:named], 1) if _imports_itself(d, imported)), 0)
    if not depth:
        resolved = [root.resolve() for root in roots]
        depth = min((len(path.parent.relative_to(root).parts) for root in resolved if path.parent.is_relative_to(root)), default=0)
    parts = [d.name for d in reversed(above[:depth])] + ([] if path.stem == "__init__" else [path.stem])
    if not depth or depth > named or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts), above[depth - 1].parent


def _import_package_file(reference: str, path: Path, name: str, imports: UserImports,
                         option: str = "--model") -> types.ModuleType:
    """The file `path`, imported as the module `name` of its package (so its relative imports work)."""
    try:
        with _running(imports):
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


def running(imports: UserImports | None) -> contextlib.AbstractContextManager[None]:
    """The block run as user code with `imports` active (their modules first; ours back after)."""
    return _running(imports)


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
    elif (package := _file_package(path, roots, target)) is not None:
        name, imports = package
        module = _import_package_file(reference, path, name, imports, option)
    else:
        imports = UserImports([path.resolve().parent, *roots], program=target)
        module = _import(reference, target, path, imports, option)
    found = getattr(module, attr, None)
    if found is None or not callable(found):
        raise UsageError(f"{option} {reference}: {_where(reference)} has no class or function {attr!r}")
    return found, imports


def _file_package(path: Path, roots: Sequence[Path], program: str) -> tuple[str, UserImports] | None:
    """The module name and imports of a file that is part of a package (`_package_of`): its package's
    root first, then the --model-path roots, then the file's own directory (as for a stand-alone file);
    None where it stands alone, or its package is named like a module the tool has imported (`torch`)."""
    found = _package_of(path, roots)
    if found is None:
        return None
    name, root = found
    top = name.partition(".")[0]
    imports = UserImports([root, *roots, path.resolve().parent], program=program, packages={top})
    return (name, imports) if top in imports.swappable() else None


def _is_factory(value: object) -> bool:
    """A model factory as a reference may name one: an `nn.Module` subclass, or a function written in
    Python (never a builtin such as `os.system`, nor any other callable object a module happens to hold)."""
    if isinstance(value, type):
        return issubclass(value, nn.Module)
    if isinstance(value, functools.partial):
        return _is_factory(value.func)
    return isinstance(value, types.FunctionType)


class CallError(UsageError):
    """A factory that failed: `raised` is the exception it raised (None where it exited or returned no module)."""

    def __init__(self, message: str, raised: Exception | None) -> None:
        super().__init__(message)
        self.raised = raised


def call(reference: str, factory: Factory, args: dict[str, ArgValue], imports: UserImports | None) -> nn.Module:
    """`factory(**args)`, checked: one line naming the reference where it raises or returns no module."""
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    try:
        with _running(imports):
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
