"""Traces derived as polynomials in t equal the traces themselves, integer for integer."""

from __future__ import annotations

import pytest
import torch

from dstt_profile.analysis.polysummary import comparable
from dstt_profile.api import profile_many, run_config
from dstt_profile.engine import polytrace
from dstt_profile.engine.polytrace import TRACED, TraceFamily, _flatten, worth_deriving
from dstt_profile.engine.trace import trace
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.runs import build_run


@pytest.fixture(scope="module")
def family() -> TraceFamily:
    return TraceFamily(RunConfig(frames=2), subject_for(RunConfig()))


@pytest.mark.parametrize("t", [5, 13, 64])
def test_derived_trace_equals_the_trace(family: TraceFamily, t: int) -> None:
    traced = trace(RunConfig(frames=t), subject_for(RunConfig()))
    derived = family.derive(t)
    assert derived is not None
    assert _flatten(derived) == _flatten(traced)  # every op, module, shape and byte count
    assert (derived.tensor_peak_bytes, derived.tensor_peak_index) == (traced.tensor_peak_bytes, traced.tensor_peak_index)
    assert family.agrees(traced)


def test_derived_peak_moves_between_ops_exactly(family: TraceFamily) -> None:
    t12, t13 = family.derive(12), family.derive(13)
    assert t12 is not None and t13 is not None
    # tensor view: decoder 66,355,200*12 at t=12; temporal 4,147,200*13^2 + 13,639,680*13 at t=13
    assert t12.tensor_peak_bytes == 796_262_400
    assert t12.ops[t12.tensor_peak_index].stage == "decoder"
    assert t13.tensor_peak_bytes == 878_192_640  # 700,876,800 + 177,315,840
    assert t13.ops[t13.tensor_peak_index].stage == "temporal_attention"
    # allocator view: decoder 107,642,880*t + 147,456 until t=22, then the temporal block
    t22, t23 = family.derive(22), family.derive(23)
    assert t22 is not None and t23 is not None
    assert (t22.allocator_peak_bytes, t22.ops[t22.allocator_peak_index].module) == (2_368_290_816, "decoder.4.conv")
    assert t23.allocator_peak_bytes == 2_507_581_440  # 4,147,200*529 + 13,639,680*23
    assert t23.ops[t23.allocator_peak_index].stage == "temporal_attention"


def test_rule_bytes_that_switch_with_t_are_recomputed_not_interpolated() -> None:
    # The CPU flash-attention kernel's per-thread blocks switch size with the sequence length t*180:
    # 360 at t=2 (64-row query blocks), 540 and 720 at t=3, 4 (64, key blocks of 512), 900 at t=5 (256)
    family = TraceFamily(sdpa := build_run(1, model_args={"attention": "sdpa"}), subject_for(sdpa))
    traced = trace(sdpa.replace(frames=5), subject_for(sdpa))
    derived = family.derive(5)
    assert derived is not None and _flatten(derived) == _flatten(traced)
    flash = [o for o in derived.ops if o.op == "aten._scaled_dot_product_flash_attention_for_cpu"]
    threads = torch.get_num_threads()
    # temporal block: (256*512 + 2*256 + 256*128) floats per thread = 164,352 * 4 B
    assert flash[0].rule_transient == threads * (256 * 512 + 2 * 256 + 256 * 128) * 4


def test_t1_is_not_on_the_polynomial(family: TraceFamily) -> None:
    # size-1 dimensions change which ops copy, so t=1 has another structure and is always traced
    assert _flatten(trace(RunConfig(frames=1), subject_for(RunConfig())))[0] != family.skeleton
    assert family.derive(1) is None


@pytest.mark.parametrize(
    "options",
    [{"model_args": {"attention": "sdpa"}}, {"mode": "train", "batch": 2}, {"dtype": "int8"}, {"res": "480x864"}],
)
def test_other_configurations_derive_exactly(options: dict[str, object]) -> None:
    fam = TraceFamily(base := build_run(2, **options), subject_for(base))
    assert fam.consistent
    assert fam.agrees(trace(base.replace(frames=7), subject_for(base)))


def test_worth_deriving() -> None:
    assert worth_deriving(range(1, 65))  # 5 traces (1, 2, 3, 4, 64) instead of 64
    assert not worth_deriving([1, 2, 4, 8])  # 5 traces (1, 2, 3, 4, 8) would not save any
    assert worth_deriving([2, 4, 8, 16, 32, 64])  # 4 traces (2, 3, 4, 64) instead of 6


def test_failed_check_falls_back_to_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(polytrace.TraceFamily, "agrees", lambda self, traced: False)
    found = profile_many([RunConfig(frames=t) for t in range(1, 8)], keep_ops=False)
    assert [r.frames for r in found.runs] == list(range(1, 8))
    assert {r.extra["source"] for r in found.runs} == {TRACED}


def test_sweep_records_equal_traced_records() -> None:
    runs = [RunConfig(frames=t) for t in range(1, 11)]
    derived = profile_many(runs, keep_ops=True)
    sources = [r.extra["source"] for r in derived.runs]
    assert sources[:4] == [TRACED] * 4 and sources[-1] == TRACED  # t=1, the bases 2,3,4, and the check at 10
    assert all(s.startswith("derived from the traces at t=2,3,4") for s in sources[4:-1])
    direct = profile_many([runs[4], runs[8]], keep_ops=True, derive=False)  # t=5 and t=9, each traced
    # derived records carry no per-op or per-module detail; everything else is equal
    assert not derived.runs[4].ops and not derived.runs[4].modules and direct.runs[0].ops
    assert comparable(derived.runs[4]) == comparable(direct.runs[0])
    assert comparable(derived.runs[8]) == comparable(direct.runs[1])


def test_real_runs_are_never_derived() -> None:
    runs = [RunConfig(frames=t, height=16, width=16, real=True) for t in range(1, 7)]
    result = profile_many(runs, keep_ops=False)
    assert {r.extra["source"] for r in result.runs} == {TRACED}


class _OnesBeside(torch.nn.Module):
    """A model with an op no cost function covers (aten.new_ones): the trace's `unsupported` Counter is derived too."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        tokens = clip.mean(dim=2).reshape(clip.shape[0], -1, 4)
        return self.proj(tokens) * tokens.new_ones(tokens.shape)


def test_a_trace_with_uncosted_ops_derives_exactly() -> None:
    base = run_config(2, "4x4", model=_OnesBeside)
    fam = TraceFamily(base, subject_for(base))
    traced = trace(base.replace(frames=7), subject_for(base))
    assert traced.unsupported == {"aten.new_ones": 1}
    derived = fam.derive(7)
    assert derived is not None and derived.unsupported == traced.unsupported  # a Counter, not Counter of pairs
    assert fam.agrees(traced)
