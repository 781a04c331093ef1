"""A dynamic IR's shapes made static at a clip's size, by OpenVINO's own shape inference (the `openvino` extra):
the IR is read by OpenVINO only after `reader.read_ir` accepted its XML, reshaped, written to a temporary folder
and read back by `read_ir`; the temporary files are removed whatever happens."""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
from pathlib import Path
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.ir.reader import IRModel, read_ir

EXTRA = "pip install 'dstt-profile[openvino]'"


def openvino() -> Any | None:
    """The openvino module, or None where the extra is not installed."""
    try:
        return importlib.import_module("openvino")
    except ImportError:
        return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def reshaped(model: IRModel, shape: tuple[int, ...], why: str) -> IRModel:
    """`model` (one input) with that input at `shape`, every layer's shapes inferred by OpenVINO."""
    ov = openvino()
    if ov is None:
        raise UsageError(f"{model.path}: {why}; making its shapes static needs OpenVINO ({EXTRA}), or convert the model "
                         "with a static input shape (ov.convert_model(model, example_input=clip, input=[clip.shape]))")
    path = Path(model.path)
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise UsageError(f"{model.path}: {why}; OpenVINO needs its weights file {str(weights)!r} to infer the shapes, "
                         "and there is none")
    with tempfile.TemporaryDirectory(prefix="dstt-profile-ir-") as folder:
        target = Path(folder) / "static.xml"
        try:
            found = ov.Core().read_model(str(path), str(weights))
            found.reshape(ov.PartialShape(list(shape)))
            ov.save_model(found, str(target), compress_to_fp16=False)
        except Exception as exc:  # OpenVINO raises its own kinds for a model it cannot reshape
            dims = "x".join(map(str, shape))
            raise UsageError(f"{model.path}: OpenVINO could not give it the input shape {dims}: {_first_line(exc)}") from None
        static = read_ir(target)
    return dataclasses.replace(static, path=model.path)
