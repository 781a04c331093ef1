"""fvcore as an independent second counter, on real tensors at small t, reconciled with ours.

fvcore traces the model with torch.jit and counts one "flop" per multiply-add; we label its figures
multiply-adds (MACs). Our conv / linear / matmul FLOPs are 2 per multiply-add, so each op family
reconciles as ours == 2 * fvcore's. It needs real memory, so it runs at small t only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from dstt_profile.engine.trace import build
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import FvcoreRecord, RunRecord

# Op family -> (our aten ops, fvcore's operator names). Ours are FLOPs, fvcore's multiply-adds.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "convolution": (("aten.convolution",), ("conv", "_convolution")),
    "linear": (("aten.addmm", "aten.mm"), ("linear", "addmm", "mm")),
    "matmul / attention": (
        ("aten.bmm", "aten._scaled_dot_product_flash_attention_for_cpu", "aten._scaled_dot_product_flash_attention",
         "aten._scaled_dot_product_efficient_attention"),
        ("matmul", "bmm", "einsum", "scaled_dot_product_attention"),
    ),
}


def run_fvcore(run: RunConfig) -> FvcoreRecord:
    """fvcore's FlopCountAnalysis and ActivationCountAnalysis of the same model and input, real tensors."""
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    real = run.replace(real=True)
    started = time.perf_counter()
    model, inputs = build(real, subject_for(real))
    model.eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(model, inputs)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(flops.total())
        by_op = {str(k): int(v) for k, v in flops.by_operator().items()}
        by_module = {str(k): int(v) for k, v in flops.by_module().items() if k.count(".") < 2}
        unsupported = {str(k): int(v) for k, v in flops.unsupported_ops().items()}
        acts = ActivationCountAnalysis(model, inputs)
        acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        activations = int(acts.total())
    return FvcoreRecord(
        macs_total=total,
        macs_by_op=by_op,
        macs_by_module=by_module,
        activations_total=activations,
        unsupported=unsupported,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class Reconciled:
    family: str
    ours_flops: int
    fvcore_macs: int

    @property
    def match(self) -> bool:
        return self.ours_flops == 2 * self.fvcore_macs


def reconcile(record: RunRecord) -> list[Reconciled]:
    """Our FLOPs against fvcore's multiply-adds, op family by op family."""
    if record.fvcore is None:
        return []
    rows = []
    for family, (ours, theirs) in FAMILIES.items():
        rows.append(
            Reconciled(
                family,
                sum(record.flops.by_op.get(op, 0) for op in ours),
                sum(record.fvcore.macs_by_op.get(op, 0) for op in theirs),
            )
        )
    return rows
