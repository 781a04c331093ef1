"""`--runtime openvino`: each run converted to an IR written beside the report, its stages beside PyTorch's,
and with --measure both runtimes' time per stage, OpenVINO's peak RSS above a stated baseline and the
outputs' difference; without OpenVINO, one line and exit 2 saying how to install it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from dstt_profile.cli.main import main
from dstt_profile.cli.options import main_parser, runs_from_options
from dstt_profile.ir.reader import Layer, Port
from dstt_profile.ir.stages import Found
from dstt_profile.openvino.compare import stage_row
from dstt_profile.openvino.convert import module_of, stage_for
from dstt_profile.records.openvino import GLUE, from_meta
from dstt_profile.records.schema import Result, StageRecord

TINY = f"{Path(__file__).parent / 'models' / 'tinyvideo.py'}:TinyVideoNet"
INSTALL = "pip install 'dstt-profile[openvino]'"


@pytest.fixture
def openvino() -> Any:
    return pytest.importorskip("openvino")


def _result(path: Path) -> tuple[Result, dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return Result.from_json(text), json.loads(text)


def test_dstt_converts_and_every_stage_agrees(openvino: Any, tmp_path: Path) -> None:
    from dstt_profile.api import profile_runs
    from dstt_profile.openvino.runtime import openvino_record

    args = main_parser().parse_args(["--blocks", "2", "--hidden", "64", "--channel", "32", "--res", "48x96",
                                     "--frames", "1"])
    report = profile_runs(runs_from_options(args), scaling=False)
    record = openvino_record(report.runs, {1: tmp_path / "dstt.xml"}, measured=False, repeats=1)
    assert record.version == openvino.__version__
    (run,) = record.runs
    assert run.frames == 1 and run.xml == str(tmp_path / "dstt.xml") and run.measured is None
    assert run.bin_bytes == (tmp_path / "dstt.bin").stat().st_size
    assert run.bin_bytes > 3.9 * report.run.params  # float32, not compressed to float16 (2 bytes a weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dstt.bin", "dstt.xml"]  # no temporary left
    assert [s.name for s in run.stages] == list(report.run.stages)  # every PyTorch stage, in its order
    assert all(s.agree and s.difference == "" for s in run.stages), [s.difference for s in run.stages]
    by_name = {s.name: s for s in run.stages}
    # 48x96: a 4x8 token grid, 32 tokens per frame; at t=1 a temporal zone holds 1*32/4 = 8 of them
    assert by_name["temporal_attention"].ir_shape == (1, 4, 4, 8, 8)
    assert by_name["temporal_attention"].ir_layer.startswith("__module.transformer.0.attention.attention/")
    assert by_name["spatial_attention"].ir_shape == (1, 1, 4, 32, 32)
    # Vec2Patch: d -> c'*p^2 = 16*49 = 784 per token
    assert by_name["vec2patch"].ir_shape == (1, 32, 784) and by_name["vec2patch"].ir_elements == 25_088
    assert by_name["output"].ir_layer == "__module.output/aten::tanh/Tanh"


def test_measure_gives_both_runtimes_per_stage(openvino: Any, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--runtime", "openvino", "--measure", "--repeats", "1", "--model", TINY, "--frames", "2",
                 "--res", "32x32", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    stem = "tinyvideonet_t2_32x32_float32"
    for suffix in ("json", "csv", "html", "xml", "bin", "openvino.html"):  # the IR beside the report
        assert (tmp_path / f"{stem}.{suffix}").is_file(), suffix
    assert f"wrote {tmp_path / stem}.xml" in out and f"wrote {tmp_path / stem}.bin" in out
    result, data = _result(tmp_path / f"{stem}.json")
    assert data["meta"]["openvino"]["runs"][0]["stages"][0]["name"] == "stem"  # the JSON's own section
    record = from_meta(result.meta)
    assert record is not None
    (run,) = record.runs
    assert [s.name for s in run.stages] == ["stem", "temporal", "head"] and run.agree
    assert "3/3 agree" in out and "differ" not in out
    assert {s.name: s.ir_shape for s in run.stages}["temporal"] == (256, 2, 2)  # the attention matrix, 16*16 pixels
    m = run.measured
    assert m is not None
    assert (m.device, m.precision, m.performance_hint, m.repeats) == ("CPU", "f32", "LATENCY", 1)
    assert m.threads == result.runs[0].config.threads
    assert {"stem", "temporal", "head"} <= set(m.stage_seconds) and all(v >= 0 for v in m.stage_seconds.values())
    assert m.rss_baseline_bytes > 0 and m.rss_peak_bytes >= m.rss_baseline_bytes
    assert 0 <= m.max_abs_diff < 1e-4 and len(m.output_max_abs_diff) == 1
    pytorch = result.runs[0].measured
    assert pytorch is not None and {"stem", "temporal", "head"} <= set(pytorch.stage_seconds)
    assert "time per stage, PyTorch and OpenVINO, t=2" in out
    assert "above a baseline of" in out and "measured as RSS" in out and "no per-layer memory" in out
    assert "INFERENCE_PRECISION_HINT f32" in out and "max |PyTorch - OpenVINO|" in out
    page = (tmp_path / f"{stem}.openvino.html").read_text(encoding="utf-8")
    assert "<svg" in page and "time per stage, t=2" in page


def test_without_openvino_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails, as where it is not installed
    code = main(["--runtime", "openvino", "--model", TINY, "--frames", "1", "--res", "16x16", "--out", str(tmp_path)])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and INSTALL in err and err.startswith("dstt-profile: error: --runtime openvino")
    assert list(tmp_path.iterdir()) == []  # refused before any work
    # and everything else runs as before
    assert main(["--model", TINY, "--frames", "1", "--res", "16x16", "--out", str(tmp_path), "--quiet"]) == 0
    assert "openvino" not in json.loads((tmp_path / "tinyvideonet_t1_16x16_float32.json").read_text())["meta"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--mode", "train"], "use --mode inference"),
    (["--dtype", "int8"], "not --dtype int8"),
    (["--runtime", "tensorrt"], "invalid choice"),
])
def test_refused_before_any_work(openvino: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 extra: list[str], message: str) -> None:
    argv = ["--runtime", "openvino", "--model", TINY, "--frames", "1", "--res", "16x16", "--out", str(tmp_path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_an_input_is_never_written_over(openvino: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stages = tmp_path / "tinyvideonet_t1_16x16_float32.xml"  # a stage map named as the IR would be
    text = r"""[stages]
