"""The STTN and FuseFormer profiles: found from the releases' module names (tests/models/sttn, tests/models/fuseformer
are stand-ins with the releases' module names, parameter shapes and operation order), their stage maps,
headline tensors and formula checks at 240x432, t = 1 and 2, through the command line as a user runs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from dstt_profile.cli.main import main
from dstt_profile.engine.subject import Subject
from dstt_profile.profiles import fuseformer, known, sttn
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

MODELS = Path(__file__).resolve().parent / "models"
STTN_FILE = MODELS / "sttn" / "model" / "sttn.py"
FUSEFORMER_FILE = MODELS / "fuseformer" / "model" / "fuseformer.py"
INPUTS = f"{MODELS / 'sttn' / 'inputs.py'}:masked_clip"
RUN = ["--frames", "1,2", "--res", "240x432", "--format", "json", "--quiet"]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _profiled(tmp: Path, *options: str) -> tuple[Result, str]:
    code = main([*RUN, "--out", str(tmp), *options])
    assert code == 0  # exit 0: every formula check passed
    (path,) = tmp.glob("*.json")
    return Result.load(path), path.name


@pytest.fixture(scope="module")
def fuseformer_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRecord, RunRecord]:
    result, name = _profiled(tmp_path_factory.mktemp("fuseformer"), "--model", f"{FUSEFORMER_FILE}:InpaintGenerator")
    assert name == "inpaintgenerator_t1-2_240x432_float32.json"
    one, two = result.runs
    return one, two


@pytest.fixture(scope="module")
def sttn_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRecord, RunRecord]:
    result, _ = _profiled(tmp_path_factory.mktemp("sttn"), "--model", f"{STTN_FILE}:InpaintGenerator", "--inputs", INPUTS)
    one, two = result.runs
    return one, two


def _fake_flops(path: Path, name: str, inputs: Any) -> int:
    """torch's own count (FlopCounterMode) of one forward of the stand-in, on fake tensors."""
    module = _load(path, name)
    with FakeTensorMode():
        net = module.InpaintGenerator(init_weights=False).eval()
        args = inputs()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(*args)
    return int(counter.get_total_flops())


def _elements(run: RunRecord) -> dict[str, int]:
    return {name: stage.elements for name, stage in run.stages.items()}


# FuseFormer ------------------------------------------------------------------------------------------------


