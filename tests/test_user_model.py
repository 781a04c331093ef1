"""A model of the user's own, profiled like DSTT: CLI, API, budgets file, measured peak, device check."""

from __future__ import annotations

import csv
import io
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dstt_profile.api import measured_run, profile, profile_many, run_config
from dstt_profile.cli.main import main
from dstt_profile.engine.devicecheck import compare
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.schema import RunRecord

MODELS = Path(__file__).resolve().parent / "models"
TINY = f"{MODELS / 'tinyvideo.py'}:TinyVideoNet"
SMALL = ("--frames", "4", "--res", "32x32")


def _tiny_class() -> type[torch.nn.Module]:
    sys.path.insert(0, str(MODELS))
    try:
        from tinyvideo import TinyVideoNet
    finally:
        sys.path.remove(str(MODELS))
    return TinyVideoNet


@pytest.fixture(scope="module")
def tiny_t4() -> RunRecord:
    return profile(frames=4, res="32x32", model=TINY).run


def test_stages_are_the_top_level_modules_in_call_order(tiny_t4: RunRecord) -> None:
    assert tiny_t4.profile.name == "generic" and tiny_t4.title == "TinyVideoNet"
    assert list(tiny_t4.stages) == ["stem", "temporal", "head"]
    stem, temporal, head = tiny_t4.stages.values()
    # stem: Conv3d 3->8, 3x3x3, stride (1,2,2): (1, 8, 4, 16, 16); 8192 outputs * 81 MACs * 2 = 1,327,104
    assert (stem.shape, stem.elements, stem.flops) == ((1, 8, 4, 16, 16), 8192, 1_327_104)
    # temporal: its headline the attention matrix, (b*h*w, t, t) = 256*4*4 = 4,096 (one block, one head)
    assert (temporal.shape, temporal.elements, temporal.instances) == ((256, 4, 4), 4096, 1)
    assert temporal.headline == "attention matrix (q @ k^T, before softmax)" and temporal.module == "temporal.0"
    # qkv 1024x8x24*2 = 393,216 + scores and mix 2*(256*4*4*8*2) = 131,072 + proj 1024x8x8*2 = 131,072
    assert temporal.flops == 655_360
    # head: 3x3 conv 8->8 on 4x16x16: 8192*72*2 = 1,179,648 + 1x1 conv 8->3: 3072*8*2 = 49,152
    assert (head.shape, head.elements, head.flops) == ((4, 3, 16, 16), 3072, 1_228_800)
    assert tiny_t4.flops.total == 3_211_264 and tiny_t4.checks == () and tiny_t4.flops.unsupported == {}


def test_flops_equal_torchs_flop_counter(tiny_t4: RunRecord) -> None:
    net = _tiny_class()().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 4, 3, 32, 32))
    assert counter.get_total_flops() == tiny_t4.flops.total == 3_211_264


def test_predicted_allocator_peak_equals_the_measured_one() -> None:
    record = measured_run(run_config(4, "32x32", model=TINY), repeats=1)
    measured = record.measured
    assert measured is not None
    # the stem's Conv3d holds a copy of its permuted input (49,152 B) beside oneDNN's workspace
    assert measured.measured_peak_bytes == measured.predicted_allocator_peak_bytes == 413_696
    assert measured.peak_error_pct == 0.0


def test_fake_and_real_agree_op_by_op() -> None:
    run = run_config(4, "32x32", model=TINY)
    fake, differences = compare(run, subject_for(run))
    assert len(fake.ops) > 30 and differences == []


def test_cli_table_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--model", TINY, "--model-arg", "width=8", "--out", str(tmp_path), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    threads = torch.get_num_threads()  # the count predicted for: this process's unless --threads says
    assert out.startswith(f"TinyVideoNet t=4 32x32 batch 1 float32 (width=8, inference, cpu {threads} threads, fake tensors, allocator view)")
    assert "temporal  256x4x4            4,096         16.0 KiB  655.36 KFLOP  20.4%  -" in out
    assert "checks       none (no formulas for this model)" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tinyvideonet_t4_32x32_float32_width8.csv").read_text())))
    assert [(r["stage"], r["flops"], r["heads"], r["model_args"]) for r in rows] == [
        ("stem", "1327104", "", "width=8"), ("temporal", "655360", "", "width=8"), ("head", "1228800", "", "width=8"),
    ]


def test_api_takes_a_factory_object() -> None:
    # `width` is also RunConfig's frame width: a model argument of that name goes in model_args
    run = profile(frames=4, res="32x32", model=_tiny_class(), model_args={"width": 4}).run
    # stem 4 channels: 4*4*16*16 = 4096 outputs * 81 * 2 = 663,552
    assert run.stages["stem"].flops == 663_552 and run.config.args == {"width": 4}


