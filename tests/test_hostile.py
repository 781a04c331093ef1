"""Hostile input: a saved result is data and never runs code, no output overwrites an input, and a
user's model cannot take the tool down. Each case is a file or a command a user (or an attacker who
hands them a file) could write; each ends in exit 0 or 2 with one line, and nothing it names runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dstt_profile.cli.main import main

MODELS = Path(__file__).resolve().parent / "models"
TINY = f"{MODELS / 'tinyvideo.py'}:TinyVideoNet"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real saved result of the tiny model at t=1, 32x32, as JSON data."""
    out = tmp_path_factory.mktemp("saved")
    assert main(["--model", TINY, "--frames", "1", "--res", "32x32", "--format", "json", "--out", str(out), "--quiet"]) == 0
    data: dict[str, Any] = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))
    return data


def _planted(saved: dict[str, Any], folder: Path, marker: Path) -> Path:
    """`saved` with its model replaced by a shell command that would create `marker` if it ran."""
    data = json.loads(json.dumps(saved))
    for run in data["runs"]:
        run["config"]["model"] = "os:system"
        run["config"]["model_args"] = {"command": f"echo pwned > {marker}"}
    path = folder / "evil.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["report", "report-out", "diff"])
def test_a_saved_result_never_runs_what_it_names(
    command: str, saved: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "PWNED"
    evil = _planted(saved, tmp_path, marker)
    argv = {
        "report": ["report", str(evil)],
        "report-out": ["report", str(evil), "--out", str(tmp_path / "d")],
        "diff": ["diff", str(evil), str(evil)],
    }[command]
    assert main(argv) == 0
    assert not marker.exists()
    if command == "report-out":
        # the stem comes from the record alone: the model 'os:system' is named 'system', never imported
        written = sorted(p.name for p in (tmp_path / "d").iterdir())
        assert [name.rpartition(".")[2] for name in written] == ["dot", "graphml", "html"]
        assert all(name.startswith("system_t1_32x32_float32_commandecho-pwned-") for name in written)
    capsys.readouterr()


def test_report_in_a_fresh_process_imports_no_model(saved: dict[str, Any], tmp_path: Path) -> None:
    """The same, end to end: a new interpreter renders the planted file and no module it names is imported."""
    marker = tmp_path / "PWNED"
    evil = _planted(saved, tmp_path, marker)
    probe = (
        "import sys; from dstt_profile.cli.main import main; "
        f"code = main(['report', {str(evil)!r}, '--out', {str(tmp_path / 'd')!r}]); "
        "print('imported-user-code' if any(m.startswith('dstt_profile_user_') for m in sys.modules) else 'clean'); "
        "sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("clean")
    assert not marker.exists()


def _budgets(folder: Path, model_file: Path, stage_map: Path | None = None) -> Path:
    lines = ["[[budget]]", 'name = "tiny"', "frames = 1", 'res = "32x32"', f'model = "{model_file}:TinyVideoNet"', 'peak = "1 GiB"']
    if stage_map is not None:
        lines.append(f'stage_map = "{stage_map}"')
    path = folder / "budgets.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("option", ["--json", "--junit"])
def test_check_never_writes_over_the_model_file(option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "tiny.py"
    source = (MODELS / "tinyvideo.py").read_text(encoding="utf-8")
    model.write_text(source, encoding="utf-8")
    budgets = _budgets(tmp_path, model)
    assert main(["check", str(budgets), option, str(model)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dstt-profile: error: {option} {str(model)!r} is also the model file of --model ")
    assert model.read_text(encoding="utf-8") == source


def test_check_never_writes_over_the_stage_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "tiny.py"
    model.write_text((MODELS / "tinyvideo.py").read_text(encoding="utf-8"), encoding="utf-8")
    stage_map = tmp_path / "stages.toml"
    text = "[stages]\n'stem(\\..+)?' = \"stem\"\n"
    stage_map.write_text(text, encoding="utf-8")
    budgets = _budgets(tmp_path, model, stage_map)
    assert main(["check", str(budgets), "--junit", str(stage_map)]) == 2
    assert "is also the stage map (entry 'tiny')" in capsys.readouterr().err
    assert stage_map.read_text(encoding="utf-8") == text


def test_main_job_never_writes_over_its_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model file named like the JSON the main job would write is refused, untouched."""
    model = tmp_path / "tinyvideonet_t1_32x32_float32.json"
    model.write_text("x", encoding="utf-8")
    py = tmp_path / "m.py"
    py.write_text((MODELS / "tinyvideo.py").read_text(encoding="utf-8"), encoding="utf-8")
    stage_map_named_like_output = tmp_path / "tinyvideonet_t1_32x32_float32.csv"
    stage_map_named_like_output.write_text("[stages]\n'stem(\\..+)?' = \"stem\"\n", encoding="utf-8")
    code = main(
        ["--model", f"{py}:TinyVideoNet", "--stages", str(stage_map_named_like_output), "--frames", "1",
         "--res", "32x32", "--format", "json,csv", "--out", str(tmp_path), "--quiet"]
    )
    assert code == 2
    assert "is also the stage map" in capsys.readouterr().err
    assert stage_map_named_like_output.read_text(encoding="utf-8").startswith("[stages]")


def test_a_failure_while_writing_leaves_the_old_set_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON, CSV, HTML, GraphML and DOT change together: a full disk at the fourth file leaves all five
    as they were, and no temporary file behind."""
    import dstt_profile.fileio as fileio

    argv = ["--model", TINY, "--frames", "1", "--res", "32x32", "--format", "json,csv", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert len(before) == 5
    calls = [0]
    real_chmod = fileio.os.chmod

    def full_at_the_fourth(path: str, mode: int) -> None:
        calls[0] += 1
        if calls[0] == 4:
            raise OSError(28, "No space left on device")
        real_chmod(path, mode)

    monkeypatch.setattr(fileio.os, "chmod", full_at_the_fourth)
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().endswith("No space left on device")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_stage_pattern_matching_no_module_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stages = tmp_path / "stages.toml"
    stages.write_text("[stages]\n'stem(\\..+)?' = \"stem\"\n'encoder' = \"encoder\"\n", encoding="utf-8")
    assert main(["--model", TINY, "--stages", str(stages), "--frames", "1", "--res", "32x32", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"dstt-profile: error: --stages {stages}: the pattern 'encoder' matches no module of TinyVideoNet; its modules "
        "are stem, stem.0, stem.1, temporal, temporal.0, temporal.0.qkv, ..."
    )


def test_a_model_that_allocates_nothing_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "identity.py"
    model.write_text(
        "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.a = nn.Identity()\n\n    def forward(self, x):\n        return self.a(x)\n",
        encoding="utf-8",
    )
    assert main(["--model", f"{model}:Net", "--frames", "1", "--res", "8x8", "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    assert "peak         0 B (0 B) allocator peak above weights and input, the pass allocates nothing" in out
    assert "tensors only: 0 B (0 B) in no stage" in out and " at op #-1" not in out
    assert err == ""  # no library warning around it (an empty legend, say)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--res", "48x96,48X96"], "fit: 48x96 and 48X96 are one configuration, written two ways: give it once"),
        (["--res", "48x96", "--batch", "1,01"], "fit: 1 and 01 are one configuration, written two ways: give it once"),
    ],
)
def test_fit_refuses_one_configuration_written_twice(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "1GiB", *args]) == 2
    assert capsys.readouterr().err.strip() == f"dstt-profile: error: {message}"


@pytest.mark.parametrize(("budget", "message"), [("0.5B", "size '0.5B' is not a whole number"), ("0.0001 KB", "size '0.0001 KB' rounds to 0")])
def test_a_budget_is_never_rounded_to_zero(budget: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", budget, "--res", "48x96"]) == 2
    assert capsys.readouterr().err.strip() == f"dstt-profile: error: {message}"


@pytest.mark.parametrize("where", ["command line", "budgets file"])
def test_a_model_reference_to_a_builtin_never_runs(where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`os:system` is callable but no model factory: refused before it is called, wherever it is named."""
    marker = tmp_path / "PWNED"
    if where == "command line":
        argv = ["--model", "os:system", "--model-arg", f"command=echo pwned > {marker}", "--frames", "1",
                "--res", "32x32", "--out", str(tmp_path / "o"), "--quiet"]
    else:
        budgets = tmp_path / "b.toml"
        budgets.write_text(
            f'[[budget]]\nname = "x"\nframes = 1\nres = "32x32"\nmodel = "os:system"\npeak = "1 GiB"\n'
            f'[budget.model_args]\ncommand = "echo pwned > {marker}"\n',
            encoding="utf-8",
        )
        argv = ["check", str(budgets)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'system' in module os is a builtin_function_or_method, not a torch.nn.Module class or a Python function" in err
    assert not marker.exists()
