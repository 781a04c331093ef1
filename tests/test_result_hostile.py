"""A saved result is untrusted data: `report` and `diff` refuse a file no run could have written with
exit 2 and one line naming the field, every genuine result still loads and re-renders byte for byte,
`diff` compares what it says it compares (model arguments apart from the run's settings, every t or a
named gap, no growth in % from 0), and a model's own `backward` stage never merges with the backward
pass of a train-mode run."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from dstt_profile.analysis.diff import Change
from dstt_profile.cli.main import main
from dstt_profile.records.schema import Result
from dstt_profile.render.difftext import signed

MODELS = Path(__file__).resolve().parent / "models"
TINY = f"{MODELS / 'tinyvideo.py'}:TinyVideoNet"
ERROR = "dstt-profile: error: "

# A result of each kind a user can save: (the main job's options, the JSON's stem).
KINDS: dict[str, tuple[list[str], str]] = {
    "inference": (["--model", TINY, "--frames", "1", "--res", "32x32"], "tinyvideonet_t1_32x32_float32"),
    "train": (["--model", TINY, "--frames", "2", "--res", "32x32", "--mode", "train"], "tinyvideonet_t2_32x32_float32_train"),
    "tensors": (["--model", TINY, "--frames", "2", "--res", "32x32", "--memory", "tensors"],
                "tinyvideonet_t2_32x32_float32_tensors"),
    "sweep": (["--model", TINY, "--frames", "1:3", "--res", "32x32"], "tinyvideonet_t1-3_32x32_float32"),
    "dstt": (["--frames", "1", "--res", "48x48"], "dstt_t1_48x48_float32"),
    # real passes beside the prediction: errors in % of either sign, seconds, RSS
    "measured": (["--model", TINY, "--frames", "2", "--res", "32x32", "--measure", "--repeats", "1"],
                 "tinyvideonet_t2_32x32_float32"),
}

BIDIRECTIONAL = '''
import torch
from torch import nn


class Bidirectional(nn.Module):
    """Two top-level branches, the second named as a bidirectional video model names its own."""

    def __init__(self) -> None:
        super().__init__()
        self.forward_branch = nn.Conv3d(3, 4, kernel_size=1)
        self.backward = nn.Conv3d(4, 8, kernel_size=1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.backward(self.forward_branch(clip.transpose(1, 2)))
'''


def _save(options: list[str], out: Path) -> Path:
    """The JSON the main job writes for `options` into `out` (HTML, GraphML and DOT beside it)."""
    assert main([*options, "--format", "json", "--out", str(out), "--quiet"]) == 0
    (found,) = out.glob("*.json")
    return found


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(data: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refused command writes to stderr (nothing on stdout, no traceback)."""
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err.rstrip("\n")


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The saved JSON of every kind in KINDS, each in a folder of its own with its main-job report."""
    root = tmp_path_factory.mktemp("genuine")
    paths = {kind: _save(options, root / kind) for kind, (options, _) in KINDS.items()}
    assert {kind: p.stem for kind, p in paths.items()} == {kind: stem for kind, (_, stem) in KINDS.items()}
    return paths


# 1. Every genuine result loads, as saved, and re-renders the same files ---------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_genuine_result_loads_and_rerenders_byte_identically(
    kind: str, genuine: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = genuine[kind]
    data = _json(path)
    assert Result.from_dict(data).to_dict() == data
    assert main(["report", str(path)]) == 0
    capsys.readouterr()
    for suffix in ("html", "graphml", "dot"):
        first = path.with_suffix(f".{suffix}").read_bytes()
        again = path.with_name(f"{path.stem}.report.{suffix}").read_bytes()
        assert again == first, suffix


# 2. Tampered results: exit 2, one line naming the field, for report and for diff -------------------------

def _first_op_reading(run: dict[str, Any], at_least: int = 1) -> int:
    """The index of the first op from `at_least` on that reads a tensor."""
    return next(i for i, op in enumerate(run["ops"]) if i >= at_least and op["inputs"])


def _forward_link(run: dict[str, Any]) -> str:
    """Op i reads what op i+2 makes, and op i+2 what op i makes: a cycle in the data flow."""
    i = _first_op_reading(run)
    run["ops"][i]["inputs"][0]["producer"] = i + 2
    run["ops"][i + 2]["inputs"] = [{**run["ops"][i]["inputs"][0], "producer": i}]
    return f"runs[0].ops[{i}].inputs[0].producer: expected an earlier op (-1 to {i - 1}), got {i + 2}"


def _self_loop(run: dict[str, Any]) -> str:
    i = _first_op_reading(run)
    run["ops"][i]["inputs"][0]["producer"] = i
    return f"runs[0].ops[{i}].inputs[0].producer: expected an earlier op (-1 to {i - 1}), got {i}"


def _producer_below_minus_one(run: dict[str, Any]) -> str:
    i = _first_op_reading(run)
    run["ops"][i]["inputs"][0]["producer"] = -7
    return f"runs[0].ops[{i}].inputs[0].producer: expected -1 or more, got -7"


def _peak_past_ops(run: dict[str, Any]) -> str:
    n = len(run["ops"])
    run["peak"]["op_index"] = n
    return f"runs[0].peak.op_index: expected an index into ops (-1 to {n - 1}), got {n}"


def _tensor_peak_past_ops(run: dict[str, Any]) -> str:
    n = len(run["ops"])
    run["tensor_peak"]["op_index"] = 10**6
    return f"runs[0].tensor_peak.op_index: expected an index into ops (-1 to {n - 1}), got 1000000"


def _module_past_ops(run: dict[str, Any]) -> str:
    n = len(run["ops"])
    run["modules"][1].update(first_op=n + 5, last_op=n + 5)
    return f"runs[0].modules[1].first_op: expected an index into ops (0 to {n - 1}), got {n + 5}"


def _footprint_total(run: dict[str, Any]) -> str:
    fp = run["footprint"]
    parts = fp["weights"] + fp["input"] + fp["activations"] + fp["optimizer"] + fp["context"]
    fp["total"] += 1
    return (f"runs[0].footprint.total: expected weights + input + activations + optimizer + context = {parts:,}, "
            f"got {parts + 1:,}")


def _footprint_weights(run: dict[str, Any]) -> str:
    """The parts still add up, but the weights are not the run's parameter bytes."""
    fp = run["footprint"]
    fp["weights"] += 4
    fp["total"] += 4
    return f"runs[0].footprint.weights: expected param_bytes {run['param_bytes']:,}, got {run['param_bytes'] + 4:,}"


