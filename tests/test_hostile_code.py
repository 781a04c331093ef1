"""A user's model code cannot take the tool down: `sys.exit` anywhere in it, a module-level argparse,
a `torch/` or `numpy/` folder beside it, `print` in it, and `--model` naming what is not Python source
each end in exit 0, or in exit 2 with one line naming the model reference and what it did."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dstt_profile.cli.main import main
from dstt_profile.profiles.loader import UserImports, parse_arg

MODELS = Path(__file__).resolve().parent / "models"
SMALL = ("--frames", "1", "--res", "32x32")

NET = """\
import sys
from torch import nn

{at_import}

class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 1)

    def forward(self, x):
        {in_forward}
        return self.conv(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        {in_init}
        self.stem = Stem()
        self.head = nn.Conv3d(4, 3, 1)

    def forward(self, clip):
        return self.head(self.stem(clip.transpose(1, 2)))
"""


def _net(folder: Path, name: str = "net.py", at_import: str = "", in_init: str = "", in_forward: str = "") -> str:
    """A small model file in `folder` with a statement at import, in the constructor and in the stem's
    forward; its `--model` reference."""
    path = folder / name
    path.write_text(
        NET.format(at_import=at_import, in_init=in_init or "pass", in_forward=in_forward or "pass"), encoding="utf-8"
    )
    return f"{path}:Net"


EXITS = [
    ("at_import", "sys.exit(0)", "its import called sys.exit(0)"),
    ("at_import", "raise SystemExit", "its import called sys.exit()"),
    ("at_import", "exit(3)", "its import called sys.exit(3)"),
    ("in_init", "sys.exit(3)", "calling it () called sys.exit(3)"),
    ("in_init", "raise SystemExit('bye')", "calling it () called sys.exit('bye')"),
]


@pytest.mark.parametrize(("where", "code", "said"), EXITS)
def test_sys_exit_in_the_import_or_the_factory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, code: str, said: str
) -> None:
    reference = _net(tmp_path, **{where: code})
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"dstt-profile: error: --model {reference}: {said}\n"
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("code", ["sys.exit(0)", "sys.exit(3)"])
def test_sys_exit_in_the_forward_names_the_module(tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str) -> None:
    reference = _net(tmp_path, in_forward=code)
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out")]) == 2
    status = code.removeprefix("sys.exit(").removesuffix(")")
    assert capsys.readouterr().err == f"dstt-profile: error: forward failed in module 'stem': it called sys.exit({status})\n"


def test_sys_exit_0_in_the_forward_does_not_pass_the_budgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = _net(tmp_path, in_forward="sys.exit(0)")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(
        f'[[budget]]\nname = "net"\nframes = 1\nres = "32x32"\nmodel = "{reference}"\nflops = 1\n', encoding="utf-8"
    )
    assert main(["check", str(budgets)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("dstt-profile: error: forward failed in module 'stem': it called sys.exit(0)")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize("where", ["at_import", "in_init", "in_forward"])
def test_keyboard_interrupt_in_user_code_is_still_an_interrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    reference = _net(tmp_path, **{where: "raise KeyboardInterrupt"})
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "dstt-profile: interrupted\n"


def test_user_code_sees_only_its_own_name_in_sys_argv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen = tmp_path / "argv.jsonl"
    record = f"open({str(seen)!r}, 'a').write(json.dumps(sys.argv) + '\\n')"
    reference = _net(
        tmp_path,
        at_import=textwrap.dedent(f"""\
            import argparse, json
            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=0.1)
            ARGS = parser.parse_args()
            {record}"""),
        in_init=record,
        in_forward=record,
    )
    before = list(sys.argv)
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert sys.argv == before
    path = reference.rpartition(":")[0]
    lines = [json.loads(line) for line in seen.read_text(encoding="utf-8").splitlines()]
    assert len(lines) >= 3 and all(argv == [path] for argv in lines)  # import, constructor(s), forward
    capsys.readouterr()


def test_a_module_level_argparse_that_exits_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = _net(
        tmp_path,
        name="train.py",
        at_import=textwrap.dedent("""\
            import argparse
            parser = argparse.ArgumentParser()
            parser.add_argument("--data", required=True)
            ARGS = parser.parse_args()"""),
    )
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "usage: train.py [-h] --data DATA"  # the user's parser, named after their file
    assert lines[-1] == f"dstt-profile: error: --model {reference}: its import called sys.exit(2)"


def test_module_references_see_the_module_name_in_sys_argv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package = tmp_path / "lib" / "hostilepkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    _net(package, name="argvnet.py", at_import="assert sys.argv == ['hostilepkg.argvnet'], sys.argv")
    args = [*SMALL, "--model", "hostilepkg.argvnet:Net", "--model-path", str(tmp_path / "lib")]
    assert main([*args, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    capsys.readouterr()


def test_printing_model_keeps_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = _net(
        tmp_path, at_import="print('importing')", in_init="print('building')", in_forward="print('forward')"
    )
    assert main(["fit", "--budget", "4MiB", "--res", "32x32", "--format", "json", "--model", reference]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["max_frames"] > 0
    assert {"importing", "building", "forward"} <= set(captured.err.splitlines())


def test_the_tools_own_modules_are_never_swapped(tmp_path: Path) -> None:
    for name in ("torch", "numpy", "model", "dstt_profile", "hostile_fresh_name"):
        (tmp_path / name).mkdir()
    (tmp_path / "json.py").write_text("", encoding="utf-8")
    assert UserImports([tmp_path]).swappable() == {"model", "hostile_fresh_name"}


SHADOWS = [
    pytest.param("beside", False, id="beside-no-init"),
    pytest.param("beside", True, id="beside-with-init"),
    pytest.param("model-path", True, id="model-path-with-init"),
]


@pytest.mark.parametrize(("where", "with_init"), SHADOWS)
def test_torch_and_numpy_folders_beside_the_model_shadow_nothing(tmp_path: Path, where: str, with_init: bool) -> None:
    code, lib, work = tmp_path / "code", tmp_path / "lib", tmp_path / "work"
    for folder in (code, lib, work):
        folder.mkdir()
    for name in ("torch", "numpy"):
        shadow = (code if where == "beside" else lib) / name
        shadow.mkdir()
        if with_init:
            (shadow / "__init__.py").write_text("raise ImportError('the user folder was imported')\n", encoding="utf-8")
    source = (MODELS / "tinyvideo.py").read_text(encoding="utf-8")
    checks = "import numpy\nimport torch\nassert hasattr(numpy, 'zeros') and hasattr(torch, 'nn')\n"
    (code / "net.py").write_text(checks + source, encoding="utf-8")
    argv = [*SMALL, "--model", f"{code / 'net.py'}:TinyVideoNet", "--out", str(tmp_path / "out"), "--quiet"]
    if where == "model-path":
        argv += ["--model-path", str(lib)]
    snippet = "import sys\nfrom dstt_profile.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", snippet, *argv], cwd=work, capture_output=True, text=True, timeout=300, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("{d}/adir", "{d}/adir is a directory; give a source file in it as FILE.py:Net, or the directory with "
                     "--model-path {d}/adir and a module in it as module:Net"),
        ("{d}/dir.py", "{d}/dir.py is a directory, not a Python file; give a source file as FILE.py:Net, or a "
                       "module as package.module:Net with --model-path DIR"),
        ("{d}/net.pyc", "{d}/net.pyc is not a Python source file (FILE.py); give a source file as FILE.py:Net, or a "
                        "module as package.module:Net with --model-path DIR"),
        ("{d}/net.txt", "{d}/net.txt is not a Python source file (FILE.py); give a source file as FILE.py:Net, or a "
                        "module as package.module:Net with --model-path DIR"),
        ("/dev/null", "/dev/null is not a Python source file (FILE.py); give a source file as FILE.py:Net, or a "
                      "module as package.module:Net with --model-path DIR"),
        ("{d}/nothing/net", "{d}/nothing/net: no such file, and not a module name; give a source file as "
                            "FILE.py:Net, or a module as package.module:Net with --model-path DIR"),
    ],
)
def test_model_naming_no_python_source_gets_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, said: str
) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "dir.py").mkdir()
    _net(tmp_path, name="net.txt")
    (tmp_path / "net.pyc").write_bytes(b"\x00\x01not source")
    reference = f"{target.format(d=tmp_path)}:Net"
    assert main([*SMALL, "--model", reference, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"dstt-profile: error: --model {reference}: {said.format(d=tmp_path)}\n"


def test_model_arg_ints_are_ascii_digits_only() -> None:
    texts = ["w=\u0663", "w=1_0", "w=-3", "w=+4", "w=1_0.5", "w=\u0663.5", "w=1e3", "w=0.5", "w=x1"]
    assert [parse_arg(t)[1] for t in texts] == ["\u0663", "1_0", -3, 4, "1_0.5", "\u0663.5", 1000.0, 0.5, "x1"]


def test_a_unicode_digit_model_arg_reaches_the_model_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = f"{MODELS / 'tinyvideo.py'}:TinyVideoNet"
    assert main([*SMALL, "--model", reference, "--model-arg", "width=\u0663", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dstt-profile: error: --model {reference}: calling it (width='\u0663') raised TypeError")
    assert err.count("\n") == 1
