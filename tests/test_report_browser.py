"""The HTML report as a person sees it: opened in headless Chromium (Debian's `chromium`), offline.

Skipped, with the reason, where no `chromium` is on PATH (`apt-get install -y chromium` adds it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from traces import T14, html_of, result

from dstt_profile.api import with_scaling

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")

# Appended to a copy of the report by the test only: records the size of every SVG (the layer graph's
# opened views are hidden until a block is clicked, so they are measured by the next probe), every resource
# the page fetched, and any script error, as attributes of <body>.
PROBE = """<script>
const shown = [...document.querySelectorAll("svg")].filter(s => !s.closest(".graph-detail"));
const sizes = shown.map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; });
document.body.setAttribute("data-svg-sizes", JSON.stringify(sizes));
document.body.setAttribute("data-resources", JSON.stringify(performance.getEntriesByType("resource").map(e => e.name)));
</script>"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp / 'profile'}", "--window-size=1400,4000",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "dstt_t14.html"
    path.write_text(html_of(with_scaling(result(T14))), encoding="utf-8")
    return path


def test_screenshot_is_written(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "screenshot.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dom_has_sections_svgs_and_no_requests(report: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    dom = done.stdout
    for section in ("summary", "stages", "laws", "scaling", "crossovers", "timeline", "graph", "fvcore", "checks"):
        assert f'id="{section}"' in dom, section
    sizes = json.loads(_attr(dom, "data-svg-sizes"))
    assert len(sizes) >= 4 and all(w > 0 and h > 0 for w, h in sizes), sizes  # 2 scaling plots, timeline, graph
    assert json.loads(_attr(dom, "data-resources")) == []  # the page fetched nothing
    errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line and "error" in line.lower()]
    assert errors == []


# Clicks the first block of the layer graph twice, recording after each click whether its view shows and
# how big it is, and the link's aria-expanded; and the main graph's size.
CLICK = """<script>
const main = document.querySelector("#graph .graph-main svg").getBoundingClientRect();
const link = document.querySelector("#graph a[data-expand]");
const view = document.getElementById(link.getAttribute("data-expand"));
const state = () => { const r = view.querySelector("svg").getBoundingClientRect();
  return [getComputedStyle(view).display, r.width, r.height, link.getAttribute("aria-expanded")]; };
const before = state();
link.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
const opened = state();
link.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
const closed = state();
document.body.setAttribute("data-graph", JSON.stringify({main: [main.width, main.height], view: view.id,
  before, opened, closed, open: document.querySelectorAll(".graph-detail.open").length}));
</script>"""


def test_graph_renders_and_a_block_opens(report: Path, tmp_path: Path) -> None:
    probed = tmp_path / "clicked.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", CLICK + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    found = json.loads(_attr(done.stdout, "data-graph"))
    width, height = found["main"]
    assert width > 300 and height > 1000, found  # 42 boxes in 42 rows at depth 2
    assert found["view"] == "graph-node-0"  # transformer.0, the first block with more than one op
    assert found["before"] == ["none", 0, 0, "false"]  # hidden while the script runs
    display, w, h, expanded = found["opened"]
    assert display == "block" and w > 300 and h > 500 and expanded == "true"
    assert found["closed"] == ["none", 0, 0, "false"]  # a second click closes it
    assert found["open"] == 0


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"{name} missing: the probe script did not run"
    return m.group(1).replace("&quot;", '"')