def _footprint_activations(run: dict[str, Any]) -> str:
    fp = run["footprint"]
    fp["activations"] += 1024
    fp["total"] += 1024
    peak = run["peak"]["bytes"]
    return f"runs[0].footprint.activations: expected peak.bytes {peak:,}, got {peak + 1024:,}"


def _transient_past_peak(run: dict[str, Any]) -> str:
    peak = run["peak"]["bytes"]
    run["peak"]["transient_bytes"] = peak + 1
    return f"runs[0].peak.transient_bytes: expected at most peak.bytes {peak:,}, got {peak + 1:,}"


def _op_out_of_order(run: dict[str, Any]) -> str:
    run["ops"][2]["index"] = 7
    return "runs[0].ops[2].index: expected 2 (ops are listed in execution order), got 7"


def _set(path: str, value: Any, *keys: str | int) -> Callable[[dict[str, Any]], str]:
    """A change setting the run's field `path` (as SchemaError names it: dotted, `[i]` an item) to
    `value`; `keys` spell the path out where a key holds a dot. The message must start `runs[0].<path>: `."""
    steps: list[str | int] = list(keys) or [
        int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")
    ]

    def change(run: dict[str, Any]) -> str:
        node: Any = run
        for key in steps[:-1]:
            node = node[key]
        node[steps[-1]] = value
        return f"runs[0].{path}: "

    return change


def _note(kind: str, pattern: str) -> Callable[[dict[str, Any]], str]:
    """The tiny model's profile given one note whose module pattern is `pattern`."""

    def change(run: dict[str, Any]) -> str:
        graph = run["profile"]["graph"]
        if kind == "module":
            graph["module_notes"] = [{"module": pattern, "words": "a note", "stage": ""}]
            return "runs[0].profile.graph.module_notes[0].module: "
        graph["op_notes"] = [{"ops": ["aten.add"], "words": "a note", "module": pattern, "square": False}]
        return "runs[0].profile.graph.op_notes[0].module: "

    return change