def test_fuseformer_is_found_with_its_stages_in_network_order(fuseformer_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = fuseformer_runs
    assert (two.profile.name, two.title, two.profile.quadratic_stage) == ("fuseformer", "InpaintGenerator", "attention")
    assert list(two.stages) == ["encoder", "soft_split", "attention", "fusion_ffn", "soft_composition", "decoder", "output"]
    assert two.profile.note == (
        "FuseFormer's module names: the FuseFormer profile; sizes read from the module: channels 128, hidden 512, "
        "heads 4, blocks 8, soft split kernel 7x7 stride 3x3 padding 3x3, fusion FFN 1960, Fold output 60x108")
    assert two.params == 36_591_299


def test_fuseformer_headlines_at_t2(fuseformer_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = fuseformer_runs
    stages = two.stages
    # tokens per frame n = ((60 + 2*3 - 7)//3 + 1) * ((108 + 2*3 - 7)//3 + 1) = 20 * 36 = 720
    assert stages["attention"].shape == (1, 4, 1440, 1440)
    assert stages["attention"].module == "transformer.0.attention.attention" and stages["attention"].instances == 8
    assert _elements(two) == {
        "encoder": 1_658_880,  # 2*128*60*108
        "soft_split": 737_280,  # t*n*d = 2*720*512
        "attention": 8_294_400,  # k*(t*n)^2 = 4*(720*2)^2
        "fusion_ffn": 2_822_400,  # t*n*f = 2*720*1960
        "soft_composition": 9_031_680,  # t*n*c*7*7 = 2*720*6272
        "decoder": 622_080,  # 2*3*240*432
        "output": 622_080,
    }
    assert stages["attention"].bytes == 33_177_600  # 8,294,400 * 4 B
    assert stages["output"].module == "" and stages["output"].headline == "tanh output"


def test_fuseformer_formula_checks(fuseformer_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = fuseformer_runs
    for run in (one, two):
        assert len(run.checks) == 14 and all(c.passed for c in run.checks), [c for c in run.checks if not c.passed]
    checks = {c.name: c for c in two.checks}
    attention = checks["attention.elements"]
    assert (attention.formula, attention.formula_substituted, attention.expected) == ("k*(t*n)^2", "t^2*4*720*720", 8_294_400)
    flops = checks["attention.flops"]
    # 8*(8*720*512^2) = 12,079,595,520 per t; 8*4*720^2*512 = 8,493,465,600 per t^2
    assert (flops.formula, flops.formula_substituted) == ("L*(8*t*n*d^2 + 4*t^2*n^2*d)", "t*12079595520 + t^2*8493465600")
    assert flops.expected == flops.measured == 58_133_053_440  # 2*12,079,595,520 + 4*8,493,465,600
    assert checks["fusion_ffn.flops"].measured == 46_242_201_600  # L*4*t*n*d*f = 8*4*2*720*512*1960
    assert checks["soft_split.flops"].measured == checks["soft_composition.flops"].measured == 9_248_440_320  # 2*2*720*6272*512
    assert checks["soft_split_unfold.elements"].measured == 9_031_680  # 2*6272*720
    assert checks["fusion_ffn_fold.elements"].measured == 518_400  # 2*(1960/49)*60*108
    assert checks["soft_composition_fold.elements"].measured == 1_658_880  # 2*128*60*108
    # t = 1: the matrix is 4*720^2 = 2,073,600
    assert one.stages["attention"].elements == 2_073_600


def test_fuseformer_flops_equal_torchs_flop_counter(fuseformer_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = fuseformer_runs
    counted = _fake_flops(FUSEFORMER_FILE, "fuseformer_standin", lambda: (torch.empty(1, 2, 3, 240, 432),))
    assert counted == two.flops.total == 273_783_767_040


def test_fuseformer_root_ops_are_staged(fuseformer_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = fuseformer_runs
    root = [(op.op, op.stage) for op in two.ops if op.module == ""]
    # the input view runs before any stage (the encoder's), the skip add after the soft composition, tanh last
    assert root == [("aten.view", "encoder"), ("aten.add", "soft_composition"), ("aten.tanh", "output")]


# STTN ------------------------------------------------------------------------------------------------------


def test_sttn_is_found_with_its_stages_in_network_order(sttn_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = sttn_runs
    assert (two.profile.name, two.profile.quadratic_stage) == ("sttn", "attention")
    assert list(two.stages) == ["encoder", "attention", "ffn", "decoder", "output"]
    assert two.profile.note == ("STTN's module names: the STTN profile; sizes read from the module: channels 256, "
                                "blocks 8, patch sizes (h x w) 60x108, 20x36, 10x18, 5x9")
    assert two.params == 16_556_163


def test_sttn_headlines_and_every_patch_sizes_matrix(sttn_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = sttn_runs
    assert _elements(two) == {
        "encoder": 3_317_760,  # 2*256*60*108
        "attention": 82_944,  # (t*N_max)^2 = (2 * (60/5)*(108/9))^2 = (2*144)^2
        "ffn": 3_317_760,  # 2*256*60*108
        "decoder": 622_080,  # 2*3*240*432
        "output": 622_080,
    }
    attention = two.stages["attention"]
    assert (attention.shape, attention.module, attention.instances) == ((1, 288, 288), "transformer.0.attention.attention", 8)
    assert one.stages["attention"].shape == (1, 144, 144)  # (1*144)^2 = 20,736
    # one matrix per patch size in each block: (t*N_i)^2 with N_i = 1, 9, 36, 144 patches a frame
    matrices = [op.outputs[0].shape for op in two.ops if op.op == "aten._softmax" and op.module == "transformer.0.attention.attention"]
    assert matrices == [(1, 2, 2), (1, 18, 18), (1, 72, 72), (1, 288, 288)]


def test_sttn_formula_checks(sttn_runs: tuple[RunRecord, RunRecord]) -> None:
    one, two = sttn_runs
    for run in (one, two):
        assert len(run.checks) == 9 and all(c.passed for c in run.checks), [c for c in run.checks if not c.passed]
    checks = {c.name: c for c in two.checks}
    flops = checks["attention.flops"]
    # per t: 8 blocks * 2*(3 + 9)*256^2*60*108 = 81,537,269,760 (three 1x1 projections and the 3x3 output conv);
    # per t^2: 8 * 4*64*(1^2*6480 + 9^2*720 + 36^2*180 + 144^2*45) = 8 * 256*1,231,200 = 2,521,497,600
    assert flops.formula_substituted == "t*81537269760 + t^2*2521497600"
    assert flops.expected == flops.measured == 173_160_529_920  # 2*81,537,269,760 + 4*2,521,497,600
    assert checks["ffn.flops"].measured == 244_611_809_280  # 8 * 2*(9 + 9)*256^2*6480 * 2
    assert checks["attention.elements"].formula == "(t*N_max)^2"


def test_sttn_flops_equal_torchs_flop_counter(sttn_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = sttn_runs
    make = _load(MODELS / "sttn" / "inputs.py", "sttn_standin_inputs").masked_clip
    counted = _fake_flops(STTN_FILE, "sttn_standin", lambda: make(batch=1, frames=2, height=240, width=432,
                                                                  dtype=torch.float32, device=torch.device("cpu")))
    assert counted == two.flops.total == 485_554_176_000


def test_sttn_root_ops_are_staged(sttn_runs: tuple[RunRecord, RunRecord]) -> None:
    _, two = sttn_runs
    root = [(op.op, op.stage) for op in two.ops if op.module == ""]
    # the two input views before any stage ran (the encoder's), the masks' resize after the encoder, tanh last
    assert root == [("aten.view", "encoder"), ("aten.view", "encoder"), ("aten.upsample_nearest2d", "encoder"),
                    ("aten.tanh", "output")]


def test_the_masks_are_a_centred_quarter() -> None:
    make = _load(MODELS / "sttn" / "inputs.py", "sttn_standin_inputs").masked_clip
    clip, masks = make(batch=1, frames=2, height=8, width=12, dtype=torch.float32, device=torch.device("cpu"))
    assert clip.shape == (1, 2, 3, 8, 12) and masks.shape == (1, 2, 1, 8, 12)
    assert masks.sum() == 2 * 4 * 6 and masks[0, 0, 0, 2:6, 3:9].min() == 1  # rows 2-5, columns 3-8
    assert bool((clip * masks == 0).all())


# Detection -------------------------------------------------------------------------------------------------


def _subject(run: RunConfig, stage_of: Any, first: str) -> Subject:
    return Subject(key="probe", build=lambda real: nn.Identity(), stage_of=stage_of, first_stage=first)


def _probe(path: Path, name: str) -> nn.Module:
    with torch.device("meta"):
        return _load(path, name).InpaintGenerator(init_weights=False)  # type: ignore[no-any-return]


def test_each_release_is_found_by_its_own_detector_only() -> None:
    sttn_net, fuseformer_net = _probe(STTN_FILE, "sttn_probe"), _probe(FUSEFORMER_FILE, "fuseformer_probe")
    assert sttn.detect("s", _subject, fuseformer_net) is None and fuseformer.detect("f", _subject, sttn_net) is None
    found = [known.detected("x", _subject, net) for net in (sttn_net, fuseformer_net)]
    assert [p.name if p else None for p in found] == ["sttn", "fuseformer"]
    tiny = _load(MODELS / "tinyvideo.py", "tinyvideo_probe").TinyVideoNet()
    assert sttn.detect("t", _subject, tiny) is None and fuseformer.detect("t", _subject, tiny) is None


def test_sizes_are_read_off_the_module_not_assumed() -> None:
    net = _probe(FUSEFORMER_FILE, "fuseformer_fork")
    net.transformer = nn.Sequential(*list(net.transformer)[:3])
    for block in net.transformer:
        block.attention.head = 8
    assert fuseformer.sizes_of(net) == fuseformer.Sizes(c=128, d=512, k=8, L=3, kernel=(7, 7), stride=(3, 3),
                                                        padding=(3, 3), f=1960, fold=(60, 108))
    other = _probe(STTN_FILE, "sttn_fork")
    other.transformer = nn.Sequential(*list(other.transformer)[:2])
    for block in other.transformer:
        block.attention.patchsize = [(108, 60), (9, 5)]
    sizes = sttn.sizes_of(other)
    assert (sizes.c, sizes.L, sizes.patches, sizes.d_k, sizes.o, sizes.ffn) == (256, 2, ((60, 108), (5, 9)), 128, 9, (9, 9))
    profile = sttn.detect("fork", _subject, other)
    assert profile is not None and profile.formulas is not None
    # two patch sizes: N = 1 and 144; the matrix (t*144)^2 at t = 3: 186,624
    value = profile.formulas.stage(RunConfig(frames=3), "attention", True)
    assert value is not None and value.value == 186_624
