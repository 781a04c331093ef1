"""The footprint: the whole memory a pass needs, its parts summing to it exactly; the CSV's
configuration columns; --hidden/--channel/--blocks and --checkpoint. Exact figures, arithmetic beside."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
import torch
from traces import conv_workspace, profiled

from dstt_profile.analysis.report import report_of
from dstt_profile.cli.main import main
from dstt_profile.pipeline.training import with_train_split
from dstt_profile.records import footprint
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import FootprintRecord, Result, RunRecord
from dstt_profile.render.footprint import footprint_lines, footprint_parts
from dstt_profile.render.html import footprint_text
from dstt_profile.render.tabular import STAGE_COLUMNS, render_csv
from dstt_profile.render.terminal import render_run
from model.config import DSTTConfig
from model.dstt import InpaintGenerator

WEIGHTS = 138_116_620  # 34,529,155 params * 4 B
INPUT_T14 = 17_418_240  # 14*3*240*432*4
PEAK_T14 = 1_507_147_776  # allocator peak: 107,642,880*14 + 147,456


@pytest.fixture(scope="module")
def t14() -> RunRecord:
    return profiled(RunConfig(frames=14), keep_ops=False)


@pytest.fixture(scope="module")
def train2() -> RunRecord:
    return with_train_split(profiled(RunConfig(frames=2, mode="train"), keep_ops=True))


def parts_sum(fp: FootprintRecord) -> int:
    return sum(n for _, n, _ in footprint_parts(fp))


def test_inference_footprint_t14(t14: RunRecord) -> None:
    fp = t14.footprint
    assert (fp.weights, fp.input, fp.activations, fp.optimizer, fp.context) == (WEIGHTS, INPUT_T14, PEAK_T14, 0, 0)
    # 138,116,620 + 17,418,240 + 1,507,147,776 = 1,662,682,636
    assert fp.total == parts_sum(fp) == 1_662_682_636
    assert (fp.mode, fp.optimizer_name, fp.gradients_in_peak, fp.saved_in_peak) == ("inference", "none", 0, 0)
    line = "footprint    1.5 GiB (1,662,682,636 B) = weights 131.7 MiB + input clip 16.6 MiB + activation peak 1.4 GiB"
    assert line in render_run(t14).splitlines()
    assert footprint_text(t14).startswith("1.5 GiB (1,662,682,636 B) = weights")


# Two candidates for the train step's allocator peak at t=2 (the backward pass is counted without
# workspaces, so its figure is tensors alone, the same on every CPU):
#   the forward's decoder.6 convolution (64 -> 3 channels at 240x432): 815,892,480 B held after it, and
#   inside it this machine's workspace (oneDNN's blocked copies on AVX-512: 63,903,936 B, 879,796,416 in all)
#   the backward's aten.leaky_relu_backward (op 566): 879,305,492 B of tensors
HELD_AT_DECODER_6 = 815_892_480
BACKWARD_PEAK = 879_305_492


def _train_peak() -> tuple[int, int]:
    """(allocator peak of the t=2 train step on this machine, op index where it is)."""
    forward = HELD_AT_DECODER_6 + conv_workspace((64, 240, 432), (3, 64, 3, 3), "float32", 2)
    return (forward, 553) if forward > BACKWARD_PEAK else (BACKWARD_PEAK, 566)


def test_train_footprint_adam_and_what_the_peak_holds(train2: RunRecord) -> None:
    fp = train2.footprint
    peak, index = _train_peak()
    # input 2*3*240*432*4 = 2,488,320
    assert (fp.weights, fp.input, fp.activations) == (WEIGHTS, 2_488_320, peak)
    assert (fp.optimizer_name, fp.optimizer) == ("adam", 276_233_240)  # 2 x 138,116,620
    # 138,116,620 + 2,488,320 + peak + 276,233,240
    assert fp.total == parts_sum(fp) == 138_116_620 + 2_488_320 + peak + 276_233_240
    assert train2.peak.op_index == index
    # inside the peak, not added: in the forward no gradient exists yet, and 770,641,920 B are saved for
    # backward; in the backward, parameter gradients (6,924 B so far) and 773,130,240 B still saved
    split = {553: (0, 770_641_920), 566: (6_924, 773_130_240)}[index]
    assert (fp.gradients_in_peak, fp.saved_in_peak) == split
    lines = render_run(train2).splitlines()
    assert any(line.startswith("footprint    ") and f"({fp.total:,} B) = weights 131.7 MiB + input clip 2.4 MiB" in line
               and line.endswith("+ optimizer state (adam) 263.4 MiB") for line in lines)
    assert (
        "             allocator peak of forward + backward; inside it, not added again: "
        f"gradients {split[0]:,} B, activations saved for backward {split[1]:,} B"
    ) in lines


@pytest.mark.parametrize(("optimizer", "state"), [("sgd", 138_116_620), ("none", 0)])  # 1 x, 0 x parameters
def test_train_optimizers(train2: RunRecord, optimizer: str, state: int) -> None:
    run = RunConfig(frames=2, mode="train", optimizer=optimizer)
    fp = footprint.footprint(run, train2.params, train2.param_bytes, train2.input_bytes, train2.peak.bytes)
    assert fp.optimizer == state and fp.total == 138_116_620 + 2_488_320 + _train_peak()[0] + state == parts_sum(fp)


def test_cuda_context_is_a_stated_assumption() -> None:
    fp = footprint.footprint(RunConfig(frames=14, device="cuda"), 34_529_155, WEIGHTS, INPUT_T14, PEAK_T14)
    assert fp.context == footprint.CUDA_CONTEXT_BYTES == 536_870_912  # 512 MiB
    assert fp.total == 1_662_682_636 + 536_870_912 == parts_sum(fp)
    assert ("CUDA context", 536_870_912, "assumed allowance of 512.0 MiB, not traced") in footprint_parts(fp)
    assert footprint_lines(fp)[-1] == "             CUDA context: an assumed allowance of 536,870,912 B, not traced"


def test_json_round_trip_and_older_results(t14: RunRecord) -> None:
    data = json.loads(Result((t14,)).to_json())
    assert data["runs"][0]["footprint"]["total"] == 1_662_682_636
    assert Result.from_dict(data).runs[0].footprint == t14.footprint
    del data["runs"][0]["footprint"]  # a result saved before footprints: loads, and the figure is computed
    old = Result.from_dict(data).runs[0]
    assert old.footprint == t14.footprint  # computed once, as the result is read


def test_csv_carries_every_config_column(t14: RunRecord) -> None:
    assert STAGE_COLUMNS[-13:] == (
        "heads", "zones", "blocks", "hidden", "channel", "device", "optimizer", "params", "peak_stage",
        "allocator_peak_bytes", "footprint_bytes", "model", "model_args",
    )
    rows = list(csv.DictReader(io.StringIO(render_csv(report_of(Result((t14,)))))))
    assert len(rows) == 9
    row = rows[0]
    assert {k: row[k] for k in STAGE_COLUMNS[-13:]} == {
        "heads": "4", "zones": "2", "blocks": "8", "hidden": "512", "channel": "256", "device": "cpu",
        "optimizer": "none", "params": "34529155", "peak_stage": "decoder",
        "allocator_peak_bytes": "1507147776", "footprint_bytes": "1662682636", "model": "dstt", "model_args": "",
    }
    assert (row["peak_view"], row["peak_bytes"], row["tensor_peak_bytes"]) == ("allocator", "1507147776", "1003806720")


SMALL = ["--hidden", "128", "--channel", "64", "--blocks", "2"]


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.manual_seed(0)
    model = InpaintGenerator(DSTTConfig(hidden=128, channel=64, blocks=2))
    torch.save({"netG": model.state_dict()}, path)
    return path


def test_sizes_and_matching_checkpoint(
    small_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--frames", "2", *SMALL, "--checkpoint", str(small_checkpoint), "--out", str(tmp_path), "--format", "json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        f"checkpoint   {small_checkpoint}: matches (hidden 128, channel 64, blocks 2, heads 4; 62 tensors, "
        "1,273,987 parameters, loaded strictly)"
    ) in out.splitlines()
    saved = json.loads((tmp_path / "dstt_t2_240x432_float32.json").read_text())
    run = saved["runs"][0]
    args = run["config"]["model_args"]
    assert (args["hidden"], args["channel"], args["blocks"]) == (128, 64, 2)
    assert run["params"] == 1_273_987 and run["param_bytes"] == 5_095_948  # 1,273,987 * 4
    # 5,095,948 + 2,488,320 + 183,361,536 = 190,945,804
    assert run["footprint"]["total"] == 190_945_804 and run["peak"]["bytes"] == 183_361_536
    assert saved["meta"]["checkpoint"].startswith(f"checkpoint   {small_checkpoint}: matches")


def test_mismatching_checkpoint_is_one_line_exit_2(
    small_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--frames", "2", "--checkpoint", str(small_checkpoint), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    # the default network has 8 blocks, the checkpoint 2: blocks 2..7 are missing (96 tensors)
    assert err.count("\n") == 1 and err.startswith(f"dstt-profile: error: --checkpoint {small_checkpoint}: missing keys: ")
    assert err.endswith("(96 in all)\n")
    wider = ["--hidden", "256", "--channel", "64", "--blocks", "2"]
    assert main(["--frames", "2", *wider, "--checkpoint", str(small_checkpoint), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--checkpoint {small_checkpoint}: shape mismatch for " in err
    assert list(tmp_path.iterdir()) == []
    assert main(["--frames", "2", "--checkpoint", str(tmp_path / "none.pth"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"dstt-profile: error: --checkpoint {tmp_path / 'none.pth'}: no such file\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hidden", "0"], "--hidden"),
        (["--blocks", "x"], "--blocks"),
        (["--optimizer", "lamb"], "optimizer 'lamb' is not one of adam, sgd, none"),
    ],
)
def test_bad_size_options_exit_2(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "2", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_parts_of_a_record_sum_to_its_total(t14: RunRecord) -> None:
    changed = dataclasses.replace(t14.footprint, total=t14.footprint.total + 1)
    assert parts_sum(changed) != changed.total  # the sum is checked, not assumed
