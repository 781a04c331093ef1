"""The source's size: non-blank lines of dstt_profile/ and model/ per package, and the largest modules.

    .venv/bin/python benchmarks/source_lines.py [--top 5]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def non_blank(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="how many of the largest modules to list")
    top = parser.parse_args().top
    files = {p.relative_to(ROOT): non_blank(p) for base in ("dstt_profile", "model") for p in (ROOT / base).rglob("*.py")}
    packages: Counter[str] = Counter()
    for path, lines in files.items():
        parts = path.parts
        packages[parts[0] if parts[0] == "model" or len(parts) == 2 else parts[1]] += lines
    for name, lines in packages.most_common():
        print(f"{lines:6,}  {name}")
    print(f"{sum(files.values()):6,}  total non-blank lines in {len(files)} modules")
    for path, lines in sorted(files.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{lines:6,}  {path}")


if __name__ == "__main__":
    main()
