"""`dstt-profile ir MODEL.xml`: an OpenVINO IR read as data. The built-in DSTT converted once (2 blocks, 48x96, t=2)
must give the PyTorch run's stage shapes, elements and FLOPs and pass the same formula checks; hand-written IRs
check the FLOPs by hand, the stage map on layer names, and that a hostile or malformed file is one line, exit 2."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstt_profile.api import profile_run, run_config
from dstt_profile.cli.main import main
from dstt_profile.errors import UsageError
from dstt_profile.ir import costs
from dstt_profile.ir.reader import Layer, Port, read_ir
from dstt_profile.records.ir import RUNTIME, SCHEMA

T, RES, BLOCKS = 2, (48, 96), 2


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], match: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


def _converted(folder: Path, name: str, attention: str, static: bool) -> Path:
    """The built-in DSTT (2 blocks) at 48x96 as OpenVINO's converter makes it, with non-zero biases so the IR keeps
    its bias adds; `static`: the input's shape given (else dynamic shapes, as example_input alone gives)."""
    ov = pytest.importorskip("openvino")
    import torch

    from model import InpaintGenerator
    from model.config import DSTTConfig

    net = InpaintGenerator(DSTTConfig(height=RES[0], width=RES[1], blocks=BLOCKS, attention=attention)).eval()
    with torch.no_grad():
        for param_name, p in net.named_parameters():
            if param_name.endswith("bias"):
                p.fill_(0.01)
    clip = torch.zeros(1, T, 3, *RES)
    path = folder / f"{name}.xml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the model's Python numbers
        ir = ov.convert_model(net, example_input=clip, **({"input": [tuple(clip.shape)]} if static else {}))
    ov.save_model(ir, str(path), compress_to_fp16=False)
    return path


@pytest.fixture(scope="session")
def dstt_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _converted(tmp_path_factory.mktemp("ir"), "dstt", "matmul", static=False)


