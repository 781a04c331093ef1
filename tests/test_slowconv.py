"""ATen's own CPU convolutions: the workspace derived from the shapes equals a real call's, on this
machine. Which kernel runs is this machine's choice (bfloat16 and float16 take ATen's kernels on a CPU
without native support, oneDNN's on one with it), so every case is checked against a real call here,
and a case oneDNN takes on this machine is checked to be left to calibration (None)."""

from __future__ import annotations

import itertools

import pytest
from traces import conv_signature

from dstt_profile.engine.calibrate import probe
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.meters import CpuProfilerMeter
from dstt_profile.engine.slowconv import SLOW_2D, SLOW_3D, backend, workspace_bytes


def _signature(dtype: str, dims: int, kernel: int, stride: int, pad: int, dilation: int, groups: int, layout: str) -> ConvSignature:
    channels = 4 * groups
    sample = (channels, 3, 13, 17) if dims == 3 else (channels, 13, 17)
    strided = "strided:0,2,1,3" if dims == 2 else "strided:0,2,1,3,4"
    weight = (8, channels // groups, *([kernel] * dims))
    return conv_signature(
        sample, weight, dtype, stride=stride, padding=pad, dilation=dilation, groups=groups,
        layout=strided if layout == "strided" else "contiguous",
    )


CASES = [
    _signature(dtype, dims, kernel, stride, pad, dilation, groups, layout)
    for dtype, dims, kernel, stride, pad, dilation, groups, layout in itertools.product(
        ("bfloat16", "float32"), (2, 3), (1, 3), (1, 2), (0, 1), (1, 2), (1, 2), ("contiguous", "strided")
    )
    if not (dims == 3 and dilation == 2)  # ATen's dilated 3D kernel is left to calibration
    and not (kernel == 1 and dilation == 2)
]


@pytest.mark.parametrize("batch", [1, 2])
def test_derived_workspace_equals_a_real_call(batch: int) -> None:
    meter = CpuProfilerMeter()
    derived, measured, left = [], [], 0
    for sig in CASES:
        found = workspace_bytes(sig, batch)
        if found is None:
            left += 1
            continue
        derived.append((sig, found))
        measured.append((sig, probe(sig, batch, meter)))
    assert derived == measured
    # 2 dtypes x 2 dims x 2 kernels x 2 strides x 2 paddings x 2 dilations x 2 groups x 2 layouts = 256,
    # less 3D dilated (64) and dilated 1 x 1 (32 in 2D) = 160 signatures
    assert len(CASES) == 160
    assert len(derived) + left == 160 and derived


def test_oneDNN_convolutions_are_left_to_calibration() -> None:
    """A float32 convolution oneDNN takes on this machine is never derived: it is probed."""
    sig = conv_signature((64, 60, 108), (64, 64, 3, 3))
    kind = backend(sig, 1)
    if kind in SLOW_2D | SLOW_3D:
        pytest.skip(f"this machine runs the float32 case with ATen's own kernel ({kind})")
    assert workspace_bytes(sig, 1) is None


def test_columns_of_a_bfloat16_convolution_where_ATen_runs_it() -> None:
    """The rule's arithmetic where this machine runs bfloat16 convolutions itself (no native bfloat16)."""
    sig = conv_signature((64, 60, 108), (64, 64, 3, 3), "bfloat16")
    if backend(sig, 2) not in SLOW_2D:
        pytest.skip("this machine runs bfloat16 convolutions with oneDNN: calibrated, not derived")
    # columns for the batch: 2 * 64 * 3*3 * 60*108 elements * 2 B = 14,929,920
    assert workspace_bytes(sig, 2) == 14_929_920
    assert probe(sig, 2, CpuProfilerMeter()) == 14_929_920
