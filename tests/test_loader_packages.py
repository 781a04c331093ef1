"""Models laid out as released repositories are (tests/models/pkgs/README.md): namespace packages, files
with relative imports, two repositories with a `model` package in one process, a model that the meta
device cannot build, a repository whose import needs a missing module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from dstt_profile.api import run_config
from dstt_profile.cli.main import main
from dstt_profile.profiles import loader
from dstt_profile.profiles.builder import call
from dstt_profile.profiles.imports import UserImports
from dstt_profile.profiles.packagefile import package_of
from dstt_profile.profiles.registry import subject_for

ROOT = Path(__file__).resolve().parents[1]
PKGS = Path(__file__).resolve().parent / "models" / "pkgs"
NSREPO, PKGREPO, MISSING = PKGS / "nsrepo", PKGS / "pkgrepo", PKGS / "missing"
STANDINS = Path(__file__).resolve().parent / "models" / "standins"
SMALL = ("--frames", "1", "--res", "16x16", "--format", "csv")


def _profile(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> tuple[str, str]:
    assert main([*SMALL, *args, "--out", str(out)]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return captured.out, captured.err


def _line(out: str, label: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(label))


def _ours_back() -> None:
    import model

    assert model.__file__ == str(ROOT / "model" / "__init__.py") and hasattr(model, "InpaintGenerator")
    assert not [name for name in sys.modules if name.startswith(("model.modules", "model.absnet", "model.relnet",
                                                                 "model.propnet", "model.misc", "model.net"))]


def test_a_namespace_package_by_module_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import model  # ours, imported before: it is set aside while theirs loads, and put back after

    out, _ = _profile(capsys, tmp_path, "--model", "model.absnet:AbsNet", "--model-path", str(NSREPO))
    # stem: Conv2d 3->8, 3x3: 3*8*3*3 + 8 = 224; head: Conv2d 8->3, 1x1: 8*3 + 3 = 27; 251 in all
    assert _line(out, "parameters").startswith("parameters   251 ")
    assert _line(out, "profile") == "profile      stages: the model's top-level modules"
    assert sys.modules["model"] is model
    _ours_back()


def test_a_file_in_a_namespace_package_imports_its_package_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = _profile(capsys, tmp_path, "--model", f"{NSREPO / 'model' / 'absnet.py'}:AbsNet", "--model-arg", "width=2")
    # stem: 3*2*3*3 + 2 = 56; head: 2*3 + 3 = 9
    assert _line(out, "parameters").startswith("parameters   65 ")
    _ours_back()


def test_a_file_with_relative_imports_in_a_regular_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = _profile(capsys, tmp_path, "--model", f"{PKGREPO / 'model' / 'propnet.py'}:PropNet")
    # WIDTH 4 from .misc: stem 3*4*3*3 + 4 = 112; head (model.modules.layers) 4*3 + 3 = 15
    assert _line(out, "parameters").startswith("parameters   127 ")
    _ours_back()


def test_file_packages(tmp_path: Path) -> None:
    assert package_of(PKGREPO / "model" / "propnet.py", []) == ("model.propnet", PKGREPO)  # __init__.py
    assert package_of(NSREPO / "model" / "relnet.py", []) == ("model.relnet", NSREPO)  # `from .modules`
    assert package_of(NSREPO / "model" / "absnet.py", []) == ("model.absnet", NSREPO)  # `from model.modules`
    blocks = NSREPO / "model" / "modules" / "blocks.py"
    assert package_of(blocks, []) is None  # imports nothing of its package: stand-alone
    assert package_of(blocks, [NSREPO]) == ("model.modules.blocks", NSREPO)  # below a --model-path root
    assert package_of(blocks, [blocks.parent]) is None  # in the root itself
    (tmp_path / "vision").mkdir()
    (tmp_path / "vision" / "net.py").write_text("import vision\nfrom vision.models import x\n", encoding="utf-8")
    assert package_of(tmp_path / "vision" / "net.py", []) is None  # an installed `vision`: no vision/models here
    (tmp_path / "vision" / "models.py").write_text("", encoding="utf-8")
    assert package_of(tmp_path / "vision" / "net.py", []) == ("vision.net", tmp_path)


def _params(reference: str, model_path: tuple[str, ...] = ()) -> int:
    factory, imports = loader.load(reference, model_path)
    return sum(p.numel() for p in call(reference, factory, {}, imports).parameters())


def test_a_file_with_relative_imports_in_a_namespace_package() -> None:
    # stem: Conv2d 3->4, 3x3: 3*4*3*3 + 4 = 112; head: Conv2d 4->3, 3x3: 4*3*3*3 + 3 = 111
    assert _params(f"{NSREPO / 'model' / 'relnet.py'}:RelNet") == 223
    _ours_back()


def test_a_namespace_package_wins_over_a_regular_one_further_along_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # `python -m dstt_profile` in this project: our model/ on sys.path
    assert _params("model.relnet:RelNet", (str(NSREPO),)) == 223
    _ours_back()


def test_two_repositories_with_a_model_package_in_one_process() -> None:
    theirs = loader.load(f"{PKGREPO / 'model' / 'propnet.py'}:PropNet")
    other = loader.load("model.absnet:AbsNet", [str(NSREPO)])
    # each built after the other repository's `model` was imported sees its own (PropNet imports model.misc)
    for (factory, imports), params in [(theirs, 127), (other, 251), (theirs, 127), (other, 251)]:
        assert sum(p.numel() for p in call("ref", factory, {}, imports).parameters()) == params
    _ours_back()


@pytest.mark.parametrize("form", ["file", "module"])
def test_a_missing_module_is_named_past_namespace_packages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    args = [f"{MISSING / 'model' / 'net.py'}:Net"] if form == "file" else ["model.net:Net", "--model-path", str(MISSING)]
    assert main([*SMALL, "--model", *args, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"dstt-profile: error: --model {args[0]}: importing it needs the module 'dstt_test_absent_dependency', "
        "which is not importable; add the directory that holds 'dstt_test_absent_dependency' with --model-path DIR\n")
    _ours_back()


def test_a_missing_module_beside_the_files_directory_is_pointed_at(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "net.py").write_text("import core.norm\n", encoding="utf-8")
    reference = f"{tmp_path / 'model' / 'net.py'}:Net"
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"dstt-profile: error: --model {reference}: importing it needs the module 'core', which is not importable; "
        f"add the directory that holds 'core' with --model-path DIR ({tmp_path} holds one)\n")


def test_a_model_the_meta_device_cannot_build_is_built_on_the_cpu_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = f"{PKGS / 'sparse' / 'sparsenet.py'}:SparseNet"
    out, err = _profile(capsys, tmp_path, "--model", reference)
    # body: Conv2d 3->3, 3x3: 3*3*3*3 + 3 = 84; the buffer (3, 1) int64 is no parameter
    assert _line(out, "parameters").startswith("parameters   84 ")
    assert _line(out, "profile") == ("profile      stages: the model's top-level modules; built on the CPU for real: "
                                     "building on the meta device failed (NotImplementedError in nonzero)")
    # the meta build tried once; one real build serves the profile and the fake trace
    assert [line for line in err.splitlines() if line.startswith("building")] == ["building on meta", "building on cpu"]
    with FakeTensorMode(), torch.device("meta"):  # as a fake trace builds (engine/trace.py)
        again = subject_for(run_config(1, "16x16", model=reference)).build(False)
    assert capsys.readouterr().err == "building on cpu\n"  # the failure remembered: straight to the CPU
    taps = again.get_buffer("taps")
    assert not isinstance(taps, FakeTensor) and (taps.device.type, taps.shape) == ("meta", (3, 1))
    assert {p.device.type for p in again.parameters()} == {"meta"}
    real = subject_for(run_config(1, "16x16", model=reference)).build(True)
    assert capsys.readouterr().err == "building on cpu\n" and real.get_buffer("taps").flatten().tolist() == [1, 2, 3]


def test_the_stand_in_deformable_convolution_is_a_convolution_at_zero_offsets() -> None:
    """tests/models/standins (the mmcv and torchvision stand-ins the released repositories are run with)."""
    with UserImports([STANDINS]).active():
        from mmcv.ops import ModulatedDeformConv2d
        from torchvision.ops import deform_conv2d
    assert "mmcv" not in sys.modules and "torchvision" not in sys.modules
    torch.manual_seed(0)
    x, weight, bias = torch.randn(2, 8, 7, 9), torch.randn(6, 4, 3, 3), torch.randn(6)
    reference = F.conv2d(x, weight, bias, stride=2, padding=1, groups=2)
    offset, mask = torch.zeros(2, 2 * 2 * 9, 4, 5), torch.ones(2, 2 * 9, 4, 5)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, 2, 1, 1, mask), reference)
    # every tap moved one pixel right: the convolution of the input shifted left (inside the border)
    offset[:, 1::2] = 1.0
    shifted = torch.cat([x[..., 1:], torch.zeros_like(x[..., :1])], dim=-1)
    moved = deform_conv2d(x, offset, weight, bias, 2, 1, 1, mask)
    torch.testing.assert_close(moved[..., 1:], F.conv2d(shifted, weight, bias, stride=2, padding=1, groups=2)[..., 1:])
    layer = ModulatedDeformConv2d(8, 6, 3, padding=1, deform_groups=2)
    assert (layer.stride, layer.padding, layer.dilation, layer.groups, layer.deform_groups) == ((1, 1), (1, 1), (1, 1), 1, 2)
    assert layer(x, torch.zeros(2, 36, 7, 9), torch.ones(2, 18, 7, 9)).shape == (2, 6, 7, 9)
