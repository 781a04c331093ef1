"""`--inputs FILE.py:function`: a forward that takes more than the clip, its tensors counted as input; a forward
whose shapes depend on the mask, traced with the inputs' real values and equal to a real run."""

from __future__ import annotations

import copy
import shutil
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from traces import real_peak

from dstt_profile.api import profile, run_config
from dstt_profile.cli.main import main
from dstt_profile.engine.trace import build
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.schema import RunRecord

FILE = Path(__file__).resolve().parent / "models" / "inputs" / "masked.py"
MODEL = f"{FILE}:MaskedWindows"
SMALL = {"frames": 2, "res": "16x16"}

# At t=2, 16x16, width 8: the mask covers the top-left quarter, 4 of the 16 4x4 windows.
# embed 1x1 conv 4->8 over 2 frames: 2*256*8*4*2 = 32,768; scores (4 windows, 32x8 @ 8x32): 4*32*32*8*2 = 65,536,
# and the mix as much; proj 128 tokens 8->8: 128*8*8*2 = 16,384.  32,768 + 2*65,536 + 16,384 = 180,224
FLOPS = 180_224
# input: clip 2*3*16*16*4 = 6,144 B + mask 2*1*16*16*4 = 2,048 B
INPUT_BYTES = 8_192


def _run(function: str, **options: object) -> RunRecord:
    return profile(model=MODEL, inputs=f"{FILE}:{function}", scaling=False, **{**SMALL, **options}).run


@pytest.fixture(scope="module")
def as_tuple() -> RunRecord:
    return _run("as_tuple")


def test_tuple_dict_and_pair_give_the_same_figures(as_tuple: RunRecord) -> None:
    for form in ("as_dict", "as_pair"):
        other = _run(form)
        assert (other.flops, other.peak, other.stages) == (as_tuple.flops, as_tuple.peak, as_tuple.stages)
    assert as_tuple.flops.total == FLOPS
    assert as_tuple.config.inputs == f"{FILE}:as_tuple"


def test_the_inputs_tensors_are_input_not_activations(as_tuple: RunRecord) -> None:
    assert as_tuple.input_bytes == INPUT_BYTES
    assert as_tuple.footprint.input == INPUT_BYTES
    assert as_tuple.footprint.total == as_tuple.param_bytes + INPUT_BYTES + as_tuple.peak.bytes


def test_the_masks_windows_decide_the_attention_matrix(as_tuple: RunRecord) -> None:
    # (masked windows, 16t, 16t) = 4*32*32 = 4,096 elements, made by the root's own ops
    root = as_tuple.stages["(root)"]
    assert (root.shape, root.elements) == ((4, 32, 32), 4_096)
    assert root.headline == "attention matrix (q @ k^T, before softmax)"


def test_prediction_equals_a_real_run_with_the_same_mask(as_tuple: RunRecord) -> None:
    run = as_tuple.config
    assert as_tuple.peak.bytes == real_peak(run)  # the allocator's peak on this machine, same inputs
    real = run.replace(real=True)
    model, inputs = build(real, subject_for(real))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        inputs.call(model.eval())
    assert counter.get_total_flops() == as_tuple.flops.total == FLOPS


def test_a_shape_decided_by_the_weights_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--model", f"{FILE}:ChoosesFromWeights", "--inputs", f"{FILE}:as_tuple", "--frames", "2",
                 "--res", "16x16", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("dstt-profile: error: forward failed in module '<root>': aten.nonzero's output shape "
                             "depends on the values of a tensor computed from the clip or the weights")
    assert err[0].endswith("(--inputs FILE.py:function)")


@pytest.mark.parametrize(("function", "message"), [
    ("not_arguments", "--inputs {f}:not_arguments: it returned list; return the forward's arguments as a tuple "
                      "(positional), a dict (keywords) or a (tuple, dict) pair"),
    ("raises", "--inputs {f}:raises: calling it (batch=1, frames=2, height=16, width=16, dtype=torch.float32) raised "
               "RuntimeError: no masks for this clip"),
    ("missing", "--inputs {f}:missing: {f} has no class or function 'missing'"),
])
def test_bad_inputs_functions_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], function: str,
                                          message: str) -> None:
    code = main(["--model", MODEL, "--inputs", f"{FILE}:{function}", "--frames", "2", "--res", "16x16",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert capsys.readouterr().err == f"dstt-profile: error: {message.format(f=FILE)}\n"


def test_the_api_takes_a_module_and_a_function(as_tuple: RunRecord) -> None:
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("masked_for_api", FILE)
    assert spec is not None and spec.loader is not None
    masked = module_from_spec(spec)
    spec.loader.exec_module(masked)
    net = masked.MaskedWindows()
    before = copy.deepcopy(net.state_dict())
    got = profile(model=net, inputs=masked.as_tuple, scaling=False, **SMALL).run
    assert (got.flops, got.peak, got.params) == (as_tuple.flops, as_tuple.peak, as_tuple.params)
    # the caller's module is untouched: its weights real, on the CPU, with their values
    after = net.state_dict()
    assert all(after[k].device.type == "cpu" and torch.equal(after[k], v) for k, v in before.items())


def test_budgets_files_name_inputs_relative_to_themselves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(FILE, tmp_path / "masks.py")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(textwrap.dedent(f"""\
        [[budget]]
        name = "masked"
        frames = 2
        res = "16x16"
        model = "{FILE}:MaskedWindows"
        inputs = "masks.py:as_tuple"
        flops = {FLOPS}
        """), encoding="utf-8")
    assert main(["check", str(budgets)]) == 0
    budgets.write_text(budgets.read_text().replace(f"flops = {FLOPS}", f"flops = {FLOPS - 1}"), encoding="utf-8")
    assert main(["check", str(budgets)]) == 1
    capsys.readouterr()


def test_run_config_keeps_the_reference() -> None:
    run = run_config(2, "16x16", model=MODEL, inputs=f"{FILE}:as_dict")
    assert run.inputs == f"{FILE}:as_dict"
    assert run.input_files() == {f"the model file of --model {MODEL}": str(FILE),
                                 f"the inputs file of --inputs {FILE}:as_dict": str(FILE)}