# (case, the kind tampered with, the change: returns the message's start, or all of it)
HOSTILE: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
    ("colour-not-a-colour", "inference", _set("profile.colours.stem", "not-a-colour")),
    ("colour-markup", "inference", _set("profile.colours.stem", '#fff" onload="alert(1)')),
    ("colour-short-hex", "dstt", _set("profile.colours.encoder", "#fff")),
    ("graph-depth-negative", "inference", _set("profile.graph.depth", -5)),
    ("graph-depth-zero", "dstt", _set("profile.graph.depth", 0)),
    ("module-note-not-a-regex", "inference", _note("module", "(((")),
    ("op-note-not-a-regex", "inference", _note("op", "(((")),
    ("dstt-note-not-a-regex", "dstt", _set("profile.graph.module_notes[3].module", "transformer\\.(\\d+")),
    ("note-pattern-too-long", "inference", _note("module", "a" * 300)),
    ("producers-in-a-cycle", "inference", _forward_link),
    ("producer-is-the-op-itself", "inference", _self_loop),
    ("producer-below-minus-one", "inference", _producer_below_minus_one),
    ("negative-peak-bytes", "inference", _set("peak.bytes", -30142955620)),
    ("negative-tensor-peak", "tensors", _set("tensor_peak.bytes", -1)),
    ("negative-flops", "inference", _set("flops.total", -5)),
    ("negative-flops-of-an-op", "inference", _set("flops.by_op.aten.convolution", -5, "flops", "by_op", "aten.convolution")),
    ("negative-params", "inference", _set("params", -5)),
    ("negative-seconds", "inference", _set("seconds", -0.5)),
    ("negative-stage-bytes", "inference", _set("stages.stem.bytes", -1)),
    ("negative-stage-share", "inference", _set("stages.temporal.share", -0.25)),
    ("negative-op-alloc", "inference", _set("ops[0].alloc_bytes", -4096)),
    ("negative-dimension", "inference", _set("ops[1].outputs[0].shape[0]", -1)),
    ("negative-gradients-in-peak", "train", _set("footprint.gradients_in_peak", -5)),
    ("footprint-parts-do-not-add-up", "inference", _footprint_total),
    ("footprint-weights-not-the-runs", "inference", _footprint_weights),
    ("footprint-activations-not-the-peak", "train", _footprint_activations),
    ("peak-op-past-the-ops", "inference", _peak_past_ops),
    ("tensor-peak-op-past-the-ops", "train", _tensor_peak_past_ops),
    ("tensor-peak-op-below-minus-one", "inference", _set("tensor_peak.op_index", -3)),
    ("transient-larger-than-the-peak", "inference", _transient_past_peak),
    ("module-span-past-the-ops", "inference", _module_past_ops),
    ("ops-out-of-order", "inference", _op_out_of_order),
]


@pytest.fixture(scope="module")
def other(genuine: dict[str, Path]) -> Path:
    return genuine["inference"]


