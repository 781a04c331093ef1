"""A saved result re-renders the report it was written with: the main job's HTML and `report X.json`'s
are the same file, every plot's SVG paths included, for a sweep and for a single t (whose scaling
plots come from the series stored in the JSON). A sweep's report leads with its scaling laws."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from traces import html_of

from dstt_profile.analysis.laws import law
from dstt_profile.cli.main import main
from dstt_profile.poly import Poly
from dstt_profile.records.schema import Result
from dstt_profile.render.laws import law_text, poly_text

SWEEP = "dstt_t1-28_240x432_float32"
SINGLE = "dstt_t14_240x432_float32"
TINY_MODEL = f"{Path(__file__).resolve().parent / 'models' / 'tinyvideo.py'}:TinyVideoNet"
TINY = "tinyvideonet_t4_32x32_float32"
STEMS = {"sweep": SWEEP, "single": SINGLE, "tiny": TINY}
DSTT_WORDS = ("temporal attention", "Vec2Patch", "hier_enc")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    assert main(["--frames", "1:28", "--format", "json", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def single_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single")
    assert main(["--frames", "14", "--format", "json", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's model (tests/models/tinyvideo.py): the generic profile, stages stem, temporal, head."""
    out = tmp_path_factory.mktemp("tiny")
    assert main(["--model", TINY_MODEL, "--frames", "4", "--res", "32x32", "--format", "json", "--out", str(out),
                 "--quiet"]) == 0
    return out


