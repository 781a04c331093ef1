"""fvcore as an independent counter on real tensors, reconciled with ours family by family."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fvcore.nn import FlopCountAnalysis
from traces import profiled

from dstt_profile.engine.trace import build
from dstt_profile.pipeline.runs import run_fvcore
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig


@pytest.mark.parametrize("t", [1, 2])
def test_fvcore_reconciles(t: int) -> None:
    run = RunConfig(frames=t)
    record = profiled(run, keep_ops=False)
    fv = run_fvcore(run)
    # fvcore's total is the sum of its operators (it counts one per multiply-add)
    assert fv.macs_total == sum(fv.macs_by_op.values())
    # our conv / linear / matmul FLOPs are exactly twice fvcore's multiply-adds, family by family
    rows = replace(record, fvcore=fv).fvcore_families()
    assert [family for family, _, _ in rows] == ["convolution", "linear", "matmul / attention"]
    assert all(ours == 2 * macs for _, ours, macs in rows), rows
    # the temporal products alone: 4 blocks * 2 products * t^2*n^2*d/s^2 MACs = 8*t^2*720^2*512/4
    assert fv.macs_by_op["matmul"] == 4 * 2 * t * 720**2 * 512 + 8 * t**2 * 720**2 * 512 // 4
    # fvcore cannot cost these; we list our own costs for them
    assert {"aten::softmax", "aten::col2im", "aten::leaky_relu_"} <= set(fv.unsupported)


def test_fvcore_total_is_its_own() -> None:
    run = RunConfig(frames=1, real=True)
    fv = run_fvcore(run)
    model, inputs = build(run, subject_for(run))
    (frames,) = inputs.args
    model.eval()
    again = FlopCountAnalysis(model, (frames,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert fv.macs_total == again.total() == 52_923_248_640