@pytest.mark.parametrize(("case", "kind", "change"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_tampered_result_is_refused_naming_the_field(
    case: str, kind: str, change: Callable[[dict[str, Any]], str], genuine: dict[str, Path], other: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = _json(genuine[kind])
    message = change(data["runs"][0])
    path = _write(data, tmp_path / f"{case}.json")
    for argv in (["report", str(path)], ["diff", str(path), str(other)], ["diff", str(other), str(path)]):
        assert main(argv) == 2, argv
        line = _one_error(capsys)
        assert line.startswith(f"{ERROR}{path}: not a dstt-profile result ({message}"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{case}.json"]  # nothing rendered


def test_every_hostile_case_names_a_distinct_change() -> None:
    assert len(HOSTILE) >= 15 and len({c[0] for c in HOSTILE}) == len(HOSTILE)


def test_tampered_scaling_series_are_refused(genuine: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(genuine["inference"])
    negative = copy.deepcopy(data)
    negative["scaling"]["peak_bytes"][0] = -10
    far = copy.deepcopy(data)
    far["scaling"]["frames"][-1] = 2**62
    for name, tampered, message in (
        ("negative", negative, "scaling.peak_bytes[0]: expected 0 or more, got -10"),
        ("far", far, f"scaling.frames: expected t of at most 1048576, got {2**62}"),
    ):
        path = _write(tampered, tmp_path / f"{name}.json")
        assert main(["report", str(path)]) == 2
        assert _one_error(capsys) == f"{ERROR}{path}: not a dstt-profile result ({message})"


def test_report_refuses_two_runs_at_one_t(genuine: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(genuine["sweep"])
    data["runs"][2] = copy.deepcopy(data["runs"][0])
    path = _write(data, tmp_path / "twice.json")
    assert main(["report", str(path)]) == 2
    assert _one_error(capsys) == (
        f"{ERROR}the result holds two runs at t=1 (runs[0] and runs[2]): a report shows one configuration, one run per t"
    )


# 3. diff compares what it says it compares ---------------------------------------------------------------


@pytest.fixture(scope="module")
def width16(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model with its own argument `width=16`, at two frame sizes, and at the DSTT's."""
    root = tmp_path_factory.mktemp("width16")
    base = ["--model", TINY, "--model-arg", "width=16", "--frames", "1"]
    return {res: _save([*base, "--res", res], root / res) for res in ("64x64", "64x128", "48x48")}


def _diff(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["diff", *argv])
    captured = capsys.readouterr()
    assert captured.err == ""
    return code, captured.out


def _configuration(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("configuration:")]


def test_a_model_argument_never_stands_for_the_frame_width(
    width16: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _diff([str(width16["64x64"]), str(width16["64x128"])], capsys)
    assert code == 0
    assert _configuration(out) == ["configuration: width 64 -> 128"]


def test_dstt_against_a_users_model_keeps_the_namespaces_apart(
    genuine: dict[str, Path], width16: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _diff([str(genuine["dstt"]), str(width16["48x48"])], capsys)
    assert code == 0
    # the frames are 48x48 on both sides: no height or width change; the tiny model's `width` is its own
    assert _configuration(out) == [
        "configuration: attention matmul -> (not set); blocks 8 -> (not set); channel 256 -> (not set); "
        f"heads 4 -> (not set); hidden 512 -> (not set); model dstt -> {TINY}; model_args.width (not set) -> 16; "
        "zones 2 -> (not set)"
    ]


def _only(data: dict[str, Any], frames: set[int]) -> dict[str, Any]:
    kept = copy.deepcopy(data)
    kept["runs"] = [r for r in kept["runs"] if r["config"]["frames"] in frames]
    return kept


def test_unpaired_t_are_named_and_fail_a_gate(
    genuine: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = genuine["sweep"]
    part = _write(_only(_json(sweep), {2}), tmp_path / "t2.json")
    code, out = _diff([str(sweep), str(part)], capsys)
    assert code == 0  # without a gate, a report of what was compared
    assert "\ncompared: t=2\nnot compared: t=1,3 only in A (no run at that t in the other result)\n" in out
    assert out.count("\nt=") == 1
    code, out = _diff([str(sweep), str(part), "--max-growth", "+2%"], capsys)
    assert code == 1 and "within" not in out
    assert out.endswith("\nFAIL t=1,3 only in A: not compared, and a gate passes only on everything it was given\n")
    code, out = _diff([str(part), str(sweep), "--max-growth", "+2%"], capsys)
    assert code == 1
    assert out.endswith("\nFAIL t=1,3 only in B: not compared, and a gate passes only on everything it was given\n")
    code, out = _diff([str(sweep), str(sweep), "--max-growth", "+2%"], capsys)
    assert code == 0 and "not compared: t=" not in out and "compared: t=" not in out
    assert "max growth +2%: within" in out


@pytest.mark.parametrize("side", ["A", "B"])
def test_two_runs_at_one_t_are_refused(
    side: str, genuine: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = genuine["sweep"]
    data = _json(sweep)
    data["runs"][1] = copy.deepcopy(data["runs"][0])  # t=1 twice, the same configuration
    twice = _write(data, tmp_path / "twice.json")
    argv = [str(twice), str(sweep)] if side == "A" else [str(sweep), str(twice)]
    assert main(["diff", *argv, "--max-growth", "+2%"]) == 2
    assert _one_error(capsys) == (
        f"{ERROR}diff: result {side} holds two runs at t=1 (runs[0] and runs[1]): runs are paired by t, "
        "so each t must appear once"
    )


def test_growth_from_zero_is_never_a_percentage() -> None:
    assert signed(Change("x", 0, 1024)) == "+1,024 (from 0)"
    assert signed(Change("x", 100, 102)) == "+2 (+2.000%)"
    assert Change("x", 0, 1024).exceeds(Fraction(1, 50)) and not Change("x", 0, 0).exceeds(Fraction(0))
    assert Change("x", -5, 10).growth is None  # no loaded result holds one; never a huge negative %


def test_a_stage_new_in_b_grows_from_zero(genuine: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(genuine["inference"])
    data["runs"][0]["stages"]["extra"] = {**data["runs"][0]["stages"]["stem"], "name": "extra"}
    b = _write(data, tmp_path / "b.json")
    code, out = _diff([str(genuine["inference"]), str(b), "--max-growth", "+2%"], capsys)
    stem_bytes = data["runs"][0]["stages"]["stem"]["bytes"]
    assert code == 1
    assert out.endswith(f"\nFAIL t=1 extra bytes grew +{stem_bytes:,} (from 0): more than +2%\n")
    assert "%)" not in out.split("extra bytes grew", 1)[1]


# 4. A model's own `backward` stage is the model's ---------------------------------------------------------


@pytest.fixture(scope="module")
def bidirectional(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], str]]:
    """The two-branch model in inference and train mode: its run's JSON and the terminal's summary."""
    root = tmp_path_factory.mktemp("bidirectional")
    model = root / "bidirectional.py"
    model.write_text(BIDIRECTIONAL, encoding="utf-8")
    found = {}
    for mode in ("inference", "train"):
        out = root / mode
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["--model", f"{model}:Bidirectional", "--frames", "1", "--res", "32x32", "--mode", mode,
                         "--format", "json", "--out", str(out)]) == 0
        (path,) = out.glob("*.json")
        found[mode] = (_json(path)["runs"][0], printed.getvalue())
    return found


def test_a_modules_backward_stage_in_inference(
    bidirectional: dict[str, tuple[dict[str, Any], str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = bidirectional["inference"]
    assert list(run["stages"]) == run["profile"]["stages"] == ["forward_branch", "backward (module)"]
    # the root's own op, the clip's transpose, is the root stage's; a view only, so that stage is not shown
    assert {o["stage"] for o in run["ops"]} == {"(root)", "forward_branch", "backward (module)"}
    assert {o["module"] for o in run["ops"] if o["stage"] == "backward (module)"} == {"backward"}
    # the tensor peak: both branches' outputs live after the second convolution, in the module `backward`
    assert (run["tensor_peak"]["stage"], run["tensor_peak"]["module"]) == ("backward (module)", "backward")
    assert run["peak"]["stage"] in ("forward_branch", "backward (module)")
    path = _write({"schema": "dstt-profile/2", "runs": [run]}, tmp_path / "r.json")
    assert main(["report", str(path)]) == 0
    html = (tmp_path / "r.report.html").read_text(encoding="utf-8")
    # the tensor peak is in the module's stage, never "the backward pass" (no backward pass ran)
    assert "in the backward pass" not in html and "backward pass, op #" not in html
    assert "B) in backward (module)" in html
    capsys.readouterr()


def test_a_modules_backward_stage_in_train_mode(bidirectional: dict[str, tuple[dict[str, Any], str]]) -> None:
    run, _ = bidirectional["train"]
    inference, _ = bidirectional["inference"]
    assert list(run["stages"]) == ["forward_branch", "backward (module)"]  # the backward pass is no stage
    assert {o["stage"] for o in run["ops"]} == {"(root)", "forward_branch", "backward (module)", "backward"}
    assert {o["module"] for o in run["ops"] if o["stage"] == "backward"} == {""}  # autograd: no module runs
    assert {o["module"] for o in run["ops"] if o["stage"] == "backward (module)"} == {"backward"}
    # the module's stage holds its own forward FLOPs only, as in inference; the rest is the backward pass
    own = run["stages"]["backward (module)"]["flops"]
    assert own == inference["stages"]["backward (module)"]["flops"]
    autograd = sum(o["flops"] for o in run["ops"] if o["stage"] == "backward")
    assert autograd > 0 and run["flops"]["total"] == run["stages"]["forward_branch"]["flops"] + own + autograd


def _stage_rows(summary: str) -> list[str]:
    """The stage column of the terminal's stage table."""
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("stage ")) + 2
    end = lines.index("", start)
    return [line.split("  ")[0] for line in lines[start:end]]


def test_the_terminal_shows_the_modules_stage_and_the_backward_pass_apart(
    bidirectional: dict[str, tuple[dict[str, Any], str]],
) -> None:
    _, train = bidirectional["train"]
    assert _stage_rows(train) == ["forward_branch", "backward (module)", "backward"]
    _, inference = bidirectional["inference"]
    assert _stage_rows(inference) == ["forward_branch", "backward (module)"]
    assert "in the backward pass" not in inference
    assert "B) in backward (module) (no workspaces, storages at tensor size" in inference


def test_a_stage_map_naming_a_stage_backward(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "bidirectional.py"
    model.write_text(BIDIRECTIONAL, encoding="utf-8")
    stages = tmp_path / "stages.toml"
    stages.write_text("[stages]\n'forward_branch' = \"forward\"\n'backward' = \"backward\"\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--model", f"{model}:Bidirectional", "--stages", str(stages), "--frames", "1", "--res", "32x32",
                 "--mode", "train", "--format", "json", "--out", str(out), "--quiet"]) == 0
    (path,) = out.glob("*.json")
    run = _json(path)["runs"][0]
    assert list(run["stages"]) == ["forward", "backward (module)"]
    assert {o["module"] for o in run["ops"] if o["stage"] == "backward"} == {""}


def test_reserved_names_take_a_free_name() -> None:
    from dstt_profile.profiles.base import user_stages

    assert user_stages(["stem", "head"]) == {}
    assert user_stages(["forward_branch", "backward"]) == {"backward": "backward (module)"}
    assert user_stages(["backward", "backward (module)"]) == {"backward": "backward (module 2)"}
