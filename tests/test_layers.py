"""The package's layers, read from the source with `ast`: every import counts, at module level or
inside a function (a lazy import is still a dependency).

    engine   -> nothing of profiles, analysis, pipeline, render, cli, api, nor the network (`model`)
    records  -> nothing of engine, profiles, analysis, pipeline, render, cli, api
    analysis -> nothing of pipeline, render, cli, api: it computes records, never runs or formats
    render   -> records, units and itself only: it renders, never computes or runs
    no module imports a private name (`_x`) of another package, nor reaches itself through its imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dstt_profile"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str) -> Iterator[str]:
    """Every module `path` (module `name`) imports, anywhere in it, as absolute dotted names; for
    `from X import Y` both X and X.Y (Y may be a submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The dstt_profile modules and the top-level packages `name` imports (a package's own name counts
    for `from package import module`)."""
    out = set()
    for target in imported(path, name):
        if target in known or target.split(".")[0] != "dstt_profile":
            out.add(target)
    return out - {name}


def graph() -> nx.DiGraph:
    found = modules()
    known = set(found)
    g = nx.DiGraph()
    for name, path in found.items():
        g.add_node(name)
        for target in imports_of(name, path, known):
            if target in known:
                g.add_edge(name, target)
    return g


def breaches(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    """'module -> import' for every import of a module under dstt_profile.`layer` that falls in a
    forbidden layer (dstt_profile.X, or a top-level package such as `model`)."""
    found = modules()
    known = set(found)
    prefixes = [f if "." in f or f == "model" else f"dstt_profile.{f}" for f in forbidden]
    out = []
    for name, path in found.items():
        if not name.startswith(f"dstt_profile.{layer}"):
            continue
        for target in sorted(imports_of(name, path, known)):
            if any(target == p or target.startswith(p + ".") for p in prefixes):
                out.append(f"{name} -> {target}")
    return out


def test_the_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "dstt_profile" / "render" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "import os\nfrom . import y\nfrom ..engine import trace\n\ndef f():\n    from dstt_profile.cli import main\n",
        encoding="utf-8",
    )
    assert set(imported(source, "dstt_profile.render.x")) == {
        "os",
        "dstt_profile.render",
        "dstt_profile.render.y",
        "dstt_profile.engine",
        "dstt_profile.engine.trace",
        "dstt_profile.cli",
        "dstt_profile.cli.main",
    }


def test_every_layer_is_read() -> None:
    names = set(modules())
    for layer in ("engine", "records", "profiles", "analysis", "pipeline", "render", "cli"):
        assert any(n.startswith(f"dstt_profile.{layer}.") for n in names), layer
    assert {"dstt_profile.api", "dstt_profile.cli.main", "dstt_profile.engine.trace"} <= names


def test_engine_imports_no_layer_above_it_nor_a_model() -> None:
    assert breaches("engine", ("profiles", "analysis", "pipeline", "render", "cli", "api", "model")) == []


def test_records_import_no_layer_above_them() -> None:
    assert breaches("records", ("engine", "profiles", "analysis", "pipeline", "render", "cli", "api", "model")) == []


def test_analysis_neither_runs_nor_formats() -> None:
    assert breaches("analysis", ("pipeline", "render", "cli", "api")) == []


def test_render_takes_records_and_units_only() -> None:
    found = modules()
    allowed = ("dstt_profile.records", "dstt_profile.render", "dstt_profile.units")
    out = [
        f"{name} -> {target}"
        for name, path in found.items()
        if name.startswith("dstt_profile.render")
        for target in sorted(imports_of(name, path, set(found)))
        if target.startswith("dstt_profile") and not target.startswith(allowed)
    ]
    assert out == []


def private_imports() -> list[str]:
    """'module -> package.module._name' for every `from X import _name` of a module in another package."""
    out = []
    for name, path in modules().items():
        package = name.rpartition(".")[0] if path.name != "__init__.py" else name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                source_package = node.module.rpartition(".")[0]
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") and source_package != package:
                        out.append(f"{name} -> {node.module}.{alias.name}")
    return out


def test_no_private_names_across_packages() -> None:
    assert private_imports() == []


def test_no_import_cycles() -> None:
    cycles = sorted(" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph()))
    assert cycles == []


def test_only_the_dstt_profile_imports_the_network() -> None:
    found = modules()
    out = [
        f"{name} -> {target}"
        for name, path in found.items()
        if not name.startswith("dstt_profile.profiles.dstt")
        for target in sorted(imports_of(name, path, set(found)))
        if target == "model" or target.startswith("model.")
    ]
    assert out == []
