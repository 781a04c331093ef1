"""`dstt-profile compare`: several models on one clip. Its figures are the main job's for the same runs (params,
FLOPs, the peak and where it is, the footprint, the laws in t) and `fit`'s largest t; every bad input is one line
and exit 2; the HTML page parses, balanced, with every model's label in its table."""

from __future__ import annotations

import contextlib
import io
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from dstt_profile.analysis.laws import law
from dstt_profile.analysis.report import report_of
from dstt_profile.cli.compare import compare_parser, plan_models, specs_of
from dstt_profile.cli.main import main
from dstt_profile.records.schema import Result

TINY = str(Path(__file__).parent / "models" / "tinyvideo.py")
CLIP = ["--frames", "4", "--res", "48x96"]
DSTT = ["--model", "dstt", "--blocks", "2"]
TINY4 = ["--model", f"{TINY}:TinyVideoNet", "--model-arg", "width=4"]
BUDGET = 128 * 2**20  # --budget 128MiB


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One compare of the built-in DSTT (2 blocks) and TinyVideoNet (width 4), and the main job and `fit` of each."""
    root = tmp_path_factory.mktemp("compare")
    code, out, err = _run(["compare", *CLIP, *DSTT, *TINY4, "--budget", "128MiB", "--out", str(root / "cmp")])
    assert code == 0, err
    stem = root / "cmp" / "compare_dstt_tinyvideonet_t4_48x96_float32"
    main_runs, fits = {}, {}
    for label, model in (("DSTT", DSTT), ("TinyVideoNet", TINY4)):
        assert _run([*CLIP, *model, "--format", "json", "--out", str(root / label), "--quiet"])[0] == 0
        main_runs[label] = Result.load(next((root / label).glob("*.json")))
        code, fit, _ = _run(["fit", "--budget", "128MiB", "--res", "48x96", *model, "--format", "json"])
        assert code == 0
        fits[label] = json.loads(fit)
    data = json.loads(stem.with_suffix(".json").read_text())
    return {"out": out, "err": err, "json": data, "html": stem.with_suffix(".html").read_text(),
            "csv": stem.with_suffix(".csv").read_text(), "main": main_runs, "fit": fits,
            "models": {m["label"]: m for m in data["models"]}}


def test_exact_parameter_counts(compared: dict[str, Any]) -> None:
    models = compared["models"]
    # the released DSTT has 34,529,155 parameters in 8 blocks; a block holds q, k, v and the output projection
    # 4*(512*512 + 512) = 1,050,624, two LayerNorms 2*(2*512) = 2,048 and the FFN (512*2048 + 2048) + (2048*512 + 512)
    # = 2,099,712: 3,152,384 a block, so 2 blocks leave 34,529,155 - 6*3,152,384 = 15,614,851
    assert models["DSTT"]["params"] == 15_614_851
    # TinyVideoNet(width=4): stem Conv3d 3->4, 3x3x3: 3*4*27 + 4 = 328; attention qkv Linear 4->12: 4*12 + 12 = 60 and
    # proj Linear 4->4: 16 + 4 = 20; head Conv2d 4->4, 3x3: 4*4*9 + 4 = 148 and Conv2d 4->3, 1x1: 12 + 3 = 15; 571 in all
    assert models["TinyVideoNet"]["params"] == 328 + 60 + 20 + 148 + 15 == 571


def test_figures_are_the_main_jobs(compared: dict[str, Any]) -> None:
    for label, model in compared["models"].items():
        run = compared["main"][label].runs[0]
        peak = run.peak  # the allocator view, the main job's headline
        assert (model["params"], model["flops"]) == (run.params, run.flops.total)
        assert model["peak"] == {"view": "allocator", "bytes": peak.bytes, "stage": peak.stage, "op": peak.op,
                                 "op_index": peak.op_index, "module": peak.module}
        assert model["footprint"]["total"] == run.footprint.total
        assert model["checks"] == {"passed": sum(c.passed for c in run.checks), "total": len(run.checks)}
        # and the table's row shows the same figures
        row = next(line for line in compared["out"].splitlines() if line.startswith(f"{label} "))
        assert f" {run.params:,} " in row and f" {run.flops.total:,} " in row and f"({peak.bytes:,} B)" in row
        assert f"({run.footprint.total:,} B)" in row
    dstt = compared["models"]["DSTT"]
    # DSTT at t = 4: the allocator peak 4,784,128*4 + 147,456 = 19,283,968 B in decoder.4.conv, its law below
    assert (dstt["peak"]["bytes"], dstt["peak"]["module"]) == (19_283_968, "decoder.4.conv")
    assert dstt["flops"] == 13_033_734_144 == 524_288 * 4**2 + 3_256_336_384 * 4


def test_laws_are_the_main_reports(compared: dict[str, Any]) -> None:
    for label, model in compared["models"].items():
        report = report_of(compared["main"][label])  # the laws the main job's HTML report states
        peaks = [{"stage": seg.stage, "first": seg.law.first, "last": seg.law.last,
                  "coefficients": [str(c) for c in seg.law.poly.coefficients] if seg.law.poly else None}
                 for seg in report.laws.peaks]
        assert [{k: seg[k] for k in ("stage", "first", "last", "coefficients")} for seg in model["laws"]["peak"]] == peaks
        flops = law("FLOPs", list(zip(report.scaling.frames, report.scaling.flops)))
        assert flops.poly is not None
        assert model["laws"]["flops"]["coefficients"] == [str(c) for c in flops.poly.coefficients]
        assert model["scaling"]["frames"] == list(report.scaling.frames) == list(range(2, 17))  # 2..2t, at least 16
    dstt = compared["models"]["DSTT"]["laws"]
    assert [seg["text"] for seg in dstt["peak"]] == ["13,565,952 (one point)", "4,784,128 t + 147,456"]
    assert dstt["flops"]["text"] == "524,288 t^2 + 3,256,336,384 t"
    assert "allocator peak in decoder    t = 3..16: 4,784,128 t + 147,456" in compared["out"]


def test_largest_t_is_fits(compared: dict[str, Any]) -> None:
    for label, model in compared["models"].items():
        assert model["fit"] == compared["fit"][label]
    fit = compared["models"]["DSTT"]["fit"]
    # footprint(t) = weights 62,459,404 + input 55,296 t + peak 4,784,128 t + 147,456: 130,358,796 B at t = 14 fits in
    # 134,217,728 B, 135,198,220 B at t = 15 does not
    assert (fit["max_frames"], fit["footprint_bytes"], fit["next_footprint_bytes"]) == (14, 130_358_796, 135_198_220)
    assert 62_459_404 + 14 * (55_296 + 4_784_128) + 147_456 == 130_358_796 <= BUDGET < 135_198_220
    assert compared["json"]["budget"] == {"bytes": BUDGET, "gate": "footprint"}
    assert "fits in 128.0 MiB (134,217,728 B)" in compared["out"] and "allocator peak" in compared["out"]


def test_json_csv_and_progress(compared: dict[str, Any]) -> None:
    data = compared["json"]
    assert data["schema"] == "dstt-profile-compare/1"
    assert {k: v for k, v in data["clip"].items() if k != "threads"} == {
        "frames": 4, "height": 48, "width": 96, "batch": 1, "dtype": "float32", "device": "cpu", "mode": "inference",
        "memory": "allocator", "optimizer": "adam"}
    assert [m["label"] for m in data["models"]] == ["DSTT", "TinyVideoNet"]
    assert compared["models"]["DSTT"]["given_args"] == {"blocks": 2}
    lines = compared["csv"].splitlines()
    assert len(lines) == 3 and lines[1].startswith("DSTT,dstt,") and ",15614851,62459404,13033734144,19283968," in lines[1]
    assert "compare 1/2 DSTT: t=4 and the scaling series in t ..." in compared["err"]
    assert "compare 2/2 TinyVideoNet: the largest t within 128.0 MiB (footprint) ..." in compared["err"]


class _Checked(HTMLParser):
    """Every element closed in order (void elements apart); the compare table's cells, row by row."""

    VOID = frozenset({"meta", "br", "img", "hr", "input", "link", "col", "wbr", "source", "area", "base", "track"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.rows: list[list[str]] = []
        self.in_table = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(tag)
        if tag == "table" and dict(attrs).get("class") == "compare-table":
            self.in_table = True
        elif self.in_table and tag == "tr":
            self.rows.append([])
        elif self.in_table and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (tag, self.open[-3:])
        self.open.pop()
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None
        elif tag == "table":
            self.in_table = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_html_parses_and_names_each_model(compared: dict[str, Any]) -> None:
    html = compared["html"]
    parser = _Checked()
    parser.feed(html)
    parser.close()
    assert parser.open == []
    rows = [r for r in parser.rows if r]
    assert [r[0] for r in rows] == ["DSTT", "TinyVideoNet"]
    assert rows[0][3].startswith("15,614,851") and rows[0][5] == "18.4 MiB (19,283,968 B)"
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 2  # one chart per model
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")  # nothing fetched


def _error(argv: list[str], out: Path) -> str:
    code, stdout, stderr = _run(["compare", "--out", str(out), *argv])
    lines = stderr.strip().splitlines()
    assert (code, stdout, len(lines)) == (2, "", 1), stderr
    assert lines[0].startswith("dstt-profile: error: compare: ")
    assert not out.exists() or not any(out.iterdir())  # nothing written
    return lines[0]


@pytest.mark.parametrize(("argv", "message"), [
    (DSTT, "give at least two models to compare (--model REF, or --models FILE.toml); 1 given"),
    ([*DSTT, "--model", "dstt", "--model-arg", "blocks=2"],
     "model 1 (--model dstt) and model 2 (--model dstt) are one model (the same reference, arguments and inputs): "
     "give it once"),
    ([*DSTT, *TINY4, "--nope"], "unrecognized arguments: --nope"),
    ([*DSTT, *TINY4, "--budget", "12XB"], "--budget: size '12XB' has an unknown unit 'XB'"),
    ([*DSTT, *TINY4, "--budget", "0"], "a budget is more than 0 bytes"),
    (["--label", "A", *DSTT, *TINY4], "--label applies to one model: give it after that model's --model REF"),
    ([*DSTT, "--label", "A", "--label", "B", *TINY4], "--label is given twice for --model dstt"),
    ([*TINY4, "--model", f"{TINY}:TinyVideoNet"], "are both labelled 'TinyVideoNet': give each its own --label"),
    ([*DSTT, "--model", "no_such_file.py:Net"], "--model no_such_file.py:Net: no_such_file.py: no such file"),
    (["--frames", "1,2", *DSTT, *TINY4], "--frames '1,2': give one t, the clip every model runs on (2 given)"),
    ([*DSTT, "--model", f"{TINY}:TinyVideoNet", "--blocks", "2"], "DSTT's size options, but --model"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], message: str, tmp_path: Path) -> None:
    assert message in _error([*CLIP, *argv], tmp_path / "out")


def test_models_file(tmp_path: Path) -> None:
    """`[[model]]` tables, paths relative to the file: the runs the command line's groups give; an unknown key refused."""
    here = os.path.relpath(TINY, tmp_path)
    models = tmp_path / "models.toml"
    models.write_text(f'[[model]]\nmodel = "dstt"\nmodel_args = {{ blocks = 2 }}\n\n[[model]]\nmodel = "{here}:TinyVideoNet"\n'
                      'label = "tiny"\nmodel_args = { width = 4 }\n')
    from_file = compare_parser().parse_args([*CLIP, "--models", str(models)])
    given = compare_parser().parse_args([*CLIP, *DSTT, *TINY4, "--label", "tiny"])
    from dstt_profile.cli.compare import clip_of

    planned = [plan_models(clip_of(a), specs_of(a)[0]) for a in (from_file, given)]
    assert [label for label, _, _ in planned[0]] == [label for label, _, _ in planned[1]] == ["DSTT", "tiny"]
    assert [Path(r.model.rpartition(":")[0]).resolve() for _, r, _ in planned[0][1:]] == [Path(TINY).resolve()]
    assert [r.replace(model="m") for _, r, _ in planned[0]] == [r.replace(model="m") for _, r, _ in planned[1]]
    # the file's model and the command line's TinyVideoNet are one model, whatever the path to its file
    assert "are one model" in _error([*CLIP, "--models", str(models), *TINY4, "--label", "again"], tmp_path / "out")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[model]]\nmodel = "dstt"\ncolour = "red"\n')
    assert f"{bad}: model #1: unknown key 'colour' (known: model, label, model_args, model_path, inputs, stages)" in _error(
        [*CLIP, "--models", str(bad), *TINY4], tmp_path / "out")


def test_a_failing_forward_names_its_model(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from torch import nn\n\n\nclass Broken(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.body = nn.Linear(5, 3)\n\n    def forward(self, clip):\n        return self.body(clip)\n")
    line = _error([*CLIP, "--quiet", "--model", f"{broken}:Broken", "--label", "broken one", *TINY4], tmp_path / "out")
    assert line.startswith("dstt-profile: error: compare: broken one: forward failed in module 'body'")
