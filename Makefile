# Every target sets itself up: on a fresh clone `make test` or `make report` creates the venv and
# installs the project first. Re-running is cheap: pip only runs again when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

FRAMES ?= 14
RES    ?= 240x432

# Run each recipe in one bash with -e -u -o pipefail: any failing command fails the target.
SHELL       := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

.PHONY: help setup report screenshots test test-isa-cap lint clean browser

help:
	@echo "make setup   create $(VENV) and install the project with its dev extra"
	@echo "make report  profile DSTT at $(FRAMES) frames, $(RES) (HTML report under reports/)"
	@echo "make screenshots  re-take reports/screenshot.png (t=14), screenshot_graph.png and screenshot_sweep.png (t=1..64)"
	@echo "make test    ruff, mypy and pytest"
	@echo "make test-isa-cap  the allocator's truth tests with the CPU's instruction set capped one level down"
	@echo "make lint    ruff and mypy only"
	@echo "make clean   remove generated reports (committed screenshots stay) and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

setup: $(STAMP)

report: setup
	$(BIN)/dstt-profile --frames $(FRAMES) --res $(RES)

# The committed report screenshots (headless Chromium, offline): t=14 and the sweep t=1..64.
screenshots: setup browser
	PY=$(BIN)/python scripts/screenshot.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# The report's browser tests use Debian's chromium; install it where missing (they skip, saying why,
# where it cannot be installed).
browser:
	command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; } || \
	  echo "chromium not installable here: the browser tests will be skipped"

# Two workers, each test file on one (its module fixtures traced once): the suite in about 7 minutes on 2 cores.
test: lint browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The tests that compare predictions with real runs, under an instruction set one level below this
# CPU's (AVX-512 -> AVX2, anything else -> the baseline), for ATen's kernels and oneDNN's: a CPU unlike
# this one, on every landing.
ISA_TESTS := tests/test_allocator.py tests/test_slowconv.py tests/test_verify.py tests/test_calibration.py

test-isa-cap: setup
	if [ "$$($(BIN)/python -c 'import torch; print(torch.backends.cpu.get_cpu_capability())')" = AVX512 ]; then \
	  aten=avx2 onednn=AVX2; else aten=default onednn=SSE41; fi; \
	echo "capped: ATEN_CPU_CAPABILITY=$$aten ONEDNN_MAX_CPU_ISA=$$onednn"; \
	ATEN_CPU_CAPABILITY=$$aten ONEDNN_MAX_CPU_ISA=$$onednn $(BIN)/python -m pytest -q -p no:cacheprovider $(ISA_TESTS)

clean:
	# reports/: the generated files go; what git tracks there (README.md, .gitkeep, the committed
	# screenshots) stays.
	find reports -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitkeep ! -name 'screenshot*.png' -exec rm -rf {} +
	rm -rf benchmarks/out build .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -type d -prune -exec rm -rf {} +