def test_sweep_derives_from_three_traces_and_matches_a_trace() -> None:
    runs = [run_config(t, "32x32", model=TINY) for t in range(1, 9)]
    result = profile_many(runs, keep_ops=False)
    sources = [r.extra["source"] for r in result.runs]
    assert sources.count("traced") == 5 and sources[4].startswith("derived")
    # temporal FLOPs: qkv 256t*8*24*2 + proj 256t*8*8*2 = 131,072 t; scores and mix 2*(256*t*t*8*2) = 8,192 t^2
    assert [r.stages["temporal"].flops for r in result.runs] == [131_072 * t + 8_192 * t * t for t in range(1, 9)]


def test_budgets_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(textwrap.dedent(f"""\
        [[budget]]
        name = "tiny"
        frames = 4
        res = "32x32"
        model = "{MODELS / 'tinyvideo.py'}:tiny"
        model_args = {{ width = 8 }}
        flops = 3_211_264
        [budget.stages]
        temporal = "32 KiB"
        """), encoding="utf-8")
    assert main(["check", str(budgets)]) == 0
    budgets.write_text(budgets.read_text().replace("flops = 3_211_264", "flops = 3_211_263"), encoding="utf-8")
    assert main(["check", str(budgets)]) == 1
    capsys.readouterr()


def test_dstt_size_options_refused_for_another_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--model", TINY, "--heads", "8", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"dstt-profile: error: --heads: DSTT's size options, but --model {TINY} is not DSTT-shaped; "
        "give its own arguments with --model-arg NAME=VALUE\n"
    )


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        ("missing.py:Net", [], "--model {d}/missing.py:Net: {d}/missing.py: no such file"),
        ("bad.py:Nope", [], "--model {d}/bad.py:Nope: {d}/bad.py has no class or function 'Nope'"),
        ("bad.py:raises", [], "--model {d}/bad.py:raises: calling it () raised ValueError: no such size"),
        ("bad.py:not_a_module", [], "--model {d}/bad.py:not_a_module: calling it () returned list, not a torch.nn.Module"),
        ("bad.py:Net", ["--model-arg", "size=2"], "--model {d}/bad.py:Net: calling it (size=2) raised TypeError: "
         "Net.__init__() got an unexpected keyword argument 'size'"),
    ],
)
def test_loading_failures_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, args: list[str], message: str
) -> None:
    (tmp_path / "bad.py").write_text(textwrap.dedent("""\
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Conv2d(3, 3, 1)

        def raises():
            raise ValueError("no such size")

        def not_a_module():
            return [1]
        """), encoding="utf-8")
    out = tmp_path / "out"
    assert main([*SMALL, "--model", f"{tmp_path}/{model}", *args, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"dstt-profile: error: {message.format(d=tmp_path)}\n"


def test_a_users_own_model_package_stays_apart_from_ours(tmp_path: Path) -> None:
    import model as ours

    package = tmp_path / "model"
    package.mkdir()
    (package / "__init__.py").write_text("WIDTH = 6\n", encoding="utf-8")
    (package / "layers.py").write_text(
        "from torch import nn\n\ndef stem(width):\n    return nn.Conv3d(3, width, 3, padding=1)\n", encoding="utf-8"
    )
    (tmp_path / "usernet.py").write_text(textwrap.dedent("""\
        from torch import nn
        from model import WIDTH
        from model.layers import stem

        class UserNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = stem(WIDTH)
                self.head = nn.Conv3d(WIDTH, 3, 1)

            def forward(self, clip):
                return self.head(self.stem(clip.transpose(1, 2)))
        """), encoding="utf-8")
    run = profile(frames=2, res="8x8", model=f"{tmp_path / 'usernet.py'}:UserNet").run
    # stem: Conv3d 3->6, 3x3x3 on (1, 3, 2, 8, 8): 6*2*8*8 = 768 outputs * 81 MACs * 2 = 124,416
    assert list(run.stages) == ["stem", "head"] and run.stages["stem"].flops == 124_416
    import model

    assert model is ours and sys.modules["model"] is ours and hasattr(model, "InpaintGenerator")
    assert "model.layers" not in sys.modules
    from model.config import DSTTConfig

    assert DSTTConfig().hidden == 512


def test_scaling_of_a_model_without_a_quadratic_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scaling", "--model", TINY, "--frames", "1:4", "--res", "32x32"]) == 0
    out = capsys.readouterr().out
    # temporal FLOPs: 131,072 t + 8,192 t^2 (test_sweep_derives_from_three_traces_and_matches_a_trace)
    assert "  temporal.flops: 8192*t^2 + 131072*t + 0 (degree 2" in out
    assert "Temporal" not in out and "temporal block" not in out
    assert main(["whatif", "--model", TINY, "--frames", "2", "--res", "32x32"]) == 2