def _svg_paths(html: str) -> list[list[str]]:
    """Every <path d="..."> of every <svg>, one list per figure, in page order."""
    return [re.findall(r'<path d="([^"]*)"', svg) for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def _rerender(directory: Path, stem: str) -> tuple[str, str]:
    """The main job's HTML and `report`'s, which goes beside it as <stem>.report.html."""
    original = directory / f"{stem}.html"
    before = original.read_bytes()
    assert main(["report", str(directory / f"{stem}.json")]) == 0
    assert original.read_bytes() == before  # the original report is left as it was
    again = directory / f"{stem}.report.html"
    return before.decode("utf-8"), again.read_text(encoding="utf-8")


@pytest.mark.parametrize("which", ["sweep", "single", "tiny"])
def test_report_rerenders_the_same_html(which: str, request: pytest.FixtureRequest) -> None:
    directory = request.getfixturevalue(f"{which}_dir")
    first, again = _rerender(directory, STEMS[which])
    paths, paths_again = _svg_paths(first), _svg_paths(again)
    # 2 scaling figures, the timeline and the layer graph's views, each with its curves as paths
    assert len(paths) >= 5 and all(paths[:3])
    assert paths_again == paths
    assert again == first  # the whole page: it holds no file name and no time
    for stem in ("graphml", "dot"):
        assert (directory / f"{STEMS[which]}.report.{stem}").is_file()


def test_a_users_model_reports_in_its_own_words(tiny_dir: Path, single_dir: Path) -> None:
    tiny = (tiny_dir / f"{TINY}.html").read_text(encoding="utf-8")
    dstt = (single_dir / f"{SINGLE}.html").read_text(encoding="utf-8")
    assert [w for w in DSTT_WORDS if w in tiny] == []
    assert [w for w in DSTT_WORDS if w in dstt] == list(DSTT_WORDS)
    # its own stages, coloured from the neutral palette in stage order (render/colours.py PALETTE[0..2])
    rows = re.findall(r'<tr title="[^"]*"><td><span class="swatch" style="background: ([^"]+)"></span> (\w+)</td>', tiny)
    assert rows == [("#4e79a7", "stem"), ("#f28e2b", "temporal"), ("#59a14f", "head")]
    assert "TinyVideoNet layer graph, data flow of the forward pass (depth 1)" in tiny
    # no stage grows with t^2 by its profile: no crossover lines, no t^2 column, no dashed crossover mark
    assert '<ul class="crossovers">\n</ul>' in tiny and "largest headline tensor</th>" in tiny
    assert "<th>t</th><th>largest headline tensor</th>" in tiny and "dashed line" not in tiny
    assert "<th>t</th><th>temporal attention matrix</th><th>largest headline tensor</th>" in dstt


def test_single_run_keeps_its_scaling_curves(single_dir: Path) -> None:
    saved = json.loads((single_dir / f"{SINGLE}.json").read_text(encoding="utf-8"))
    scaling = saved["scaling"]
    assert scaling["frames"] == list(range(2, 29))  # the default sweep: t = 2..2*14
    # temporal matrix t^2*720*720*4 B per instance: at t=28 = 1,625,702,400 B
    assert scaling["stages"]["temporal_attention"]["bytes"][-1] == 28 * 28 * 720 * 720 * 4 == 1_625_702_400
    html = (single_dir / f"{SINGLE}.html").read_text(encoding="utf-8")
    assert "from a default sweep around t=14: t = 2..28 (27 points, each exact)" in html
    assert "one point per stage" not in html
    # the peak in temporal attention from t=23: 4,147,200*t^2 + 13,639,680*t (two t^2*2,073,600 B
    # matrices live at once, plus the block's t-linear tensors); at t=28: 3,251,404,800 + 381,911,040 = 3,633,315,840 B
    assert "<code>4,147,200 t^2 + 13,639,680 t</code>" in html
    assert 4_147_200 * 28**2 + 13_639_680 * 28 == scaling["peak_bytes"][-1] == 3_633_315_840


def test_old_single_run_without_series_still_renders(single_dir: Path) -> None:
    data = json.loads((single_dir / f"{SINGLE}.json").read_text(encoding="utf-8"))
    del data["scaling"]  # as saved before the series were stored
    html = html_of(Result.from_dict(data))
    assert "this saved result holds one run (t=14) and no scaling series" in html
    assert '<section id="scaling">' in html


def test_sweep_leads_with_the_laws(sweep_dir: Path) -> None:
    html = (sweep_dir / f"{SWEEP}.html").read_text(encoding="utf-8")
    order = [html.index(f'<section id="{name}">') for name in ("laws", "scaling", "crossovers", "summary", "stages")]
    assert order == sorted(order)
    assert html.index("28 runs, 420/420 formula checks pass") < order[0]  # 28 runs x 15 checks
    assert "sweep-table" not in html  # no table of 28 rows of 15/15
    # peak: decoder's 107,642,880*t + 147,456 up to t=22, then temporal attention's quadratic
    assert "<td>t = 1..22</td>" in html and "<code>107,642,880 t + 147,456</code>" in html
    assert "<td>t = 23..28</td>" in html
    # temporal attention's FLOPs: 4*(8*t*720*512^2 + 4*t^2*720^2*512/2^2) = 1,061,683,200*t^2 + 6,039,797,760*t
    assert "<code>1,061,683,200 t^2 + 6,039,797,760 t</code>" in html
    assert "temporal attention&#39;s headline tensor is the largest of all stages: from t = 9" in html
    assert "temporal attention&#39;s FLOPs are the largest of all stages: from t = 22" in html
    assert "the peak (allocator) is inside temporal attention: from t = 23" in html
    # every stage table is collapsed inside one <details>, the largest t's open within it
    stages = html[order[4] :]
    assert stages.index("<details><summary>28 stage tables, one per t</summary>") < stages.index('class="stage-table"')


def test_sweep_with_a_failing_check_lists_it(sweep_dir: Path) -> None:
    data = json.loads((sweep_dir / f"{SWEEP}.json").read_text(encoding="utf-8"))
    data["runs"][4]["checks"][0]["measured"] += 1  # t=5's first check now fails
    name = data["runs"][4]["checks"][0]["name"]
    html = html_of(Result.from_dict(data))
    assert "28 runs, 419/420 formula checks pass" in html
    assert f"<li>t = 5: {name} FAIL</li>" in html


def test_report_refuses_series_of_the_wrong_length(single_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((single_dir / f"{SINGLE}.json").read_text(encoding="utf-8"))
    data["scaling"]["stages"]["ffn"]["flops"].pop()
    bad = single_dir / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "scaling.stages.ffn.flops: expected 27 values (one per t), got 26" in err
    assert "Traceback" not in err and not (single_dir / "bad.report.html").exists()


def test_poly_text() -> None:
    assert poly_text(Poly((Fraction(0), Fraction(13_639_680), Fraction(4_147_200)))) == "4,147,200 t^2 + 13,639,680 t"
    assert poly_text(Poly((Fraction(-1), Fraction(1, 2), Fraction(3, 2)))) == "3/2 t^2 + 1/2 t - 1"
    assert poly_text(Poly((Fraction(0), Fraction(-1)))) == "-t"
    assert poly_text(Poly((Fraction(0),))) == "0"


def test_law_keeps_t1_apart_where_it_stands_apart() -> None:
    # spatial attention's stage peak at 240x432: 31,703,040*t from t=2, but 30,228,480 at t=1
    points = [(1, 30_228_480), *((t, 31_703_040 * t) for t in range(2, 9))]
    found = law("spatial_attention.peak_bytes", points)
    assert (found.first, found.last, found.apart) == (2, 8, ((1, 30_228_480),))
    assert law_text(found) == "31,703,040 t (t >= 2; t = 1: 30,228,480)"
    assert law_text(law("x", [(1, 5), (2, 7), (3, 1), (4, 9), (5, 2), (6, 8)])).startswith("no exact polynomial")
