"""Tracing one run: build DSTT for the config, run it with hooks and the op recorder, return raw data.

By default the pass runs under FakeTensorMode on the target device type: shapes, dtypes, devices and
kernel selection are those of a real run, but no memory is touched, so t = 1024 costs what t = 1 does.
With `real=True` the same code runs on real tensors.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from dstt_profile.errors import TraceError, UsageError
from dstt_profile.hooks import ModuleCall, ModuleTracker
from dstt_profile.liveness import Liveness
from dstt_profile.recorder import OpRecorder
from dstt_profile.records import OpRecord
from dstt_profile.runconfig import RunConfig
from dstt_profile.stages import BACKWARD, STAGES
from model import InpaintGenerator


@dataclass(frozen=True)
class Trace:
    """What one traced pass saw, before it is summarised into records."""

    run: RunConfig
    ops: tuple[OpRecord, ...]
    calls: dict[str, ModuleCall]
    unsupported: Counter[str]
    peak_bytes: int
    peak_index: int
    params: int
    param_bytes: int
    input_bytes: int
    seconds: float


class _FakeSession:
    """One FakeTensorMode for the process, and the fake models built in it (a sweep builds each once)."""

    def __init__(self) -> None:
        self.mode = FakeTensorMode(allow_non_fake_inputs=False)
        self.models: dict[tuple[object, ...], InpaintGenerator] = {}

    def model(self, run: RunConfig) -> InpaintGenerator:
        key = (run.model_config(), run.device, run.torch_dtype)
        if key not in self.models:
            with torch.device("meta"):
                model = InpaintGenerator(run.model_config(), init_weights=False)
            _materialise(model, torch.device(run.device), run.torch_dtype)
            self.models[key] = model
        return self.models[key]


_SESSION: _FakeSession | None = None


def _fake_session() -> _FakeSession:
    global _SESSION
    if _SESSION is None:
        _SESSION = _FakeSession()
    return _SESSION


@contextlib.contextmanager
def _tensor_mode(run: RunConfig) -> Iterator[None]:
    if run.real:
        yield
        return
    with _fake_session().mode:
        yield


def _materialise(model: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Give a meta-device model empty parameters on `device` (fake ones, under FakeTensorMode).

    `Module.to` cannot convert fake parameters in place, and initialising them on a fake CUDA device
    would ask a CPU-only build for CUDA random numbers; empty tensors need neither.
    """
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                fresh = torch.empty(param.shape, device=device, dtype=dtype)
                module._parameters[name] = nn.Parameter(fresh, requires_grad=param.requires_grad)
        for name, buf in list(module._buffers.items()):
            if buf is not None:
                module._buffers[name] = torch.empty(buf.shape, device=device, dtype=buf.dtype)


def _check_device(run: RunConfig) -> None:
    if run.device == "cuda" and not torch.backends.cuda.is_built():
        raise UsageError(
            "--device cuda needs a PyTorch built with CUDA (this one is CPU-only; fake CUDA tensors "
            "cannot run every kernel's shape function without it)"
        )
    if run.real and run.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda with real tensors needs a CUDA GPU, and this machine has none")


def build(run: RunConfig) -> tuple[InpaintGenerator, torch.Tensor]:
    """The model and an input clip for `run`, on its device and dtype (fake tensors unless `run.real`;
    call it inside `_tensor_mode(run)`)."""
    if run.real:
        model = InpaintGenerator(run.model_config()).to(device=run.device, dtype=run.torch_dtype)
    else:
        model = _fake_session().model(run)
    frames = torch.empty(
        run.batch, run.frames, 3, run.height, run.width, device=run.device, dtype=run.torch_dtype
    )
    if run.real:
        frames.uniform_(-1.0, 1.0)
    return model, frames


def trace(run: RunConfig) -> Trace:
    """Run the forward pass (and backward, in train mode) of `run` under the recorder."""
    _check_device(run)
    cfg = run.model_config()
    started = time.perf_counter()
    with _tensor_mode(run):
        model, frames = build(run)
        model.zero_grad(set_to_none=True)  # a cached fake model must not carry gradients between runs
        params = sum(p.numel() for p in model.parameters())
        liveness = Liveness(run.element_bytes if run.dtype == "int8" else None)
        param_bytes = liveness.mark_external(list(model.parameters()) + list(model.buffers()))
        input_bytes = liveness.mark_external(frames)
        tracker = ModuleTracker(model, train=run.mode == "train")
        recorder = OpRecorder(tracker, liveness, cfg.block_kind, first_stage=STAGES[0])
        grad = torch.enable_grad() if run.mode == "train" else torch.no_grad()
        try:
            with tracker, grad, recorder:
                output = model(frames)
                if run.mode == "train":
                    recorder.fixed_stage = BACKWARD
                    output.float().mean().backward()
                del output
        except UsageError:
            raise
        except Exception as exc:
            where = tracker.failing_module() or "<root>"
            raise TraceError(f"forward failed in module {where!r}: {type(exc).__name__}: {exc}") from exc
        finally:
            liveness.close()
            model.zero_grad(set_to_none=True)
    return Trace(
        run=run,
        ops=tuple(recorder.ops),
        calls=dict(tracker.calls),
        unsupported=Counter(recorder.unsupported),
        peak_bytes=recorder.peak_bytes,
        peak_index=recorder.peak_index,
        params=params,
        param_bytes=param_bytes,
        input_bytes=input_bytes,
        seconds=time.perf_counter() - started,
    )
