"""Which package a model file given by path belongs to, so that it is imported by its dotted name from its
package's parent directory and its relative imports work (docs/models.md): `__init__.py` files, else the
namespace directories its imports reach."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from dstt_profile.profiles.imports import UserImports


def file_imports(path: Path) -> tuple[int, set[str]]:
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


def imports_itself(directory: Path, imported: set[str]) -> bool:
    """Whether the file imports from `directory` by the directory's name: `from model.modules.x import`
    in model/ where model/modules is there (the name alone may be an installed package's)."""
    inside = {name.split(".")[1] for name in imported if name.startswith(f"{directory.name}.")}
    return any((directory / name).is_dir() or (directory / f"{name}.py").is_file() for name in inside)


def package_of(path: Path, roots: Sequence[Path]) -> tuple[str, Path] | None:
    """The dotted name the file `path` imports as and the import root it is found from, where the file is
    part of a package; None for a stand-alone file. Its package: the directories above it holding an
    `__init__.py`; where its own has none, directories taken as namespace packages: as many as its relative
    imports climb (`from .misc import` in model/x.py: model), else up to the nearest one it imports from
    by name (`from model.modules import` in model/x.py: model), else those below the nearest --model-path root."""
    path = path.resolve()
    above = list(path.parents)[:-1]  # nearest first, the file system's root left out
    named = next((k for k, d in enumerate(above) if not d.name.isidentifier()), len(above))
    depth = next((k for k, d in enumerate(above[:named]) if not (d / "__init__.py").is_file()), named)
    level, imported = file_imports(path)
    depth = max(depth, level)
    if not depth:
        depth = next((k for k, d in enumerate(above[:named], 1) if imports_itself(d, imported)), 0)
    if not depth:
        resolved = [root.resolve() for root in roots]
        depth = min((len(path.parent.relative_to(root).parts) for root in resolved if path.parent.is_relative_to(root)), default=0)
    parts = [d.name for d in reversed(above[:depth])] + ([] if path.stem == "__init__" else [path.stem])
    if not depth or depth > named or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts), above[depth - 1].parent



def file_package(path: Path, roots: Sequence[Path], program: str) -> tuple[str, UserImports] | None:
    """The module name and imports of a file that is part of a package (`package_of`): its package's
    root first, then the --model-path roots, then the file's own directory (as for a stand-alone file);
    None where it stands alone, or its package is named like a module the tool has imported (`torch`)."""
    found = package_of(path, roots)
    if found is None:
        return None
    name, root = found
    top = name.partition(".")[0]
    imports = UserImports([root, *roots, path.resolve().parent], program=program, packages={top})
    return (name, imports) if top in imports.swappable() else None
