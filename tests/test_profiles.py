"""The model-profile seam: the engine knows no model; DSTT is one profile, found for the built-in
network and for a file with the released generator's module names alike."""

from __future__ import annotations

import ast
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from traces import profiled

from dstt_profile.api import run_config
from dstt_profile.cli.main import main
from dstt_profile.errors import SchemaError, UsageError
from dstt_profile.profiles.generic import read_stage_map
from dstt_profile.profiles.loader import parse_arg
from dstt_profile.profiles.registry import resolve
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import GraphHintsRecord, Result, RunRecord

ROOT = Path(__file__).resolve().parents[1]
MODELS = Path(__file__).resolve().parent / "models"


def _strings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_renderers_and_scaling_analyses_name_no_dstt_stage() -> None:
    from dstt_profile.profiles.dstt.stages import STAGES

    # the layers themselves are tests/test_layers.py's; here: no generic renderer or analysis names a DSTT stage
    files = [*sorted((ROOT / "dstt_profile" / "render").glob("*.py")), *sorted((ROOT / "dstt_profile" / "analysis").glob("*.py")),
             *sorted((ROOT / "dstt_profile" / "pipeline").glob("*.py"))]
    named = {f"{path.name}: {s}" for path in files for s in _strings(path) & set(STAGES)}
    assert named == set()
    assert "temporal_attention" in _strings(ROOT / "dstt_profile" / "profiles" / "dstt" / "stages.py")  # the check reads


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The released-style generator file in one directory, the `core/` package it imports in another."""
    base = tmp_path_factory.mktemp("released")
    code, lib = base / "code", base / "lib"
    code.mkdir()
    shutil.copy(MODELS / "released_model" / "dstt.py", code / "dstt.py")
    shutil.copytree(MODELS / "released" / "core", lib / "core")
    return code / "dstt.py", lib


@pytest.fixture(scope="module")
def builtin_t14() -> RunRecord:
    return profiled(RunConfig(frames=14), keep_ops=False)


@pytest.fixture(scope="module")
def released_t14(released: tuple[Path, Path]) -> RunRecord:
    path, lib = released
    run = run_config(14, model=f"{path}:InpaintGenerator", model_path=(str(lib),))
    return profiled(run, keep_ops=False)


def test_released_file_gets_the_dstt_profile_and_the_same_figures(builtin_t14: RunRecord, released_t14: RunRecord) -> None:
    assert released_t14.profile.name == "dstt" and released_t14.title == "InpaintGenerator"
    # every stage: shape, elements, bytes, FLOPs, formula; the release has no `output` module (tanh in its
    # forward), so its output stage's headline is the root's own output
    assert {**released_t14.stages, "output": replace(released_t14.stages["output"], module="output")} == builtin_t14.stages
    assert released_t14.stages["output"].module == "" and released_t14.stages["output"].elements == 14 * 3 * 240 * 432
    # 14*3*240*432 = 4354560: tanh's output, counted in the output stage as the built-in network's nn.Tanh is
    assert released_t14.checks == builtin_t14.checks and len(released_t14.checks) == 15
    assert all(c.passed for c in released_t14.checks)
    assert released_t14.flops == builtin_t14.flops
    assert released_t14.flops.total == 1_673_136_783_360
    assert released_t14.params == 34_529_155
    assert released_t14.peak == builtin_t14.peak and released_t14.peak.bytes == 1_507_147_776
    # heads read from the attention modules' `head`; zones are not held by them: the released default
    assert released_t14.profile.note == (
        "DSTT's module names: the DSTT profile; sizes read from the module: hidden 512, channel 256, blocks 8, "
        "heads 4; zones 2 assumed (the released defaults); output: the root's own ops after the decoder (its tanh)"
    )


def test_released_file_without_its_imports_is_one_line(released: tuple[Path, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path, _lib = released
    assert main(["--frames", "2", "--model", f"{path}:InpaintGenerator", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"dstt-profile: error: --model {path}:InpaintGenerator: importing it needs the module 'core', which is not "
        "importable; add the directory that holds 'core' with --model-path DIR\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_dstt_sizes_are_model_arguments_checked_by_the_profile() -> None:
    run = run_config(14, heads=8, zones=4, res="480x864")
    assert run.args == {"attention": "matmul", "blocks": 8, "channel": 256, "heads": 8, "hidden": 512, "zones": 4}
    with pytest.raises(UsageError, match="^heads 3 must divide hidden 512; nearest valid: 2, 4$"):
        run_config(14, heads=3)
    with pytest.raises(UsageError, match="^model argument 'width_mult' is not one of DSTT's: attention, blocks"):
        run_config(14, width_mult=2)
    assert RunConfig(model_args={"b": 1, "a": "x"}).model_args == (("a", "x"), ("b", 1))


def test_model_arg_values_are_typed() -> None:
    assert [parse_arg(t) for t in ("n=8", "p=0.5", "on=true", "off=False", "kind=sdpa")] == [
        ("n", 8), ("p", 0.5), ("on", True), ("off", False), ("kind", "sdpa"),
    ]
    with pytest.raises(UsageError, match="is not NAME=VALUE"):
        parse_arg("heads")


def test_schema_stays_1_and_a_file_from_before_model_args_is_read(builtin_t14: RunRecord) -> None:
    result = Result((builtin_t14,))
    data = json.loads(result.to_json())
    assert data["schema"] == "dstt-profile/2"
    config = data["runs"][0]["config"]
    assert config["model"] == "dstt"
    assert config["model_args"]["hidden"] == 512
    # the contract only grows: the built-in DSTT's sizes are still configuration fields, beside model_args
    assert {k: config[k] for k in ("attention", "heads", "zones", "blocks", "hidden", "channel")} == {
        "attention": "matmul", "heads": 4, "zones": 2, "blocks": 8, "hidden": 512, "channel": 256
    }
    assert Result.from_dict(data) == result
    # the same run as a file from before any model could be profiled held it: DSTT's sizes only as
    # configuration fields, no model fields, no profile
    old = json.loads(result.to_json())
    run = old["runs"][0]
    config = run["config"]
    for key in ("model", "model_args", "model_path", "stages"):
        config.pop(key)
    del run["profile"]
    loaded = Result.from_dict(old).runs[0]
    assert loaded.config == builtin_t14.config
    # every hint the renderers read (colours, t^2 words, graph notes) filled in as DSTT's profile writes them
    assert loaded.profile == builtin_t14.profile


def test_flat_dstt_sizes_must_agree_with_model_args(builtin_t14: RunRecord) -> None:
    data = json.loads(Result((builtin_t14,)).to_json())
    data["runs"][0]["config"]["heads"] = 8
    with pytest.raises(SchemaError, match=r"runs\[0\]\.config\.heads: 8 differs from model_args\.heads 4"):
        Result.from_dict(data)


def test_a_profile_without_the_hints_gets_dstts(builtin_t14: RunRecord) -> None:
    data = json.loads(Result((builtin_t14,)).to_json())
    for key in ("quadratic_words", "quadratic_headline", "graph"):
        del data["runs"][0]["profile"][key]
    assert Result.from_dict(data).runs[0].profile == builtin_t14.profile
    assert builtin_t14.profile.graph.depth == 2 and len(builtin_t14.profile.graph.op_notes) == 4
    # another model's file of that time gets the plain hints: no notes, depth 1, the palette
    data["runs"][0]["profile"]["name"] = "generic"
    plain = Result.from_dict(data).runs[0].profile
    assert (plain.quadratic_words, plain.graph) == ("", GraphHintsRecord())


def test_stage_map_file(tmp_path: Path) -> None:
    good = tmp_path / "stages.toml"
    good.write_text("[stages]\n'stem(\\..+)?' = \"stem\"\n'temporal\\.\\d+' = \"attention\"\n", encoding="utf-8")
    found = read_stage_map(str(good))
    assert [(r.pattern, s) for r, s in found] == [("stem(\\..+)?", "stem"), ("temporal\\.\\d+", "attention")]
    bad = tmp_path / "bad.toml"
    bad.write_text("[stages]\n'(' = \"x\"\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"^--stages .*bad.toml: '\(' is not a regular expression"):
        read_stage_map(str(bad))


def test_builtin_profile_is_dstts() -> None:
    profile = resolve(RunConfig())
    assert (profile.name, profile.title, profile.quadratic_stage) == ("dstt", "DSTT", "temporal_attention")
    assert profile.slug(RunConfig(model_args={"attention": "sdpa"})) == "dstt_t14_240x432_float32_sdpa"
