"""`dstt-profile ir MODEL.xml`: an OpenVINO IR read without PyTorch's model: per layer its type, output shapes, elements,
bytes and FLOPs, grouped into the PyTorch run's stages and checked against the same formulas (docs/openvino.md)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from dstt_profile.cli.job import MAX_STEM
from dstt_profile.cli.options import UsageParser
from dstt_profile.errors import UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path, write_all
from dstt_profile.ir.build import Request, prepare, profile_ir
from dstt_profile.records.ir import IRClip
from dstt_profile.records.runconfig import MAX_FRAMES, parse_res
from dstt_profile.render.ir import SUFFIXES, ir_files, render_text
from dstt_profile.values import positive

FORMATS = ("json", "csv")


def ir_parser() -> UsageParser:
    p = UsageParser("ir", prefix="ir: ", description="Read an OpenVINO IR (MODEL.xml; its .bin is not read): each layer's "
                    "type, output shapes, elements, bytes at its precision and FLOPs, grouped into stages by the layers' "
                    "names and checked against the profile's formulas. An IR holds no memory figures.",
                    epilog="Exit codes: 0 ok, 1 a formula check failed, 2 bad usage or input.")
    p.add_argument("model", help="the IR's XML file (written by OpenVINO: ov.save_model, ovc)")
    p.add_argument("--frames", default=None, help="t: the clip length the shapes are for (default: the IR's input layer's)")
    p.add_argument("--res", default=None, help="frame size HEIGHTxWIDTH (default: the IR's input layer's)")
    p.add_argument("--batch", default=None, help="clips per batch (default: the IR's input layer's, else 1)")
    p.add_argument("--heads", default=None, help="DSTT's attention heads k, which an IR does not show (default 4)")
    p.add_argument("--zones", default=None, help="DSTT's zones per side s, which an IR does not show (default 2)")
    p.add_argument("--stages", default=None, metavar="FILE.toml",
                   help="a stage map ([stages] 'regex' = \"stage\"): patterns matched against each layer's module path "
                   "(__module.X.Y -> X.Y), or against whole layer names where the IR's names carry none")
    p.add_argument("--layers", action="store_true", help="also print every layer but the constants")
    p.add_argument("--format", default="json,csv", help="files beside the HTML page: json, csv (comma-separated; 'none': the page alone)")
    p.add_argument("--out", default="reports", help="directory for the files (default reports/)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def formats(text: str) -> tuple[str, ...]:
    if text.strip() == "none":
        return ()
    found = tuple(f.strip() for f in text.split(",") if f.strip())
    if not found or any(f not in FORMATS for f in found):
        raise UsageError(f"ir: --format {text!r}: choose from {', '.join(FORMATS)}, or none")
    return found


def _number(text: str | None, option: str, high: int = 1 << 20) -> int | None:
    return None if text is None else positive(text, f"ir: {option}", high)


def request_of(argv: Sequence[str]) -> tuple[Request, tuple[str, ...], Path, bool, bool]:
    """The request, the file formats, the output directory, and the --layers and --quiet flags."""
    args = ir_parser().parse_args(list(argv))
    path = output_path(args.model, "ir: the IR file")
    out = output_path(args.out, "ir: --out")
    assert path is not None and out is not None
    if args.stages is not None and not args.stages.strip():
        raise UsageError("ir: --stages: the path is empty")
    req = Request(path=path, frames=_number(args.frames, "--frames", MAX_FRAMES),
                  res=parse_res(args.res, "ir: --res") if args.res is not None else None,
                  batch=_number(args.batch, "--batch"), heads=_number(args.heads, "--heads"),
                  zones=_number(args.zones, "--zones"), stages=args.stages)
    return req, formats(args.format), out, bool(args.layers), bool(args.quiet)


def stem_of(path: Path, c: IRClip) -> str:
    """`<IR name>_t2_240x432_ir`: the IR file's name (characters a file name should not hold as '-'), the clip."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip(".-") or "model"
    clip = f"_t{c.frames}_{c.height}x{c.width}" + (f"_b{c.batch}" if c.batch != 1 else "") if c.frames is not None else ""
    stem = f"{name}{clip}_ir"
    if len(stem) > MAX_STEM:
        stem = f"{stem[: MAX_STEM - 13]}_{hashlib.sha256(stem.encode()).hexdigest()[:12]}"
    return stem


def ir_command(argv: Sequence[str]) -> int:
    req, wanted, out, layers, quiet = request_of(argv)
    prepared = prepare(req)  # the XML read and checked, the clip known: the files' names
    ensure_dir(out)
    stem = stem_of(req.path, prepared.clip)
    inputs = {"the IR file": req.path, "its weights file": req.path.with_suffix(".bin"),
              **({"the stage map": Path(req.stages)} if req.stages else {})}
    planned = {suffix: out / f"{stem}.{suffix}" for suffix in SUFFIXES if suffix == "html" or suffix in wanted}
    check_outputs({f"the {suffix.upper()} output": path for suffix, path in planned.items()}, inputs)
    rec = profile_ir(req, prepared)
    texts = ir_files(rec, wanted)
    if not quiet:
        print(render_text(rec, layers=layers))
        print()
    for written in write_all({planned[suffix]: text for suffix, text in texts.items()}):
        if not quiet:
            print(f"wrote {written}")
    return 1 if rec.checks_failed else 0
