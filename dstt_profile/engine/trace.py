"""Tracing one run under the hooks and the op recorder, on fake tensors (FakeTensorMode on the target
device type: t = 1024 costs what t = 1 does) or real ones."""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode, unset_fake_temporarily

from dstt_profile.engine import mixed
from dstt_profile.engine.contain import UserExit, user_code
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.devicerules import DeviceRules
from dstt_profile.engine.hooks import ModuleCall, ModuleTracker, tensors
from dstt_profile.engine.liveness import Liveness, what_if_bytes, what_if_element
from dstt_profile.engine.recorder import OpRecorder
from dstt_profile.engine.storagesplit import StorageSplit
from dstt_profile.engine.subject import ForwardInputs, InputSpec, Subject
from dstt_profile.engine.threads import thread_count
from dstt_profile.engine.workspace import WorkspaceCache, default_cache
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import BACKWARD, OpRecord


@dataclass(frozen=True)
class Trace:
    """One traced pass: `peak_*` in the tensor view, `allocator_peak_*` in the allocator view."""

    run: RunConfig
    ops: tuple[OpRecord, ...]
    calls: dict[str, ModuleCall]
    unsupported: Counter[str]
    tensor_peak_bytes: int
    tensor_peak_index: int
    params: int
    param_bytes: int
    input_bytes: int
    seconds: float
    allocator_peak_bytes: int = 0
    allocator_peak_index: int = -1
    basis: str = ""


def first_max(values: Iterable[int]) -> tuple[int, int]:
    """(the highest value, the index of the first place it is reached); (0, -1) when none is above 0."""
    peak, where = 0, -1
    for i, value in enumerate(values):
        if value > peak:
            peak, where = value, i
    return peak, where


def with_peaks(tr: Trace) -> Trace:
    """`tr` with both peaks found from its ops (tensor view: live bytes; allocator view: held + transient)."""
    peak, where = first_max(op.live_bytes for op in tr.ops)
    apeak, awhere = first_max(op.allocator_bytes for op in tr.ops)
    return replace(tr, tensor_peak_bytes=peak, tensor_peak_index=where, allocator_peak_bytes=apeak,
                   allocator_peak_index=awhere)


class _FakeSession:
    """One FakeTensorMode for the process, and the fake models built in it (a sweep builds each once)."""

    def __init__(self) -> None:
        self.mode = FakeTensorMode(allow_non_fake_inputs=False)
        self.models: dict[tuple[object, ...], nn.Module] = {}

    def model(self, run: RunConfig, subject: Subject) -> nn.Module:
        key = (subject.key, run.device, run.torch_dtype)
        if key not in self.models:
            with torch.device("meta"):
                model = subject.build(False)
            _materialise(model, torch.device(run.device), run.torch_dtype)
            self.models[key] = model
        return self.models[key]


@functools.cache
def _fake_session() -> _FakeSession:
    return _FakeSession()


def tensor_mode(run: RunConfig) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext() if run.real else _fake_session().mode


