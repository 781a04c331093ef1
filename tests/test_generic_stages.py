"""The generic profile's stage table for any model (tests/models/generic_stages.py): stages in the order the
pass first runs them, the root's own ops in a stage `(root)`, an attention stage's headline its matrix
(found in the data flow, or a fused kernel's implicit one), and no formula checks where there are no
formulas: `match` null, a dash in every check column, no "0/0 pass"."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dstt_profile.api import profile
from dstt_profile.cli.main import main
from dstt_profile.records.schema import ROOT_STAGE, Result, RunRecord

MODELS = Path(__file__).resolve().parent / "models"
MODEL = f"{MODELS / 'generic_stages.py'}:OutOfOrder"
SMALL = {"res": "16x16", "scaling": False}
# registered: unused, head, stem, mixer, norm; run: the root's scale, stem, mixer, norm (no op), head
ORDER = [ROOT_STAGE, "stem", "mixer", "norm", "head", "unused"]


def _run(frames: int, **args: Any) -> RunRecord:
    return profile(frames=frames, model=MODEL, model_args=args, **SMALL).run


@pytest.fixture(scope="module")
def two() -> RunRecord:
    return _run(2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str, Path]:
    """The main job at t=2: its JSON run, its terminal summary, its HTML report and the JSON's path."""
    out = tmp_path_factory.mktemp("generic")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["--model", MODEL, "--frames", "2", "--res", "16x16", "--format", "json", "--out", str(out)])
    assert code == 0  # no formulas, so no check can fail the run
    (path,) = out.glob("*.json")
    html = path.with_suffix(".html").read_text(encoding="utf-8")
    return json.loads(path.read_text(encoding="utf-8"))["runs"][0], printed.getvalue(), html, path


def test_stages_in_the_order_the_pass_first_runs_them(two: RunRecord) -> None:
    assert list(two.stages) == list(two.profile.stages) == ORDER
    # stem: Conv2d 3->4, 4x4, stride 4 on (2, 3, 16, 16): 2*4*4*4 = 128 outputs * 48 MACs * 2 = 12,288
    # mixer, per block: q, k, v, proj 4 * (32 tokens * 4 * 4 MACs) = 2,048 MACs; scores and scores x v
    #   2 * (heads 2 * 32 * 32 * d 2) = 8,192 MACs; (2,048 + 8,192) * 2 = 20,480 FLOPs, two blocks 40,960
    # head: Conv2d 4->3, 1x1: 2*3*4*4 = 96 outputs * 4 MACs * 2 = 768
    assert {name: s.flops for name, s in two.stages.items()} == {
        ROOT_STAGE: 0, "stem": 12_288, "mixer": 40_960, "norm": 0, "head": 768, "unused": 0}
    assert two.flops.total == 12_288 + 40_960 + 768 == 54_016


def test_the_roots_own_ops_are_the_root_stage(two: RunRecord) -> None:
    assert {o.stage for o in two.ops if o.module == ""} == {ROOT_STAGE}
    assert not any(o.module == "" for o in two.ops if o.stage != ROOT_STAGE)
    root = two.stages[ROOT_STAGE]
    # the clip scaled by 0.5: b*t*3*H*W = 1*2*3*16*16 = 1,536 elements; 4 bytes each
    assert (root.shape, root.elements, root.bytes, root.instances) == ((2, 3, 16, 16), 1536, 6144, 1)
    assert (root.module, root.headline) == ("", "largest tensor the root module's own ops make (aten.mul)")
    # the mul (6,144 B) and the tokens' copy (b*t*gh*gw*width = 2*4*4*4 = 128 elements, 512 B)
    assert root.alloc_bytes == 6144 + 512
    assert two.modules[0].name == "" and two.modules[0].stage == ROOT_STAGE


def test_an_attention_stage_shows_its_matrix(two: RunRecord) -> None:
    mixer = two.stages["mixer"]
    # (b, heads, n, n) with n = t*gh*gw tokens: heads*(t*gh*gw)^2 = 2*(2*4*4)^2 = 2,048 elements
    assert (mixer.shape, mixer.elements, mixer.bytes) == ((1, 2, 32, 32), 2048, 8192)
    assert (mixer.instances, mixer.module, mixer.materialised) == (2, "mixer.0", True)  # one per block
    assert mixer.headline == "attention matrix (q @ k^T, before softmax)"
    one = _run(1).stages["mixer"]
    # t = 1: 2*(1*4*4)^2 = 512, a quarter of t = 2's: the t^2 growth
    assert (one.shape, one.elements) == ((1, 2, 16, 16), 512)


def test_a_fused_kernels_matrix_is_its_implicit_size() -> None:
    run = _run(2, fused=True)
    mixer = run.stages["mixer"]
    # batch*heads*Lq*Lk = 1*2*32*32 = 2,048, never built
    assert (mixer.shape, mixer.elements, mixer.instances, mixer.materialised) == ((1, 2, 32, 32), 2048, 2, False)
    kernel = next(o.op for o in run.ops if "scaled_dot_product" in o.op)
    assert mixer.headline == f"attention matrix a fused kernel computes without building it ({kernel}: batch*heads*Lq*Lk)"
    assert mixer.flops == 40_960 and list(run.stages) == ORDER


