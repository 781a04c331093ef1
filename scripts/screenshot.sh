#!/usr/bin/env bash
# Profile t=14 at 240x432, write the HTML report under reports/, and screenshot it to reports/screenshot.png
# with headless Chromium (Debian: apt-get install -y chromium). Offline: no network is used.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m dstt_profile --frames 14 --res 240x432 --out reports --quiet || true
html="$PWD/reports/dstt_t14_240x432_float32.html"
test -s "$html"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" \
  --window-size=1400,4000 --screenshot="$PWD/reports/screenshot.png" "file://$html" 2>/dev/null
echo "wrote reports/screenshot.png"