def _materialise(model: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Empty parameters and buffers for a meta-device model: `Module.to` cannot convert fake parameters in
    place, and initialising them on a fake CUDA device would ask a CPU-only build for CUDA random numbers."""
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                fresh = torch.empty(param.shape, device=device, dtype=dtype)
                module._parameters[name] = nn.Parameter(fresh, requires_grad=param.requires_grad)
        for name, buf in list(module._buffers.items()):
            if buf is not None:
                kind = dtype if buf.dtype.is_floating_point else buf.dtype
                module._buffers[name] = torch.empty(buf.shape, device=device, dtype=kind)


def check_device(run: RunConfig) -> None:
    if run.device == "cuda" and not torch.backends.cuda.is_built():
        raise UsageError("--device cuda needs a PyTorch built with CUDA (this one is CPU-only; fake CUDA "
                         "tensors cannot run every kernel's shape function without it)")
    if run.real and run.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda with real tensors needs a CUDA GPU, and this machine has none")


def build(run: RunConfig, subject: Subject, values: bool = False) -> tuple[nn.Module, ForwardInputs]:
    """The model and its inputs for `run` (call it inside `tensor_mode(run)`); with `values` on fake tensors the
    inputs are made real (mixed.py), the model fake."""
    if run.real:
        model = subject.build(True).to(device=run.device, dtype=run.torch_dtype)
    else:
        model = _fake_session().model(run, subject)
    spec = InputSpec(run.batch, run.frames, run.height, run.width, run.torch_dtype, run.device, run.real or values)
    with unset_fake_temporarily() if values and not run.real else contextlib.nullcontext():
        return model, subject.inputs(spec)


def _loss(output: Any) -> torch.Tensor:
    """What a train-mode step differentiates: the mean of the output (of each floating tensor in it, summed)."""
    if isinstance(output, torch.Tensor):
        return output.float().mean()
    leaves = [t for t in tensors(output) if t.is_floating_point()]
    if not leaves:
        raise UsageError("train mode needs a model whose output holds a floating-point tensor")
    total = leaves[0].float().mean()
    for leaf in leaves[1:]:
        total = total + leaf.float().mean()
    return total


def trace(run: RunConfig, subject: Subject, annotate_prefix: str = "",
          workspaces: WorkspaceCache | None = None, split: StorageSplit | None = None) -> Trace:
    """The forward pass (and backward, in train mode) at the run's thread count. `annotate_prefix` marks every
    op as a profiler range (devicecheck.py); a trace with a `split` carries no convolution workspaces. A model
    whose shapes depend on values (`nonzero()` over a mask) is traced with its inputs' real values (mixed.py)."""
    values = not run.real and mixed.needs_values(subject.key, run.device)
    try:
        return _trace(run, subject, annotate_prefix, workspaces, split, values)
    except TraceError as exc:
        found = mixed.data_dependent(exc)
        if found is None or run.real or values:
            raise
        if run.device != "cpu":
            raise TraceError(f"{exc}: the op's output shape depends on values, which fake {run.device} tensors do not "
                             "have; profile it with --device cpu, where the inputs' values are used") from None
        mixed.remember(subject.key, run.device)
        return _trace(run, subject, annotate_prefix, workspaces, split, True)


def _trace(run: RunConfig, subject: Subject, annotate_prefix: str, workspaces: WorkspaceCache | None,
           split: StorageSplit | None, values: bool) -> Trace:
    with thread_count(run.threads):
        check_device(run)
        started = time.perf_counter()
        with tensor_mode(run):
            model, inputs = build(run, subject, values)
            model.zero_grad(set_to_none=True)  # a cached fake model must not carry gradients between runs
            params = sum(p.numel() for p in model.parameters())
            liveness = Liveness(what_if_element(run))
            param_bytes = liveness.mark_external(list(model.parameters()) + list(model.buffers()))
            input_bytes = liveness.mark_external(inputs.values())
            tracker = ModuleTracker(model, train=run.mode == "train")
            recorder = OpRecorder(tracker, liveness, subject.stage_of, first_stage=subject.first_stage,
                                  rules=DeviceRules(run.device), real=run.real,
                                  annotate_prefix=annotate_prefix, costs=subject.costs, split=split)
            if split is not None:
                split.attach(model, liveness)
            grad = torch.enable_grad() if run.mode == "train" else torch.no_grad()
            real_where_real = mixed.RealWhereReal(_fake_session().mode) if values else contextlib.nullcontext()
            try:
                with real_where_real, tracker, grad, recorder, user_code(subject.program):
                    with split.saved_hooks() if split is not None else contextlib.nullcontext():
                        output = inputs.call(model)
                    if run.mode == "train":
                        if split is not None:
                            split.forward_done()
                        recorder.fixed_stage = BACKWARD
                        _loss(output).backward()
                    del output
            except UsageError:
                raise
            except Exception as exc:
                where = tracker.failing_module() or "<root>"
                if isinstance(exc, UserExit):
                    raise TraceError(f"forward failed in module {where!r}: it {exc}") from None
                if values and (found := mixed.data_dependent(exc)) is not None:
                    raise TraceError(f"forward failed in module {where!r}: {mixed.op_of(found)}'s output shape depends on "
                                     "the values of a tensor computed from the clip or the weights, which are not computed "
                                     "(fake tensors); make the tensors that decide it outside the model and pass them "
                                     "to the forward (--inputs FILE.py:function)") from None
                raise TraceError(f"forward failed in module {where!r}: {type(exc).__name__}: {exc}") from exc
            finally:
                liveness.close()
                model.zero_grad(set_to_none=True)
        recorded = tail_staged(recorder.ops, subject.tail_stage)
        if split is not None:
            ops, basis = tuple(recorded), "storages at their real sizes and op temporaries; no workspaces"
        else:
            ops, basis = _with_workspaces(run, recorded, recorder.convolutions, workspaces)
        return with_peaks(Trace(run, ops, dict(tracker.calls), Counter(recorder.unsupported),
                                recorder.tensor_peak_bytes, recorder.tensor_peak_index, params, param_bytes, input_bytes,
                                time.perf_counter() - started, basis=basis))


def tail_staged(ops: list[OpRecord], tail: str | None) -> list[OpRecord]:
    """`ops` with the root's own ops after the last op of any submodule (the release's `torch.tanh` in its
    forward) in stage `tail`; unchanged where `tail` is None or the root runs none there."""
    if tail is None:
        return ops
    forward = [op for op in ops if op.stage != BACKWARD]
    last = max((op.index for op in forward if op.module), default=-1)
    return [replace(op, stage=tail) if op.index > last and not op.module and op.stage != BACKWARD else op for op in ops]


WORKSPACE_RULE = "workspace.convolution"


def _with_workspaces(run: RunConfig, ops: list[OpRecord], convolutions: dict[int, tuple[ConvSignature, int]],
                     workspaces: WorkspaceCache | None) -> tuple[tuple[OpRecord, ...], str]:
    """The ops with each convolution's workspace added to its transient bytes, and the basis in words."""
    rules = ", ".join(DeviceRules(run.device).names()) or "none"
    basis = f"storages at their real sizes and op temporaries ({run.device} rules: {rules})"
    if not convolutions:
        return tuple(ops), basis
    if run.device == "cuda" and not torch.cuda.is_available():
        return tuple(ops), (f"{basis}; convolution workspaces not included: "
                            "there is no CUDA device here to calibrate them on")
    cache = workspaces if workspaces is not None else default_cache(run.device)
    out = list(ops)
    for index, (sig, batch) in convolutions.items():
        extra = what_if_bytes(cache.bytes_at(sig, batch), run.torch_dtype, what_if_element(run))
        op = out[index]
        names = ",".join(n for n in (op.rules, WORKSPACE_RULE) if n)
        out[index] = replace(op, transient_bytes=op.transient_bytes + extra, rules=names)
    cache.save()
    basis = f"{basis}; {cache.describe()}"
    if run.mode == "train":
        basis += "; backward ops are counted without workspaces or temporaries (not calibrated)"
    return tuple(out), basis
