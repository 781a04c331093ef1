"""One way to describe a run: the command line, the API and a budgets file take the same options,
read by the same rules (cli/options.py, records/runoptions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dstt_profile.analysis.budgets_file import load_budgets
from dstt_profile.api import run_config
from dstt_profile.cli.main import SUBCOMMANDS
from dstt_profile.cli.options import SUBCOMMAND_USAGE, fit_configs, fit_parser, main_parser, runs_from_options
from dstt_profile.errors import UsageError
from dstt_profile.records.runconfig import RunConfig, parse_res
from dstt_profile.records.runoptions import RUN_OPTIONS, FieldError, build_run

VARIANT = RunConfig(frames=3, height=480, width=864, batch=2, heads=8, zones=4, dtype="bfloat16", memory="tensors")


def test_every_subcommand_has_its_usage_line() -> None:
    assert list(SUBCOMMANDS) == list(SUBCOMMAND_USAGE)


def test_one_hxw_reader() -> None:
    assert parse_res("240x432") == parse_res(" 240 X 432 ") == parse_res((240, 432)) == parse_res([240, 432]) == (240, 432)
    with pytest.raises(UsageError, match=r"^res width 1\.5 is not a whole number$"):
        parse_res((240, 1.5), "res")
    with pytest.raises(UsageError, match=r"^--res '240x' is not HEIGHTxWIDTH"):
        parse_res("240x")


def test_the_same_run_from_every_edge(tmp_path: Path) -> None:
    argv = ["--frames", "3", "--res", "480x864", "--batch", "2", "--heads", "8", "--zones", "4", "--dtype", "bfloat16",
            "--memory", "tensors"]
    assert runs_from_options(main_parser().parse_args(argv)) == [VARIANT]
    assert run_config(3, "480x864", batch=2, heads=8, zones=4, dtype="bfloat16", memory="tensors") == VARIANT
    assert run_config(3, (480, 864), batch="2", heads="8", zones="4", dtype="bfloat16", memory="tensors") == VARIANT
    path = tmp_path / "b.toml"
    path.write_text(
        '[[budget]]\nname = "v"\nframes = 3\nres = "480x864"\nbatch = 2\nheads = 8\nzones = 4\ndtype = "bfloat16"\n'
        'memory = "tensors"\npeak = "1 GiB"\n',
        encoding="utf-8",
    )
    assert load_budgets(path)[0].run == VARIANT
    fit = fit_parser().parse_args(["--budget", "1GiB", *argv[2:]])
    assert fit_configs(fit) == [VARIANT.replace(frames=1)]


def test_every_edge_takes_every_run_option() -> None:
    main = {a.dest for a in main_parser()._actions}
    fit = {a.dest for a in fit_parser()._actions}
    assert set(RUN_OPTIONS) <= main
    assert set(RUN_OPTIONS) - {"frames"} <= fit  # fit searches t


@pytest.mark.parametrize(
    ("values", "option", "message"),
    [
        ({"res": "241x432"}, "res", "height 241 is not divisible by 4; nearest valid: 240, 256"),
        ({"heads": 3}, "heads", "heads 3 must divide hidden 512; nearest valid: 2, 4"),
        ({"batch": "0"}, "batch", "--batch must be at least 1, got '0'"),
        ({"dtype": "float7"}, "dtype", "dtype 'float7' is not one of float32, float16, bfloat16, int8"),
        ({"colour": "red"}, "colour", "unknown option 'colour'"),
    ],
)
def test_a_problem_names_its_option(values: dict[str, object], option: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        build_run(values, lambda name: f"--{name}")
    assert caught.value.option == option
    assert str(caught.value).startswith(message)
