"""Import roots for a user's code (`UserImports`): the top-level modules their directories provide imported from
them while it runs and set aside after, ours of the same names put back; packages with or without `__init__.py`."""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from dstt_profile.engine.contain import user_code

# This project's top-level packages other than dstt_profile (pyproject's packages): a user's module of
# the same name is imported as theirs while their code runs, and ours is put back after.
OWN_PACKAGES = frozenset({"model"})


def locations(module: types.ModuleType) -> list[Path]:
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


def under(module: types.ModuleType, roots: Sequence[Path]) -> bool:
    return any(path.resolve().is_relative_to(root) for path in locations(module) for root in roots)


class RootsFirst(importlib.abc.MetaPathFinder):
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
                if top in OWN_PACKAGES or (loaded := sys.modules.get(top)) is None or under(loaded, self.roots)}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The user's roots first on sys.path and their modules in sys.modules; ours back after."""
        names = self.swappable()
        ours = {n: m for n, m in sys.modules.items()
                if n.partition(".")[0] in names and not under(m, self.roots)}
        for name in ours:
            del sys.modules[name]
        before = set(sys.modules)  # modules already here from these roots stay where they are
        sys.modules.update({n: m for n, m in self.theirs.items() if n.partition(".")[0] in names})
        saved_path = list(sys.path)
        sys.path[:0] = [str(root) for root in self.roots]
        finder = RootsFirst(self.roots, names & (self.packages | OWN_PACKAGES))
        sys.meta_path.insert(0, finder)
        importlib.invalidate_caches()
        try:
            yield
        finally:
            # theirs told apart while sys.path and their packages are still in place (see _locations)
            leaving = {name: mod for name, mod in list(sys.modules.items())
                       if name not in before and name.partition(".")[0] in names and under(mod, self.roots)}
            for name in leaving:
                del sys.modules[name]
            self.theirs.update(leaving)
            sys.path[:] = saved_path
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)
            sys.modules.update(ours)


@contextlib.contextmanager
def running(imports: UserImports | None) -> Iterator[None]:
    """The block run as the user's code (engine/contain.py) with `imports` active: their modules first, ours back after."""
    active = imports.active() if imports is not None else contextlib.nullcontext()
    with user_code(imports.program if imports else ""), active:
        yield
