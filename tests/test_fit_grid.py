"""`fit --gate footprint|peak`, the grid of configurations, and `check` gating on `footprint`.

At 240x432 fp32 inference, for t <= 22 (matmul and sdpa alike), the allocator peak is the decoder's
107,642,880*t + 147,456 and the footprint adds weights 138,116,620 (34,529,155 * 4 B) and the input
3*240*432*4 = 1,244,160 B per frame: footprint(t) = 108,887,040*t + 138,264,076.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traces import profiled

from dstt_profile.cli.check import check_command
from dstt_profile.cli.main import main
from dstt_profile.runs import build_run

GIB = 1024**3


def peak(t: int) -> int:
    return 107_642_880 * t + 147_456


def footprint(t: int) -> int:
    return 108_887_040 * t + 138_264_076


def test_grid_text_gated_on_footprint(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "--budget", "2GiB", "--attention", "matmul,sdpa", "--gate", "footprint"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # t=18: 108,887,040*18 + 138,264,076 = 2,098,230,796 <= 2,147,483,648; t=19: 2,207,117,836 > it
    assert footprint(18) == 2_098_230_796 <= 2 * GIB < footprint(19) == 2_207_117_836
    # headroom 2,147,483,648 - 2,098,230,796 = 49,252,852 B = 47.0 MiB, 2.3% of the budget
    assert lines[0] == (
        "largest t within 2.0 GiB (2,147,483,648 B); gate: footprint: weights + input + allocator peak "
        "(+ optimizer state in train mode, + the assumed CUDA context on cuda)"
    )
    assert lines[2].split() == [
        "res", "dtype", "attention", "mode", "batch", "max", "t", "peak", "footprint", "headroom", "(footprint)",
        "t+1", "footprint",
    ]
    # peak(18) = 1,937,719,296 B = 1.8 GiB; footprint(19) = 2.1 GiB
    assert lines[4].split() == ["240x432", "float32", "matmul", "inference", "1", "18", "1.8", "GiB", "2.0", "GiB",
                                "47.0", "MiB", "(2.3%)", "2.1", "GiB"]
    assert lines[5].split()[:6] == ["240x432", "float32", "sdpa", "inference", "1", "18"]
    # per combination: traces at t = 1, 2, 3, 4 and the check at t = 18; t = 8, 16, 17, 19, 20, 24, 32 derived
    assert lines[-1].endswith("10 fake-tensor traces, 14 more t derived from them exactly")


def test_grid_json_is_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "--budget", "2GiB", "--attention", "matmul,sdpa", "--gate", "peak", "--format", "json"]
    assert main(argv) == 0
    answers = json.loads(capsys.readouterr().out)
    # gate peak: 107,642,880*19 + 147,456 = 2,045,362,176 <= 2 GiB; t=20: 2,153,005,056 > it
    expected = {
        "res": "240x432", "dtype": "float32", "mode": "inference", "batch": 1, "max_frames": 19,
        "peak_bytes": peak(19), "next_peak_bytes": peak(20), "budget_bytes": 2 * GIB, "gate": "peak",
        "footprint_bytes": footprint(19), "next_footprint_bytes": footprint(20),
    }
    assert answers == [{**expected, "attention": "matmul"}, {**expected, "attention": "sdpa"}]
    assert [list(a)[:5] for a in answers] == [["res", "dtype", "attention", "mode", "batch"]] * 2


def test_single_fit_says_its_gate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "2GiB", "--gate", "footprint"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("at most t = 18 frames fit in 2.0 GiB (2,147,483,648 B)")
    assert "(gate: footprint: weights + input + allocator peak" in out[0]
    assert out[1] == "  peak at t = 18: 1.8 GiB (1,937,719,296 B, in decoder); footprint 2.0 GiB (2,098,230,796 B)"
    assert out[2] == "  peak at t = 19: 1.9 GiB (2,045,362,176 B); footprint 2.1 GiB (2,207,117,836 B) (footprint over budget)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gate", "flops"], "--gate 'flops': choose peak or footprint"),
        (["--dtype", "float32,float32"], "--dtype 'float32,float32': an item is repeated"),
        (["--res", "240x432,"], "--res '240x432,': an empty item in the list"),
        (["--attention", "matmul,flash"], "attention 'flash' is not one of matmul, sdpa"),
    ],
)
def test_bad_fit_options_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "2GiB", *argv]) == 2
    assert capsys.readouterr().err == f"dstt-profile: error: {message}\n"


def entry(**keys: object) -> str:
    values = {"frames": 14, **keys}
    return '[[budget]]\nname = "t14"\n' + "\n".join(f"{k} = {v}" for k, v in values.items()) + "\n"


def test_check_gates_on_footprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "budgets.toml"
    # footprint(14) = 108,887,040*14 + 138,264,076 = 1,662,682,636
    assert footprint(14) == 138_116_620 + 14 * 3 * 240 * 432 * 4 + 1_507_147_776 == 1_662_682_636
    path.write_text(entry(footprint=footprint(14)))
    assert check_command([str(path)]) == 0
    out = capsys.readouterr().out
    assert "footprint: the whole memory the pass needs: weights + input + the allocator peak" in out
    path.write_text(entry(footprint=footprint(14) - 1, flops=1_673_136_783_360))
    assert check_command([str(path)]) == 1
    out = capsys.readouterr().out
    assert "footprint 1.5 GiB (1,662,682,636) is over its budget 1.5 GiB (1,662,682,635)" in out
    assert [line.split()[1] for line in out.splitlines()[2:4]] == ["footprint", "flops"]


def test_check_train_footprint_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "budgets.toml"
    # small network, t=2, train, SGD: params 1,273,987 * 4 = 5,095,948 B of weights and of momentum
    path.write_text(entry(frames=2, mode='"train"', optimizer='"sgd"', hidden=128, channel=64, blocks=2, footprint='"1 GiB"'))
    assert check_command([str(path), "--json", str(tmp_path / "r.json")]) == 0
    metric = json.loads((tmp_path / "r.json").read_text())["entries"][0]["metrics"][0]
    small = build_run(2, mode="train", optimizer="sgd", model_args={"hidden": 128, "channel": 64, "blocks": 2})
    record = profiled(small, keep_ops=False)
    # weights 5,095,948 + input 2*3*240*432*4 = 2,488,320 + the step's peak + momentum 5,095,948
    assert metric["metric"] == "footprint"
    assert metric["actual"] == 5_095_948 + 2_488_320 + record.peak.bytes + 5_095_948
    config = json.loads((tmp_path / "r.json").read_text())["entries"][0]["config"]
    args = config["model_args"]
    assert (config["optimizer"], args["hidden"], args["channel"], args["blocks"]) == ("sgd", 128, 64, 2)
    path.write_text(entry(optimizer='"lamb"', footprint='"1 GiB"'))
    capsys.readouterr()  # what the runs above printed (calibration notices)
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"dstt-profile: error: {path}: budget 't14': key 'optimizer': optimizer 'lamb' is not one of adam, sgd, none\n"
    )


def test_fit_checks_a_checkpoint_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from model.config import DSTTConfig
    from model.dstt import InpaintGenerator

    path = tmp_path / "small.pth"
    torch.save(InpaintGenerator(DSTTConfig(hidden=128, channel=64, blocks=2)).state_dict(), path)
    # the network fit would search (hidden 256) is not the checkpoint's (hidden 128): exit 2, one line, no search
    argv = ["fit", "--budget", "2GiB", "--hidden", "256", "--channel", "64", "--blocks", "2", "--checkpoint", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"dstt-profile: error: --checkpoint {path}: shape mismatch for ")
