"""The E2FGVI and ProPainter profiles: found from the releases' module names (tests/models/e2fgvi and
tests/models/propainter are stand-ins with the releases' module names, parameter shapes and operation order),
their stage maps, headline tensors and formula checks at 240x432, t = 1 and 2, through the API as a user calls
it (`--inputs` functions beside the stand-ins make the forwards' arguments)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map_only
from torch.utils.flop_counter import FlopCounterMode

from dstt_profile.api import profile, run_config
from dstt_profile.engine.subject import InputSpec, Subject
from dstt_profile.profiles import e2fgvi, known, propainter
from dstt_profile.profiles.e2fgvi.formulas import sizes_of as e2fgvi_sizes
from dstt_profile.profiles.e2fgvi.sizes import pyramid_macs, rolled_keys
from dstt_profile.profiles.propainter.sizes import sizes_of as propainter_sizes
from dstt_profile.profiles.propainter.windows import box_windows, masked_windows
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import RunRecord

MODELS = Path(__file__).resolve().parent / "models"
E2FGVI, PROPAINTER = MODELS / "e2fgvi", MODELS / "propainter"
SPEC = {"batch": 1, "height": 240, "width": 432, "dtype": torch.float32, "device": "cpu"}


def _reference(root: Path, file: str, **options: Any) -> dict[str, Any]:
    return {"model": f"{root / 'model' / file}:InpaintGenerator", "model_path": (str(root),),
            "inputs": f"{root / 'inputs.py'}:inputs", **options}


def _runs(root: Path, file: str) -> tuple[RunRecord, RunRecord]:
    one, two = profile(frames=[1, 2], res="240x432", scaling=False, **_reference(root, file)).result.runs
    return one, two


def _built(root: Path, file: str) -> tuple[nn.Module, Subject]:
    """The stand-in, built on the CPU as the loader builds it (no weight initialisation), and its subject."""
    subject = subject_for(run_config(2, **_reference(root, file, model_args={"init_weights": False})))
    return subject.build(True).eval(), subject


@pytest.fixture(scope="module")
def e2fgvi_runs() -> tuple[RunRecord, RunRecord]:
    return _runs(E2FGVI, "e2fgvi.py")


@pytest.fixture(scope="module")
def propainter_runs() -> tuple[RunRecord, RunRecord]:
    return _runs(PROPAINTER, "propainter.py")


@pytest.fixture(scope="module")
def e2fgvi_net() -> tuple[nn.Module, Subject]:
    return _built(E2FGVI, "e2fgvi.py")


@pytest.fixture(scope="module")
def propainter_net() -> tuple[nn.Module, Subject]:
    return _built(PROPAINTER, "propainter.py")


def _elements(run: RunRecord) -> dict[str, int]:
    return {name: stage.elements for name, stage in run.stages.items()}


def _checks(run: RunRecord, count: int) -> dict[str, Any]:
    assert len(run.checks) == count and all(c.passed for c in run.checks), [c for c in run.checks if not c.passed]
    return {c.name: c for c in run.checks}


class _RealMasks(TorchDispatchMode):
    """Ops on real tensors alone (the masks' pooling and `nonzero`) run for real, every other on fake tensors."""

    def __init__(self, fake: FakeTensorMode) -> None:
        super().__init__()
        self.fake = fake

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if any(isinstance(a, FakeTensor) for a in tree_leaves((args, kwargs))):
            args, kwargs = tree_map_only(torch.Tensor, lambda a: a if isinstance(a, FakeTensor) else self.fake.from_tensor(a),
                                         (args, kwargs))
        return func(*args, **kwargs)


def _torch_flops(net: nn.Module, subject: Subject, frames: int, masks: bool) -> int:
    """torch's own count (FlopCounterMode) of one forward of the stand-in: on fake tensors, with the inputs'
    real values where the forward reads them (`masks`: ProPainter's window selection)."""
    fake = FakeTensorMode(allow_non_fake_inputs=True)
    if masks:
        values = subject.inputs(InputSpec(frames=frames, real=True, **SPEC))
        weights = {n: fake.from_tensor(p) for n, p in [*net.named_parameters(), *net.named_buffers()]}
        with torch.no_grad(), FlopCounterMode(display=False) as counter, _RealMasks(fake):
            torch.func.functional_call(net, weights, values.args, values.kwargs)
    else:
        with fake:
            values = subject.inputs(InputSpec(frames=frames, real=False, **SPEC))
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                values.call(net)
    return int(counter.get_total_flops())


# E2FGVI ----------------------------------------------------------------------------------------------------


def test_e2fgvi_is_found_with_its_stages_in_network_order(e2fgvi_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = e2fgvi_runs
    assert (two.profile.name, two.title, two.profile.quadratic_stage) == ("e2fgvi", "InpaintGenerator", "attention")
    assert list(two.stages) == ["flow_completion", "encoder", "feature_propagation", "soft_split", "attention",
                                "fusion_ffn", "soft_composition", "decoder", "output"]
    assert two.profile.note.startswith(
        "E2FGVI's module names: the E2FGVI profile; sizes read from the module: channels 128, hidden 512, heads 4, "
        "blocks 8, soft split kernel 7x7 stride 3x3 padding 3x3, window 5x9 (keys per frame 45 + 120 rolled + 45 "
        "pooled), fusion FFN 1960; formulas for num_local_frames = t")
    assert two.params == 41_799_743


def test_e2fgvi_headlines_at_t1_and_t2(e2fgvi_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = e2fgvi_runs
    # tokens per frame n = ((60 + 2*3 - 7)//3 + 1) * ((108 + 2*3 - 7)//3 + 1) = 20*36 = 720, in 4*4 windows of 5x9;
    # a window's t*45 queries attend to t*(45 + 120 + 45) keys: its own 45 tokens, the 4*(45 - 3*5) = 120 the four
    # rolls by (2, 4) bring in, and the 45 pooled tokens (a 5x9 unfold of the frame's 4x4 pooled windows)
    attention = two.stages["attention"]
    assert (attention.shape, attention.module, attention.instances) == ((16, 4, 90, 420), "transformer.0.attn.softmax", 8)
    assert _elements(two) == {
        "flow_completion": 12_960,  # (t-1)*2*60*108: SPyNet's forward flows at 1/4 size
        "encoder": 1_658_880,  # 2*128*60*108
        "feature_propagation": 1_658_880,  # 2*128*60*108
        "soft_split": 737_280,  # t*n*d = 2*720*512
        "attention": 2_419_200,  # 16 windows * 4 heads * (2*45) * (2*210) = k*n*(A+R+P)*t^2 = 4*720*210*4
        "fusion_ffn": 2_822_400,  # t*n*f = 2*720*1960
        "soft_composition": 9_031_680,  # t*n*c*7*7 = 2*720*6272
        "decoder": 622_080,  # 2*3*240*432
        "output": 622_080,
    }
    assert attention.bytes == 9_676_800  # 2,419,200 * 4 B
    assert one.stages["attention"].shape == (16, 4, 45, 210) and one.stages["attention"].elements == 604_800  # 4*720*210
    assert one.stages["flow_completion"].elements == 0  # t = 1: no frame pair, SPyNet runs on an empty batch
    assert two.stages["output"].module == "" and two.stages["output"].headline == "tanh output"


def test_e2fgvi_formula_checks(e2fgvi_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = e2fgvi_runs
    _checks(one, 19)
    checks = _checks(two, 19)
    attention = checks["attention.elements"]
    assert (attention.formula, attention.formula_substituted, attention.expected) == (
        "k*n*(A+R+P)*t^2", "t^2*4*720*210", 2_419_200)
    flops = checks["attention.flops"]
    # per t: 8 blocks * 2*512*(4*720*512 + 3*16*512 + 16*45) = 12,286,820,352 (q/k/v and the projection, q/k/v of
    # the 16 pooled windows, the pooling Linear); per t^2: 8 * 4*720*210*512 = 2,477,260,800 (the two products)
    assert (flops.formula, flops.formula_substituted) == (
        "L*(8*t*n*d^2 + 6*t*n_wp*d^2 + 2*t*n_wp*a_p*d + 4*t^2*n*(A+R+P)*d)", "t*12286820352 + t^2*2477260800")
    assert flops.expected == flops.measured == 34_482_683_904  # 2*12,286,820,352 + 4*2,477,260,800
    # SPyNet: 6 levels of 49*(8*32 + 32*64 + 64*32 + 32*16 + 16*2) = 239,904 multiply-adds a pixel on the 60x108
    # frames padded to 64x128: 10,920 pixels over the pyramid; both directions, 2 FLOPs each: 4*(t-1)*2,619,751,680
    assert checks["flow_completion.flops"].measured == 10_479_006_720
    assert checks["fusion_ffn.flops"].measured == 46_242_201_600  # L*4*t*n*d*f = 8*4*2*720*512*1960
    assert checks["soft_split.flops"].measured == checks["soft_composition.flops"].measured == 9_248_440_320
    # 2*60*108*((t-1)*3,068,928 + t*1,064,960): alignment (offsets and the deformable 3x3) on t-1 frames each way,
    # the backbones and the fusion on every frame
    assert checks["feature_propagation.flops"].measured == 67_377_070_080
    assert checks["soft_composition_fold.elements"].measured == 1_658_880  # 2*128*60*108


def test_e2fgvi_flops_equal_torchs_flop_counter(e2fgvi_runs: tuple[RunRecord, RunRecord],
                                                e2fgvi_net: tuple[nn.Module, Subject]) -> None:
    _, two = e2fgvi_runs
    assert _torch_flops(*e2fgvi_net, 2, masks=False) == two.flops.total == 327_989_474_304


def test_e2fgvi_root_ops_are_staged(e2fgvi_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = e2fgvi_runs
    root = [(op.op, op.stage) for op in two.ops if op.module == ""]
    # the frames' scaling and 1/4 resize before SPyNet runs belong to flow completion, the features' views to the
    # encoder, their concatenation to the propagation, the skip add to the soft composition; tanh is the output
    assert list(dict.fromkeys(stage for _, stage in root)) == [
        "flow_completion", "encoder", "feature_propagation", "soft_composition", "output"]
    assert ("aten.upsample_bilinear2d", "flow_completion") in root and ("aten.add", "soft_composition") in root
    assert [op for op, stage in root if stage == "output"] == ["aten.tanh"]


# ProPainter ------------------------------------------------------------------------------------------------


def test_propainter_is_found_with_its_stages_in_network_order(propainter_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = propainter_runs
    assert (two.profile.name, two.title, two.profile.quadratic_stage) == ("propainter", "InpaintGenerator", "attention")
    assert list(two.stages) == ["encoder", "feature_propagation", "soft_split", "attention", "fusion_ffn",
                                "soft_composition", "decoder", "output"]
    assert two.profile.note.startswith(
        "ProPainter's module names: the ProPainter profile; sizes read from the module: channels 128, hidden 512, "
        "heads 4, blocks 8, soft split kernel 7x7 stride 3x3 padding 3x3, window 5x9 (keys per frame 45 + 148 rolled "
        "+ the 4x4-pooled tokens), fusion FFN 1960; masked windows counted from the run's masks")
    assert two.params == 39_429_667


def test_propainter_headlines_at_t1_and_t2(propainter_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = propainter_runs
    # the centred box (rows 60-179, columns 108-323) touches all 4*4 windows of the 20x36 token grid: m = 16, u = 0.
    # A masked window's t*45 queries attend to ceil(t/2) frames (block 0: frames 0, 2, ...) of 45 + 148 + 45 keys:
    # its own tokens, the 4*(45 - 2*4) = 148 the rolls by (3, 5) bring in, the 5*9 tokens the 4x4 pooling makes
    attention = two.stages["attention"]
    assert (attention.shape, attention.module, attention.instances) == (
        (16, 4, 90, 238), "transformers.transformer.0.attention.attn_drop", 8)
    assert _elements(two) == {
        "encoder": 1_658_880,  # 2*128*60*108
        "feature_propagation": 1_658_880,  # l*128*60*108, l = 2
        "soft_split": 737_280,  # t*n*d = 2*720*512
        "attention": 1_370_880,  # m*k*t*A*ceil(t/2)*(A+R+P) = 16*4*(2*45)*(1*238)
        "fusion_ffn": 2_822_400,  # t*n*f = 2*720*1960
        "soft_composition": 9_031_680,  # t*n*c*7*7 = 2*720*6272
        "decoder": 622_080,  # l*3*240*432
        "output": 622_080,
    }
    assert one.stages["attention"].shape == (16, 4, 45, 238) and one.stages["attention"].elements == 685_440
    assert two.stages["output"].shape == (1, 2, 3, 240, 432) and two.stages["output"].module == ""


def test_propainter_formula_checks(propainter_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = propainter_runs
    _checks(one, 17)
    checks = _checks(two, 17)
    attention = checks["attention.elements"]
    assert attention.formula == "m*k*t*A*ceil(t/t_d)*(A+R+P) (no window masked: u*k*t*A^2)"
    assert (attention.formula_substituted, attention.expected) == ("t*16*4*45*238", 1_370_880)
    flops = checks["attention.flops"]
    # per t: 8 * 2*512*(3*720*512 + 720*512 + 2*45*512 + 45*16) = 12,462,981,120 (q/k/v, the projection, k/v of the
    # pooled tokens, the depthwise pooling), no unmasked window (U = 0); per t^2: 4*(8/2)*16*45*238*512
    # = 1,403,781,120 (the masked windows' two products over the blocks' frames)
    assert flops.formula_substituted == "t*12462981120 + t*0 + t^2*1403781120"
    assert flops.expected == flops.measured == 30_541_086_720  # 2*12,462,981,120 + 4*1,403,781,120
    assert checks["soft_composition.flops"].measured == 13_070_499_840  # 2*2*(720*512*6272 + 6480*128*128*9)
    assert checks["feature_propagation.flops"].measured == 66_736_742_400  # 2*60*108*((l-1)*a + l*e)
    assert one.flops.total == 140_951_715_840


def test_propainter_flops_equal_torchs_flop_counter(propainter_runs: tuple[RunRecord, RunRecord],
                                                    propainter_net: tuple[nn.Module, Subject]) -> None:
    _, two = propainter_runs
    assert _torch_flops(*propainter_net, 2, masks=True) == two.flops.total == 316_870_041_600


def test_propainter_root_ops_are_staged(propainter_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = propainter_runs
    root = [(op.op, op.stage) for op in two.ops if op.module == ""]
    # frames and masks joined, the flows and masks resized (all before the propagation) to the encoder, the features
    # joined to the propagation, the mask's layout to the soft split, the skip add to the soft composition
    assert list(dict.fromkeys(stage for _, stage in root)) == [
        "encoder", "feature_propagation", "soft_split", "soft_composition", "output"]
    assert [op for op, stage in root if stage == "output"] == ["aten.tanh", "aten.view"]
    assert {op.stage for op in two.ops if op.module == "max_pool"} == {"encoder"}


def test_the_masked_windows_follow_the_mask(propainter_net: tuple[nn.Module, Subject]) -> None:
    net, subject = propainter_net
    sizes = propainter_sizes(net)
    for height, width, expected in ((240, 432, 16), (480, 864, 36)):
        # 480x864: the box's rows 120-359 are feature rows 30-89, token rows 9-30, window rows 1-6 (of 8); columns
        # likewise 1-6 of 8: 36 of 64 windows
        values = subject.inputs(InputSpec(batch=2, frames=3, height=height, width=width, dtype=torch.float32,
                                          device="cpu", real=True))
        masks = values.args[2]
        assert box_windows(height, width, sizes, (height // 4, width // 4)) == expected
        assert masked_windows(masks, 3, sizes) == (expected, expected)
    masks = torch.zeros(2, 2, 1, 240, 432)
    masks[0, 1, :, 0:8, 0:8] = 1  # one corner of one frame: feature rows 0-1, token rows 0-1: window (0, 0)
    assert masked_windows(masks, 2, sizes) == (1, 0)
    assert masked_windows(masks, 1, sizes) == (0, 0)  # only the first frame is local


def test_propainter_with_a_corner_mask(tmp_path: Path) -> None:
    source = tmp_path / "corner.py"
    source.write_text(
        "import torch\n\n"
        "def inputs(batch, frames, height, width, dtype, device):\n"
        "    clip = torch.zeros(batch, frames, 3, height, width, dtype=dtype, device=device)\n"
        "    flows = tuple(torch.zeros(batch, frames - 1, 2, height, width, dtype=dtype, device=device) for _ in range(2))\n"
        "    masks = torch.zeros(batch, frames, 1, height, width, dtype=dtype, device=device)\n"
        "    masks[:, :, :, 0:8, 0:8] = 1\n"
        "    return clip, flows, masks, masks, frames\n", encoding="utf-8")
    run = profile(frames=2, scaling=False, **_reference(PROPAINTER, "propainter.py", inputs=f"{source}:inputs")).run
    checks = _checks(run, 17)
    # one masked window (m = 1, u = 15): its matrix 1*4*(2*45)*(1*238); the 15 others attend within each frame
    assert run.stages["attention"].shape == (1, 4, 90, 238) and checks["attention.elements"].expected == 85_680
    assert checks["attention.flops"].measured == 26_272_235_520


# Inputs and detection --------------------------------------------------------------------------------------


def test_the_inputs_functions() -> None:
    e2 = subject_for(run_config(2, **_reference(E2FGVI, "e2fgvi.py"))).inputs
    clip, local = e2(InputSpec(frames=3, real=True, **SPEC)).args
    assert clip.shape == (1, 3, 3, 240, 432) and local == 3 and float(clip.abs().max()) <= 1.0
    pp = subject_for(run_config(2, **_reference(PROPAINTER, "propainter.py"))).inputs
    clip, flows, masks_in, masks_updated, local = pp(InputSpec(frames=3, real=True, **SPEC)).args
    assert [f.shape for f in flows] == [(1, 2, 2, 240, 432)] * 2 and local == 3
    assert masks_in.shape == (1, 3, 1, 240, 432) and torch.equal(masks_in, masks_updated)
    assert masks_in.sum() == 3 * 120 * 216 and masks_in[0, :, 0, 60:180, 108:324].min() == 1  # a centred quarter


def _subject(run: RunConfig, stage_of: Any, first: str) -> Subject:
    return Subject(key="probe", build=lambda real: nn.Identity(), stage_of=stage_of, first_stage=first)


def test_each_release_is_found_by_its_own_detector_only(e2fgvi_net: tuple[nn.Module, Subject],
                                                        propainter_net: tuple[nn.Module, Subject]) -> None:
    e2_net, pp_net = e2fgvi_net[0], propainter_net[0]
    assert e2fgvi.detect("e", _subject, pp_net) is None and propainter.detect("p", _subject, e2_net) is None
    assert [p.name if p else None for p in (known.detected("x", _subject, n) for n in (e2_net, pp_net))] == [
        "e2fgvi", "propainter"]
    tiny = nn.Sequential(nn.Conv2d(3, 3, 3))
    assert e2fgvi.detect("t", _subject, tiny) is None and propainter.detect("t", _subject, tiny) is None


def test_sizes_are_read_off_the_module_not_assumed(e2fgvi_net: tuple[nn.Module, Subject],
                                                   propainter_net: tuple[nn.Module, Subject]) -> None:
    e2_net, pp_net = e2fgvi_net[0], propainter_net[0]
    blocks = e2_net.transformer
    try:
        e2_net.transformer = nn.Sequential(*list(blocks)[:3])
        for block in e2_net.transformer:
            block.attn.num_heads = 8
        sizes = e2fgvi_sizes(e2_net)
        assert (sizes.k, sizes.L, sizes.window, sizes.R, sizes.P, sizes.f) == (8, 3, (5, 9), 120, 45, 1960)
        found = e2fgvi.detect("fork", _subject, e2_net)
        assert found is not None and found.formulas is not None
        value = found.formulas.stage(RunConfig(frames=3), "attention", True)
        assert value is not None and value.value == 10_886_400  # 8*720*210*3^2
    finally:
        e2_net.transformer = blocks
    composition = e2_net.sc.t2t
    try:
        del e2_net.sc.t2t  # E2FGVI-HQ's soft composition has a convolution, no Fold: not this profile's
        assert e2fgvi.detect("hq", _subject, e2_net) is None
    finally:
        e2_net.sc.t2t = composition
    heads = [block.attention.n_head for block in pp_net.transformers.transformer]
    try:
        for block in pp_net.transformers.transformer:
            block.attention.n_head = 8
        found = propainter.detect("fork", _subject, pp_net)
        assert found is not None and found.formulas is not None
        # no inputs function: the stated mask (16 windows at 240x432), 8 heads, t = 3: 16*8*(3*45)*(2*238)
        value = found.formulas.stage(RunConfig(frames=3), "attention", True)
        assert value is not None and value.value == 8_225_280
    finally:
        for block, k in zip(pp_net.transformers.transformer, heads):
            block.attention.n_head = k


def test_window_arithmetic() -> None:
    assert rolled_keys((5, 9), (2, 4)) == 120  # E2FGVI: each roll keeps 45 - 3*5
    assert rolled_keys((5, 9), (3, 5)) == 148  # ProPainter: each roll keeps 45 - 2*4
    assert rolled_keys((1, 9), (0, 4)) == 9 + 9 + 4 + 4  # a [:-0] slice is empty: two rolls zero nothing
    assert pyramid_macs((1,) * 6, 60, 108) == 10_920  # 64x128 padded: 2*4 + 4*8 + ... + 64*128