def test_a_stage_without_ops_and_one_never_run(two: RunRecord) -> None:
    norm, unused = two.stages["norm"], two.stages["unused"]
    # norm, an Identity, runs no op: its output is its input tokens, (b, t*gh*gw, width) = 1*32*4 = 128
    assert (norm.shape, norm.elements, norm.instances, norm.headline) == ((1, 32, 4), 128, 1, "output of norm")
    assert (unused.shape, unused.elements, unused.instances, unused.headline) == ((), 0, 0, "no module of the stage ran")


def test_no_formulas_no_checks(two: RunRecord, saved: tuple[dict[str, Any], str, str, Path]) -> None:
    assert two.checks == () and all(s.match is None and s.formula == "" for s in two.stages.values())
    run, terminal, html, _ = saved
    assert [s["match"] for s in run["stages"].values()] == [None] * len(ORDER)  # null in the JSON
    assert list(run["stages"]) == ORDER
    assert "checks       none (no formulas for this model)" in terminal
    assert "mixer   1x2x32x32          2,048          8.0 KiB  40.96 KFLOP  75.8%  -" in terminal
    assert "unused  -                      0              0 B            0   0.0%  -" in terminal
    table = html.split('<table class="stage-table"', 1)[1].split("</table>", 1)[0]
    assert ">pass<" not in table and ">FAIL<" not in table and " = 0<" not in table
    assert table.count("<td><code>-</code></td><td><code>-</code></td><td class=\"\">-</td>") == len(ORDER)
    assert "0/0" not in html and "<dd>none (no formulas for this model)</dd>" in html
    assert "this model has no closed-form formulas to check its figures against" in html


def test_old_files_holding_a_boolean_match_still_load(saved: tuple[dict[str, Any], str, str, Path],
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _, _, _ = saved
    for schema, match in (("dstt-profile/2", False), ("dstt-profile/1", True)):
        old = json.loads(json.dumps(run))
        for stage in old["stages"].values():
            stage["match"] = match  # what files of the generic profile held before null was allowed
        path = tmp_path / f"old{match}.json"
        path.write_text(json.dumps({"schema": schema, "runs": [old]}), encoding="utf-8")
        assert all(s.match is match for s in Result.load(path).runs[0].stages.values())
        assert main(["report", str(path)]) == 0
        table = path.with_suffix(".report.html").read_text(encoding="utf-8").split('<table class="stage-table"', 1)[1]
        assert ">FAIL<" not in table.split("</table>", 1)[0] and ">pass<" not in table.split("</table>", 1)[0]
    capsys.readouterr()


def test_a_stage_map_leaves_the_roots_ops_to_the_root_stage(tmp_path: Path) -> None:
    stages = tmp_path / "stages.toml"
    stages.write_text("[stages]\n'head' = \"head\"\n'stem' = \"(root)\"\n'mixer\\.\\d+' = \"attention\"\n", encoding="utf-8")
    run = profile(frames=2, model=MODEL, stages=str(stages), **SMALL).run
    # the map's own "(root)" is renamed; the root's ops go to the root stage, never to the first mapped stage
    assert list(run.stages) == [ROOT_STAGE, "(root) (module)", "attention", "head"]
    assert {o.stage for o in run.ops if o.module == ""} == {ROOT_STAGE}
    attention = run.stages["attention"]
    assert (attention.elements, attention.instances, attention.module) == (2048, 2, "mixer.0")
    assert run.stages["(root) (module)"].flops == 12_288 and run.stages[ROOT_STAGE].elements == 1536
    assert "the modules' stage '(root)' is named '(root) (module)'" in run.profile.note


class ViewsOnly(nn.Module):
    """The root only transposes the clip (a view): nothing of its own to show."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv3d(3, 2, kernel_size=1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.body(clip.transpose(1, 2))


def test_a_root_of_views_only_is_not_shown() -> None:
    run = profile(frames=1, res="8x8", model=ViewsOnly, scaling=False).run
    assert list(run.stages) == ["body"]
    assert [(o.op, o.stage) for o in run.ops if o.module == ""] == [("aten.transpose", ROOT_STAGE)]


def test_a_sweep_shows_the_attention_stage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--model", MODEL, "--frames", "1,2", "--res", "16x16", "--out", str(tmp_path), "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["t", "mixer", "bytes", "(float32)", "FLOPs", "peak", "(allocator)", "peak", "stage", "checks"]
    # the matrix, 2*(t*16)^2: 512 at t = 1, 2,048 at t = 2; no formulas, so no check counts
    assert [line.split()[:2] + line.split()[-1:] for line in lines[4:6]] == [["1", "512", "-"], ["2", "2,048", "-"]]


def test_a_budgets_check_of_a_model_without_formulas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    budgets = tmp_path / "budgets.toml"
    entry = f'[[budget]]\nname = "generic"\nframes = 2\nres = "16x16"\nmodel = "{MODEL}"\n[budget.stages]\nmixer = '
    budgets.write_text(entry + '"8 KiB"\n', encoding="utf-8")  # the matrix: 2,048 * 4 = 8,192 B
    assert main(["check", str(budgets)]) == 0
    budgets.write_text(entry + "8191\n", encoding="utf-8")
    assert main(["check", str(budgets)]) == 1
    capsys.readouterr()
