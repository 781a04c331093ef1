"""One way to describe a run: every subcommand, the API and a budgets file end in the same builder
(runs.build_run), the command line's options are declared once (cli/options.py), and a frame size is
read by one reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from dstt_profile.analysis.budgets_file import load_budgets
from dstt_profile.api import run_config
from dstt_profile.cli.main import SUBCOMMANDS
from dstt_profile.cli.options import (
    RUN_OPTIONS,
    SUBCOMMAND_USAGE,
    analysis_parser,
    fit_configs,
    fit_parser,
    main_parser,
    runs_from_options,
)
from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import parse_res
from dstt_profile.runs import build_run

ARGV = ["--res", "480x864", "--batch", "2", "--heads", "8", "--zones", "4", "--dtype", "bfloat16", "--memory", "tensors"]


def test_every_subcommand_has_its_usage_line() -> None:
    assert list(SUBCOMMANDS) == list(SUBCOMMAND_USAGE)


def test_one_hxw_reader() -> None:
    assert parse_res("240x432") == parse_res(" 240 X 432 ") == parse_res((240, 432)) == parse_res([240, 432]) == (240, 432)
    with pytest.raises(UsageError, match=r"^res width 1\.5 is not a whole number$"):
        parse_res((240, 1.5), "res")
    with pytest.raises(UsageError, match=r"^--res '240x' is not HEIGHTxWIDTH"):
        parse_res("240x")


def test_the_same_run_from_every_edge(tmp_path: Path) -> None:
    expected = run_config(3, "480x864", batch=2, heads=8, zones=4, dtype="bfloat16", memory="tensors")
    assert expected.args["heads"] == 8 and expected.args["zones"] == 4 and expected.args["hidden"] == 512
    assert run_config(3, (480, 864), batch=2, heads=8, zones=4, dtype="bfloat16", memory="tensors") == expected
    assert runs_from_options(main_parser().parse_args(["--frames", "3", *ARGV])) == [expected]
    assert runs_from_options(analysis_parser("training", "").parse_args(["--frames", "3", *ARGV])) == [expected]
    assert fit_configs(fit_parser().parse_args(["--budget", "1GiB", *ARGV])) == [expected.replace(frames=1)]
    path = tmp_path / "b.toml"
    path.write_text(
        '[[budget]]\nname = "v"\nframes = 3\nres = "480x864"\nbatch = 2\ndtype = "bfloat16"\nmemory = "tensors"\n'
        'peak = "1 GiB"\n[budget.model_args]\nheads = 8\nzones = 4\n',
        encoding="utf-8",
    )
    assert load_budgets(path)[0].run == expected
    assert build_run(3, "480x864", batch=2, dtype="bfloat16", memory="tensors", shorthands={"heads": 8, "zones": 4}) == expected


def test_fit_and_the_main_job_take_the_same_run_options() -> None:
    main = {a.dest for a in main_parser()._actions}
    fit = {a.dest for a in fit_parser()._actions}
    assert set(RUN_OPTIONS) <= main
    assert set(RUN_OPTIONS) - {"frames"} <= fit  # fit searches t


def test_the_builder_refuses_dstts_shorthands_for_another_model(tmp_path: Path) -> None:
    model = tmp_path / "mine.py"
    model.write_text(
        "import torch\n\ndef make():\n    return torch.nn.Sequential(torch.nn.Conv3d(3, 3, 1), torch.nn.ReLU())\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match=r"^--heads: DSTT's size options, but --model .* is not DSTT-shaped"):
        build_run(1, "48x48", model=f"{model}:make", shorthands={"heads": 8})
