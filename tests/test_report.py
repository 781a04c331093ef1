"""The HTML report: golden stage table, offline (no external URLs), every section from a saved JSON
alone, GraphML that parses back, and `report` on a missing file exiting 2."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import networkx as nx
import pytest
from traces import T14, html_of, profiled, result, write_report

from dstt_profile.analysis.laws import laws_of
from dstt_profile.analysis.report import default_upto, scaling_series
from dstt_profile.api import profile_many, run_config, with_scaling
from dstt_profile.cli.job import result_stem
from dstt_profile.cli.main import main
from dstt_profile.cli.report import report_command
from dstt_profile.records.laws import MemoryView
from dstt_profile.records.schema import Result

GOLDEN = Path(__file__).parent / "golden" / "stage_table_t14.txt"
SECTIONS = ("summary", "stages", "laws", "scaling", "crossovers", "timeline", "graph", "fvcore", "checks")


class _TableText(HTMLParser):
    """The text of the first <table> with class `cls`: one line per row, cells joined by ' | '."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls, self.depth, self.done = cls, 0, False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and not self.done and self.cls in (dict(attrs).get("class") or "").split():
            self.depth = 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif self.depth and tag == "table":
            self.depth, self.done = 0, True

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_text(html: str, cls: str = "stage-table") -> str:
    parser = _TableText(cls)
    parser.feed(html)
    return "\n".join(" | ".join(row) for row in parser.rows) + "\n"


@pytest.fixture(scope="module")
def result_t14() -> Result:
    return with_scaling(result(T14))  # as the main job writes it


@pytest.fixture(scope="module")
def html_t14(result_t14: Result) -> str:
    return html_of(result_t14)


def test_stage_table_matches_golden(html_t14: str) -> None:
    text = table_text(html_t14)
    assert text.count("\n") == 10  # header + 9 stages
    assert text == GOLDEN.read_text(encoding="utf-8")


def _external_urls(html: str) -> list[str]:
    """http(s) URLs outside SVG namespace declarations (xmlns="http://www.w3.org/..." is a name, not a fetch)."""
    cleaned = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", html)
    return re.findall(r"https?://[^\s\"'<>)]+", cleaned)


def test_html_has_no_external_urls(html_t14: str) -> None:
    assert _external_urls(html_t14) == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html_t14)
    # One small inline script, the layer graph's: it opens a block's pre-drawn view in place, fetches nothing.
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html_t14, flags=re.S)
    assert len(scripts) == html_t14.count("<script") == 1
    assert "<script>" in html_t14  # no src, no attributes
    assert not re.search(r"fetch|XMLHttpRequest|import|src|href\s*=|innerHTML", scripts[0])
    assert "@import" not in html_t14 and "url(http" not in html_t14


def test_url_check_catches_an_external_url() -> None:
    assert _external_urls('<svg xmlns="http://www.w3.org/2000/svg"></svg>') == []
    assert _external_urls('<img src="https://cdn.example.org/x.png">') == ["https://cdn.example.org/x.png"]


def test_html_states_conventions_and_sections(html_t14: str) -> None:
    for section in SECTIONS:
        assert f'<section id="{section}">' in html_t14
    assert "2 per multiply-add" in html_t14
    assert "836,568,391,680 multiply-adds" in html_t14  # 1,673,136,783,360 FLOPs / 2
    assert "--fvcore" in html_t14  # no fvcore count: says how to get one
    assert html_t14.count("<svg") >= 6  # 2 scaling figures, timeline, 3 graph views


def test_report_from_saved_json_alone(tmp_path: Path) -> None:
    """Crash test: write a JSON at t=2 through the CLI, then re-render every section from it alone."""
    # exit 0: every formula check of the run passes (1 would mean one failed)
    assert main(["--frames", "2", "--res", "64x64", "--format", "json", "--out", str(tmp_path), "--quiet"]) == 0
    saved = next(tmp_path.glob("*.json"))
    for p in tmp_path.glob("*.html"):
        p.unlink()
    out = tmp_path / "again"
    assert report_command([str(saved), "--out", str(out)]) == 0
    html = (out / f"{saved.stem}.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    assert "from a default sweep around t=2: t = 2..16" in html  # the saved series: default_upto(2) = 16
    assert (out / f"{saved.stem}.dot").read_text().startswith("digraph dstt {")


def test_sweep_renders_one_report(tmp_path: Path) -> None:
    result = profile_many([run_config(t, "64x64") for t in (1, 2, 3)])
    paths = write_report(result, tmp_path, result_stem(result))
    assert [p.suffix for p in paths] == [".html", ".graphml", ".dot"]
    assert paths[0].name == f"{result_stem(result)}.html" == "dstt_t1-3_64x64_float32.html"
    html = paths[0].read_text(encoding="utf-8")
    assert html.count('class="stage-table"') == 3
    assert "from this sweep&#39;s 3 runs" in html  # autoescaped apostrophe


def test_graphml_parses_back(tmp_path: Path, result_t14: Result) -> None:
    from dstt_profile.render.graph import graphml_text

    path = tmp_path / "g.graphml"
    path.write_text(graphml_text(result_t14.runs[0]), encoding="utf-8")
    g = nx.read_graphml(path)
    assert "transformer.7" in g and "encoder.0" in g  # depth 2: the top-level modules' children
    assert g.has_edge("transformer.0", "transformer.1")
    assert sum(int(a["peak"]) for _, a in g.nodes(data=True)) == 1
    assert g.nodes["decoder.4"]["peak"] == 1  # the allocator peak is in decoder.4.conv


def test_report_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


def test_report_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["report", str(bad)]) == 2
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/9"}', encoding="utf-8")
    assert main(["report", str(other)]) == 2
    err = capsys.readouterr().err
    assert "it is not JSON" in err and "not a dstt-profile result" in err


def test_default_upto() -> None:
    assert default_upto(14) == 28  # 2*14
    assert default_upto(3) == 16  # at least 16, so the t=9 crossover is on the plot


def test_plot_frames_stay_few() -> None:
    from dstt_profile.api import plot_frames

    assert plot_frames(28) == list(range(2, 29))  # every t while there are at most 64
    wide = plot_frames(2048)  # t=1024's plots: step ceil(2046/63) = 33
    assert len(wide) == 63 and wide[:3] == [2, 35, 68] and wide[-2:] == [2015, 2048]


def test_main_job_scaling_plots_are_exact_and_checked(tmp_path: Path) -> None:
    from dstt_profile.api import scaling_runs

    run = profiled(T14)
    runs, note = scaling_runs(run, 28)
    assert [r.frames for r in runs] == list(range(2, 29))  # every t from 2 to 2*14
    assert runs[12] is run  # t=14 is the run itself, not a copy
    assert "checked op by op against this run (t=14)" in note
    # temporal matrix t^2*720*720*4 B per instance, exact at every derived t: at t=28 = 1,625,702,400 B
    assert runs[-1].stages["temporal_attention"].bytes == 28 * 28 * 720 * 720 * 4
    # the exact crossover read from whole-t points: temporal attention is the largest headline from t=9
    laws = laws_of(scaling_series(runs, note), MemoryView.ALLOCATOR, "temporal_attention")
    assert laws.crossovers["bytes"] == 9


