"""The exploration notebook runs top to bottom (fake tensors, seconds) and shows what it promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "explore_dstt.ipynb"


def _outputs(nb: nbformat.NotebookNode) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_notebook_runs_top_to_bottom() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" resolves to the kernel of the interpreter running the tests (ipykernel is in the dev extra).
    client = NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    outputs = _outputs(nb)
    assert not [out for out in outputs if out.get("output_type") == "error"]
    data: list[dict[str, Any]] = [out.get("data", {}) for out in outputs]
    assert any("text/html" in d and "temporal_attention" in str(d["text/html"]) for d in data)
    assert any("image/png" in d for d in data)  # the growth plot is a matplotlib figure


def test_notebook_is_generated_from_the_script() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebook", ROOT / "scripts" / "make_notebook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in module.build().cells]
