"""A run's network as an OpenVINO IR: the PyTorch model the run builds for real on the CPU, converted with
`openvino.convert_model` at the run's own input shapes (static in the IR) and saved beside the report; and
the stage a compiled node's name belongs to (its per-node times are grouped by it)."""

from __future__ import annotations

import copy
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dstt_profile.engine.contain import UserExit, user_code
from dstt_profile.engine.subject import ForwardInputs, Subject
from dstt_profile.engine.threads import thread_count
from dstt_profile.engine.trace import build
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.openvino import load
from dstt_profile.records.openvino import GLUE
from dstt_profile.records.runconfig import RunConfig

# Node names the PyTorch frontend gives: `__module.transformer.0.attention/aten::matmul/MatMul`. A node the
# CPU plugin inserts between two (a Reorder) joins both names; the last module named is the one it feeds.
_MODULE = re.compile(r"__module\.([^/]+)/")


def module_of(node_name: str) -> str:
    """The PyTorch module a compiled node's name names ("" none)."""
    found = _MODULE.findall(node_name)
    return str(found[-1]) if found else ""


def stage_for(module: str, stage_of: Callable[[str], str | None]) -> str:
    """The stage of `module` or of the nearest module enclosing it; GLUE where none has one."""
    name = module
    while name:
        stage = stage_of(name)
        if stage is not None:
            return stage
        name = name.rpartition(".")[0]
    return GLUE


def first_line(exc: BaseException) -> str:
    """An exception's first line (OpenVINO's messages run to many), else its type's name."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True, eq=False)
class Converted:
    """A run's model, its IR and the input both are run on."""

    ir: Any  # openvino.Model, float32 (a bfloat16 run's weights converted exactly)
    model: nn.Module  # the PyTorch model at the run's dtype, in eval mode
    inputs: tuple[torch.Tensor, ...]  # the forward's arguments, all positional, at the run's dtype
    seconds: float  # convert_model's wall time


def positional_tensors(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    try:
        values = ForwardInputs(args, kwargs).positional(model)
    except TypeError as exc:
        raise UsageError(f"--runtime openvino converts a forward called by position: {exc}") from None
    if not all(isinstance(v, torch.Tensor) for v in values):
        raise UsageError("--runtime openvino converts a forward whose arguments are all tensors")
    return tuple(values)


def convert(run: RunConfig, subject: Subject) -> Converted:
    """The run's model built for real on the CPU, converted at its inputs' shapes (static in the IR)."""
    ov = load()
    with thread_count(run.threads):
        model, forward = build(run.replace(real=True), subject)
        model.eval()
        inputs = positional_tensors(model, forward.args, dict(forward.kwargs))
        source = model if run.torch_dtype == torch.float32 else copy.deepcopy(model).float()
        example = tuple(t.float() if t.is_floating_point() else t for t in inputs)
        started = time.perf_counter()
        try:
            with user_code(subject.program), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's warnings about Python values taken as constants
                ir = ov.convert_model(source, example_input=example,
                                      input=[ov.PartialShape(list(t.shape)) for t in example])
        except UserExit as exc:
            raise TraceError(f"the model's forward pass while converting to OpenVINO {exc}") from None
        except Exception as exc:  # the frontend's own errors (OpConversionFailure, ...) carry no common base
            raise TraceError(f"OpenVINO could not convert the model: {first_line(exc)}") from None
        return Converted(ir, model, inputs, time.perf_counter() - started)


def save_ir(ir: Any, xml: Path) -> tuple[Path, Path]:
    """The IR at `xml` and the `.bin` beside it, weights uncompressed: written under a temporary directory
    beside them and renamed into place, so no half-written IR is left."""
    ov = load()
    binary = xml.with_suffix(".bin")
    try:
        with tempfile.TemporaryDirectory(prefix=f".{xml.stem}.", dir=xml.parent) as tmp:
            staged = Path(tmp) / "model.xml"
            ov.save_model(ir, str(staged), compress_to_fp16=False)
            os.replace(staged.with_suffix(".bin"), binary)
            os.replace(staged, xml)
    except OSError as exc:
        raise UsageError(f"cannot write {str(xml)!r}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # OpenVINO's own, such as a full disk
        raise UsageError(f"cannot write {str(xml)!r}: {first_line(exc)}") from None
    return xml, binary