@pytest.fixture(scope="session")
def static_ir(dstt_ir: Path) -> Path:
    """The same IR with static shapes (OpenVINO's reshape, saved)."""
    ov = pytest.importorskip("openvino")
    model = ov.Core().read_model(str(dstt_ir))
    model.reshape(ov.PartialShape([1, T, 3, *RES]))
    path = dstt_ir.with_name("dstt_static.xml")
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def test_dstt_ir_gives_the_pytorch_runs_stages_and_checks(dstt_ir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["ir", str(dstt_ir), "--frames", str(T), "--res", f"{RES[0]}x{RES[1]}", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "15/15 formulas match" in text and "made static by OpenVINO's shape inference at 1x2x3x48x96" in text
    assert "heads 4, zones 2 assumed" in text and "memory   none" in text
    data = json.loads((out / "dstt_t2_48x96_ir.json").read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA and data["runtime"] == RUNTIME == "openvino-ir"
    run = data["runs"][0]
    assert (run["config"]["frames"], run["config"]["height"], run["config"]["width"]) == (T, *RES)
    assert run["config"]["model_args"] == {"hidden": 512, "channel": 256, "blocks": BLOCKS, "heads": 4, "zones": 2}
    pytorch = profile_run(run_config(T, RES, blocks=BLOCKS))
    assert list(run["stages"]) == list(pytorch.stages)
    for name, stage in pytorch.stages.items():
        ir = run["stages"][name]
        assert ir["found"] and ir["match"] is True, name
        assert (tuple(ir["shape"]), ir["elements"], ir["bytes"], ir["flops"], ir["instances"]) == (
            stage.shape, stage.elements, stage.bytes, stage.flops, stage.instances), name
    assert run["flops"]["total"] == pytorch.flops.total
    assert [c["name"] for c in run["checks"]] == [c.name for c in pytorch.checks]
    assert all(c["expected"] == c["measured"] for c in run["checks"]) and run["unchecked"] == []
    # the headlines are read where the PyTorch run reads them: a module's output, the attention's SoftMax
    assert run["stages"]["ffn"]["layer"] == "__module.transformer.0.ffn.conv.0/aten::linear/Add"
    assert run["stages"]["temporal_attention"]["layer"].endswith("attention.attention/aten::softmax/Softmax")
    assert run["stages"]["spatial_attention"]["shape"] == [1, T, 4, 32, 32]
    layers = {lr["name"]: lr for lr in run["layers"]}
    p2v = layers["__module.patch2vec/aten::_convolution/Convolution"]
    # 2 per multiply-add: t*n*d outputs, each c'*p^2 = 128*49 multiply-adds
    assert p2v["flops"] == 2 * (T * 32 * 512) * (128 * 49) and p2v["outputs"][0]["bytes"] == T * 32 * 512 * 4
    assert {e["source"] for e in run["edges"]} <= {lr["id"] for lr in run["layers"]}
    html = (out / "dstt_t2_48x96_ir.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 1 + html.count('<details id="ir-run-') > 10 and "<script src" not in html
    csv_lines = (out / "dstt_t2_48x96_ir.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 1 + len(run["layers"])


def test_a_static_ir_gives_its_own_clip(static_ir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", str(static_ir), "--out", str(tmp_path), "--format", "none", "--heads", "4"]) == 0
    text = capsys.readouterr().out
    assert "t=2 48x96 batch 1" in text and "read from the IR's input layer masked_frames (1x2x3x48x96)" in text
    assert "heads 4 given; zones 2 assumed" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dstt_static_t2_48x96_ir.html"]
    _one_line_exit_2(["ir", str(static_ir), "--frames", "3", "--out", str(tmp_path)], capsys,
                     "the IR's shapes are static, for the input masked_frames 1x2x3x48x96 (t = 2); --frames asks for 3")


def test_fused_attention_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With sdpa attention OpenVINO keeps the fused op: no matrix in the IR; the stage shows its largest tensor, as a
    --attention sdpa run does, and is checked against the same fused-kernel formula t*n*d."""
    path = _converted(tmp_path, "sdpa", "sdpa", static=True)
    assert main(["ir", str(path), "--out", str(tmp_path), "--format", "json"]) == 0
    text = capsys.readouterr().out
    assert "temporal_attention: the attention matrix is not in the IR: ScaledDotProductAttention computes it" in text
    run = json.loads((tmp_path / "sdpa_t2_48x96_ir.json").read_text(encoding="utf-8"))["runs"][0]
    for name in ("temporal_attention", "spatial_attention"):
        stage = run["stages"][name]
        assert stage["materialised"] is False and stage["formula"] == "t*n*d" and stage["elements"] == T * 32 * 512
        assert stage["match"] is True
    # scores and their product with v, (E + Ev) = 2*128 per query-key pair: b*s^2*k = 16 zone-heads of 16 tokens,
    # b*t*k = 8 frame-heads of 32 tokens
    assert run["flops"]["by_op"]["ScaledDotProductAttention"] == 2 * (16 * 16 * 16 * 256 + 8 * 32 * 32 * 256)
    assert all(c["expected"] == c["measured"] for c in run["checks"]) and len(run["checks"]) == 15


def test_a_dynamic_ir_needs_its_clip(dstt_ir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(["ir", str(dstt_ir), "--out", str(tmp_path)], capsys,
                     "is dynamic (?x?x?x?x?): give --frames and --res")
    assert list(tmp_path.iterdir()) == []


# A hand-written IR: a convolution stem, then attention over 4 tokens of 64 (q = k = v), layer names without
# module paths. FLOPs: conv 2*(4*8*8 outputs)*(3*3*3) = 13,824; scores 2*16*64 = 2,048; mix 2*(4*64)*4 = 2,048.
def _port(pid: int, dims: tuple[int, ...], precision: str = "FP32") -> str:
    return f'<port id="{pid}" precision="{precision}">' + "".join(f"<dim>{d}</dim>" for d in dims) + "</port>"


def _layer(lid: int, name: str, kind: str, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]], data: str = "",
           precision: str = "FP32") -> str:
    inputs = "".join(_port(n, d) for n, d in enumerate(ins))
    outputs = "".join(_port(len(ins) + n, d, precision) for n, d in enumerate(outs))
    return (f'<layer id="{lid}" name="{name}" type="{kind}" version="opset1">{f"<data {data}/>" if data else ""}'
            f'{f"<input>{inputs}</input>" if ins else ""}{f"<output>{outputs}</output>" if outs else ""}</layer>')


LAYERS = [
    _layer(0, "input", "Parameter", [], [(1, 3, 8, 8)], 'shape="1,3,8,8" element_type="f32"'),
    _layer(1, "w_conv", "Const", [], [(4, 3, 3, 3)], 'element_type="f32" shape="4,3,3,3" offset="0" size="432"'),
    _layer(2, "stem/conv", "Convolution", [(1, 3, 8, 8), (4, 3, 3, 3)], [(1, 4, 8, 8)], 'strides="1,1" pads_begin="1,1"'),
    _layer(3, "stem/relu", "ReLU", [(1, 4, 8, 8)], [(1, 4, 8, 8)]),
    _layer(4, "target", "Const", [], [(2,)], 'element_type="i64" shape="2" offset="432" size="16"', precision="I64"),
    _layer(5, "head/tokens", "Reshape", [(1, 4, 8, 8), (2,)], [(4, 64)]),
    _layer(6, "head/scores", "MatMul", [(4, 64), (4, 64)], [(4, 4)], 'transpose_a="false" transpose_b="true"'),
    _layer(7, "head/softmax", "SoftMax", [(4, 4)], [(4, 4)], 'axis="1"'),
    _layer(8, "head/mix", "MatMul", [(4, 4), (4, 64)], [(4, 64)], 'transpose_a="false" transpose_b="false"'),
    _layer(9, "out", "Result", [(4, 64)], []),
]
EDGES = [(0, 0, 2, 0), (1, 0, 2, 1), (2, 2, 3, 0), (3, 1, 5, 0), (4, 0, 5, 1), (5, 2, 6, 0), (5, 2, 6, 1), (6, 2, 7, 0),
         (7, 1, 8, 0), (5, 2, 8, 1), (8, 2, 9, 0)]


def ir_text(layers: list[str] = LAYERS, edges: list[tuple[int, int, int, int]] = EDGES, head: str = "") -> str:
    body = "".join(f'<edge from-layer="{a}" from-port="{b}" to-layer="{c}" to-port="{d}"/>' for a, b, c, d in edges)
    return f'<?xml version="1.0"?>\n{head}<net name="tiny" version="11"><layers>{"".join(layers)}</layers><edges>{body}</edges></net>\n'


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "net.xml"
    path.write_text(ir_text(), encoding="utf-8")
    yield path


def test_an_ir_without_module_names_takes_a_stage_map(tiny: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    _one_line_exit_2(["ir", str(tiny), "--out", str(out)], capsys, "carry no torch module path")
    stages = tmp_path / "stages.toml"
    stages.write_text("[stages]\n'stem/.*' = \"stem\"\n'head/.*' = \"head\"\n", encoding="utf-8")
    assert main(["ir", str(tiny), "--stages", str(stages), "--out", str(out), "--layers"]) == 0
    text = capsys.readouterr().out
    assert "tiny.xml" not in text and "OpenVINO IR net.xml (IR v11, tiny): tiny inputs 1x3x8x8 float32" in text
    assert "head/softmax" in text and "checks  none (no formulas for this model)" in text
    run = json.loads((out / "net_ir.json").read_text(encoding="utf-8"))["runs"][0]
    stem, head = run["stages"]["stem"], run["stages"]["head"]
    assert (stem["shape"], stem["elements"], stem["bytes"], stem["flops"]) == ([1, 4, 8, 8], 256, 1024, 2 * 256 * 27)
    assert stem["layer"] == "stem/relu" and stem["match"] is None  # the first tensor leaving the stage
    assert (head["shape"], head["layer"], head["flops"]) == ([4, 4], "head/softmax", 2 * 16 * 64 + 2 * 256 * 4)
    assert run["flops"] == {"total": 13824 + 4096, "by_op": {"Convolution": 13824, "MatMul": 4096}}
    kinds = {lr["name"]: (lr["kind"], lr["stage"]) for lr in run["layers"]}
    assert kinds["w_conv"] == ("constant", "stem") and kinds["target"] == ("constant", "head")
    assert kinds["input"] == ("input", "stem") and kinds["out"] == ("output", "head")
    assert run["config"]["frames"] is None and "not a (b, t, c, H, W) clip" in run["clip"]["source"]
    stages.write_text("[stages]\n'stem/.*' = \"stem\"\n'tail/.*' = \"tail\"\n", encoding="utf-8")
    _one_line_exit_2(["ir", str(tiny), "--stages", str(stages), "--out", str(out)], capsys,
                     "the pattern 'tail/.*' matches no layer name of the IR")
    _one_line_exit_2(["ir", str(tiny), "--frames", "2", "--out", str(out)], capsys, "and the IR has none")


def test_a_dynamic_ir_without_openvino_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clip = _layer(0, "clip", "Parameter", [], [(-1, -1, 3, -1, -1)], 'shape="?,?,3,?,?" element_type="f32"')
    relu = _layer(1, "__module.net/aten::relu/Relu", "ReLU", [(-1, -1, 3, -1, -1)], [(-1, -1, 3, -1, -1)])
    path = tmp_path / "dyn.xml"
    path.write_text(ir_text([clip, relu, _layer(2, "out", "Result", [(-1, -1, 3, -1, -1)], [])],
                            [(0, 0, 1, 0), (1, 1, 2, 0)]), encoding="utf-8")
    monkeypatch.setitem(sys.modules, "openvino", None)  # as where the extra is not installed
    _one_line_exit_2(["ir", str(path), "--frames", "2", "--res", "8x8", "--out", str(tmp_path)], capsys,
                     "making its shapes static needs OpenVINO (pip install 'dstt-profile[openvino]')")


def test_an_output_never_overwrites_an_input(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stages = tmp_path / "net_ir.csv"  # a stage map under the name the CSV would take
    stages.write_text("[stages]\n'.*' = \"all\"\n", encoding="utf-8")
    before = stages.read_bytes()
    _one_line_exit_2(["ir", str(tiny), "--stages", str(stages), "--out", str(tmp_path)], capsys, "is also the stage map")
    assert stages.read_bytes() == before and not (tmp_path / "net_ir.html").exists()


HOSTILE = {
    "entities": '<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    "external": '<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    "external DTD": '<!DOCTYPE net SYSTEM "http://example.invalid/ir.dtd">',
}


@pytest.mark.parametrize("head", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_xml_is_refused(head: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.xml"
    body = ir_text(head=head).replace('name="tiny"', 'name="&b;"' if "ENTITY a" in head else 'name="&x;"' if "ENTITY x" in head else 'name="t"')
    path.write_text(body, encoding="utf-8")
    _one_line_exit_2(["ir", str(path), "--out", str(tmp_path / "out")], capsys, "refused: the XML holds a DOCTYPE declaration")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("text", "problem"), [
    (ir_text()[:200], "malformed XML: unclosed token"),
    ("<model/>", "the root element is <model>, not <net>"),
    (ir_text().replace('version="11"', 'version="7"'), "IR version 7: only versions 10 and 11 are read"),
    (ir_text().replace("<dim>8</dim>", "<dim>eight</dim>", 1), "layer 0 port 0: dim 'eight' is not a whole number"),
    (ir_text(edges=[*EDGES, (8, 2, 42, 0)]), "edge 11: layer 42 is not in the IR"),
    (ir_text(edges=[*EDGES, (3, 1, 2, 0)]), "is fed by two edges"),
    (ir_text().replace("&", "&amp;") + "&undefined;", "malformed XML"),
])
def test_a_malformed_ir_is_one_line(text: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    err = _one_line_exit_2(["ir", str(path), "--out", str(tmp_path)], capsys, problem)
    assert err.startswith(f"dstt-profile: error: {path}: not an OpenVINO IR (")


def test_names_are_data(tmp_path: Path) -> None:
    """A newline or a C1 control code written as a character reference never reaches the output as such."""
    path = tmp_path / "names.xml"
    path.write_text(ir_text().replace('name="stem/conv"', 'name="stem/conv&#10;&#155;2J"'), encoding="utf-8")
    names = [layer.name for layer in read_ir(path).layers]
    assert "stem/conv\ufffd\ufffd2J" in names and not any("\n" in n or "\x9b" in n for n in names)


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(["ir", str(tmp_path / "none.xml")], capsys, f"ir: no such file '{tmp_path / 'none.xml'}'")
    _one_line_exit_2(["ir", str(tmp_path)], capsys, "is a directory, not an IR's .xml file")
    with pytest.raises(UsageError, match="is a directory"):
        read_ir(tmp_path)


def _costed(kind: str, ins: list[tuple[int, ...]], out: tuple[int, ...], **data: str) -> int | None:
    ports = tuple(Port(n, d, "f32") for n, d in enumerate(ins))
    return costs.flops(Layer(0, "x", kind, "opset1", dict(data), ports, (Port(len(ins), out, "f32"),)))


def test_flops_of_each_counted_type() -> None:
    # grouped 3x3 conv, 8 groups of 32 -> 32 channels: each output takes 32*9 multiply-adds
    assert _costed("GroupConvolution", [(2, 256, 10, 10), (8, 32, 32, 3, 3)], (2, 256, 10, 10)) == 2 * 51200 * 32 * 9
    # transposed conv, weights (C_in 16, C_out 8, 4, 4): every input element spreads over 8*16 outputs
    assert _costed("ConvolutionBackpropData", [(1, 16, 5, 5), (16, 8, 4, 4)], (1, 8, 10, 10)) == 2 * 400 * 8 * 16
    # MatMul with A transposed: A (3, 7, 5) read as (3, 5, 7): K = 7
    assert _costed("MatMul", [(3, 7, 5), (7, 2)], (3, 5, 2), transpose_a="true") == 2 * 30 * 7
    # fused attention: q (2, 4, 10, 16), k (2, 4, 12, 16), v (2, 4, 12, 8): L*S*(E+Ev) per batch*head
    assert _costed("ScaledDotProductAttention", [(2, 4, 10, 16), (2, 4, 12, 16), (2, 4, 12, 8)], (2, 4, 10, 8)) == \
        2 * 8 * 10 * 12 * (16 + 8)
    assert _costed("Add", [(4,), (4,)], (4,)) is None and _costed("MatMul", [(-1, 4), (4, 4)], (-1, 4)) is None
