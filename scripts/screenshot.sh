#!/usr/bin/env bash
# Profile t=14 and the sweep t=1..64 at 240x432, write their HTML reports under reports/, and screenshot
# them with headless Chromium (Debian: apt-get install -y chromium) to reports/screenshot.png (t=14) and
# reports/screenshot_sweep.png (the sweep). Offline: no network is used. `make screenshots` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# shoot FRAMES STEM PNG: the main job's report of --frames FRAMES, screenshotted into reports/PNG
shoot() {
  local frames=$1 stem=$2 png=$3
  "$PY" -m dstt_profile --frames "$frames" --res 240x432 --out reports --quiet || true  # exit 1: a check failed, still shown
  local html="$PWD/reports/$stem.html"
  test -s "$html"
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" \
    --window-size=1400,4000 --screenshot="$PWD/reports/$png" "file://$html" 2>/dev/null
  test -s "reports/$png"
  echo "wrote reports/$png"
}

shoot 14 dstt_t14_240x432_float32 screenshot.png

# The t=14 layer graph on its own page (the report's styles and its graph section), so the whole graph is
# in one picture: the long skip, the cats and every block.
"$PY" - "$PWD/reports/dstt_t14_240x432_float32.html" "$profile/graph.html" <<'PYEOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
start = page.index('<section id="graph">')
end = page.index("</section>", start) + len("</section>")
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write(page[: page.index("</head>")] + "</head><body>" + page[start:end] + "</body></html>")
PYEOF
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile/chrome" \
  --window-size=1400,3600 --screenshot="$PWD/reports/screenshot_graph.png" "file://$profile/graph.html" 2>/dev/null
test -s reports/screenshot_graph.png
echo "wrote reports/screenshot_graph.png"
shoot 1:64 dstt_t1-64_240x432_float32 screenshot_sweep.png
