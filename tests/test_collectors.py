"""Liveness, hooks, the stage map and costs, on small models with hand-computed answers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from dstt_profile.engine.hooks import ModuleTracker
from dstt_profile.engine.liveness import Liveness
from dstt_profile.engine.recorder import OpRecorder
from dstt_profile.profiles.dstt.stages import stage_of
from model.config import DSTTConfig

KIND = DSTTConfig().block_kind


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.act = nn.ReLU(inplace=True)
        self.b = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.a(x))  # (16, 8): 16*8*4 = 512 B; ReLU in place allocates nothing
        v = h.view(-1)  # a view allocates nothing
        del v
        return self.b(h)  # (16, 2): 16*2*4 = 128 B while h is alive


def _record(model: nn.Module, x: torch.Tensor) -> tuple[OpRecorder, Liveness, ModuleTracker]:
    live = Liveness()
    live.mark_external(list(model.parameters()))
    live.mark_external(x)
    tracker = ModuleTracker(model)
    rec = OpRecorder(tracker, live, lambda name: stage_of(name, KIND), first_stage="encoder")
    with tracker, torch.no_grad(), rec:
        out = model(x)
        del out
    return rec, live, tracker


@pytest.mark.parametrize("fake", [False, True])
def test_liveness_storage_aware(fake: bool) -> None:
    mode = FakeTensorMode() if fake else None
    with mode or torch.no_grad():
        model = Toy()
        x = torch.randn(16, 4)
        rec, live, _ = _record(model, x)
    allocs = {o.op: o.alloc_bytes for o in rec.ops}
    assert allocs["aten.relu_"] == 0  # in place
    assert allocs["aten.view"] == 0  # a view
    assert rec.ops[[o.op for o in rec.ops].index("aten.addmm")].alloc_bytes == 512  # 16*8 floats * 4 B
    assert rec.tensor_peak_bytes == 512 + 128  # h and the output alive together
    # The FLOPs of a Linear: 2 * 16 * 4 * 8 = 1024 and 2 * 16 * 8 * 2 = 512 (2 per multiply-add)
    assert sum(o.flops for o in rec.ops) == 1024 + 512
    # everything allocated was released once the pass ended, in both views, real or fake
    assert (live.live, live.held) == (0, 0)


def test_hooks_removed_and_mode_restored() -> None:
    model = Toy()
    model.train()
    with ModuleTracker(model, train=False) as tracker:
        assert not model.training
        model(torch.randn(2, 4))
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert tracker.calls["a"].outputs[0].shape == (2, 8)
    assert tracker.calls[""].inputs[0].shape == (2, 4)


def test_failing_forward_names_the_module() -> None:
    model = Toy()

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    model.b.forward = broken  # type: ignore[method-assign]
    tracker = ModuleTracker(model)
    with pytest.raises(RuntimeError), tracker:
        model(torch.randn(2, 4))
    assert tracker.failing_module() == "b"
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize(
    ("module", "stage"),
    [
        ("encoder.3", "encoder"),
        ("hier_enc.layers.4", "hier_enc"),
        ("patch2vec", "he_output"),
        ("transformer.0.norm1", "temporal_attention"),
        ("transformer.0.attention.attention", "temporal_attention"),
        ("transformer.5.attention.query_embedding", "spatial_attention"),
        ("transformer.5.norm2", "ffn"),
        ("transformer.6.ffn.conv.0", "ffn"),
        ("vec2patch.to_patch", "vec2patch"),
        ("decoder.4.conv", "decoder"),
        ("output", "output"),
        ("", None),
        ("transformer", None),
        ("transformer.3", None),
    ],
)
def test_stage_map(module: str, stage: str | None) -> None:
    assert stage_of(module, KIND) == stage
