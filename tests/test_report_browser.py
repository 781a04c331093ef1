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

from dstt_profile.api import profile_many, run_config, with_scaling
from dstt_profile.render.html import render_html

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")

# Appended to a copy of the report by the test only (the report itself has no script): records the
# size of every SVG, every resource the page fetched, and any script error, as attributes of <body>.
PROBE = """<script>
const sizes = [...document.querySelectorAll("svg")].map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; });
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
    path.write_text(render_html(with_scaling(profile_many([run_config(14)]))), encoding="utf-8")
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
    assert len(sizes) >= 6 and all(w > 0 and h > 0 for w, h in sizes), sizes
    assert json.loads(_attr(dom, "data-resources")) == []  # the page fetched nothing
    errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line and "error" in line.lower()]
    assert errors == []


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"{name} missing: the probe script did not run"
    return m.group(1).replace("&quot;", '"')