"stem(\\..+)?" = "stem"
"temporal(\\..+)?" = "temporal"
"head(\\..+)?" = "head"
"""
    stages.write_text(text, encoding="utf-8")
    argv = ["--runtime", "openvino", "--model", TINY, "--frames", "1", "--res", "16x16", "--stages", str(stages),
            "--out", str(tmp_path)]
    assert main(argv) == 2
    assert f"the OpenVINO IR at t=1 {str(stages)!r} is also the stage map" in capsys.readouterr().err
    assert stages.read_text(encoding="utf-8") == text and [p.name for p in tmp_path.iterdir()] == [stages.name]


def test_the_analyses_refuse_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scaling", "--runtime", "openvino"]) == 2
    assert "--runtime does not apply here" in capsys.readouterr().err


def test_node_names_to_stages() -> None:
    def stages(module: str) -> str | None:
        return {"encoder.0": "encoder", "transformer.0.attention": "temporal_attention"}.get(module)

    assert module_of("__module.encoder.0/aten::_convolution/Convolution") == "encoder.0"
    # a Reorder the CPU plugin puts between two nodes: the module it feeds
    assert module_of("aten::view/Reshape_abcd_acdb___module.encoder.0/aten::_convolution/Convolution") == "encoder.0"
    assert module_of("Multiply_1234") == ""
    assert stage_for("transformer.0.attention.attention", stages) == "temporal_attention"  # enclosing module
    assert stage_for("transformer.0", stages) == stage_for("", stages) == GLUE


def test_a_difference_is_named() -> None:
    stage = StageRecord(name="ffn", shape=(2, 32, 2048), elements=131_072, bytes=524_288, flops=0, other_flops=0,
                        instances=1, share=0.0, alloc_bytes=0, peak_bytes=0, headline="", module="ffn.0",
                        materialised=True, formula="", formula_substituted="", formula_elements=0, match=None)

    def found(dims: tuple[int, ...]) -> Found:
        port = Port(1, dims, "f32")
        layer = Layer(7, "__module.ffn.0/aten::linear/MatMul", "MatMul", "opset1", {}, (), (port,))
        return Found(layer, port, "ffn.0", "FFN hidden activation", 1)

    row = stage_row(stage, found((64, 2048)), 3)
    assert not row.agree and row.ir_shape == (64, 2048) and row.layers == 3
    assert row.difference == ("the IR's headline (FFN hidden activation) is 64x2048 (131,072 elements), PyTorch's "
                              "2x32x2048 (131,072 elements)")
    assert stage_row(stage, found((2, 32, 2048)), 3).agree
    missing = stage_row(stage, Found(None, None, "", "FFN hidden activation", 0, note="fused away"), 0)
    assert not missing.agree and missing.ir_layer == "" and missing.ir_shape == ()
    assert missing.difference == "the IR holds no FFN hidden activation for it: fused away"
