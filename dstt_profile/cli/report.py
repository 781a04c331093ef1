"""`dstt-profile report RESULT.json [--out DIR]`: a saved result re-rendered as the HTML report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from dstt_profile.analysis.report import report_of
from dstt_profile.cli.job import result_stem
from dstt_profile.cli.options import report_parser
from dstt_profile.errors import UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path, write_all
from dstt_profile.records.schema import Result
from dstt_profile.render.html import REPORT_SUFFIXES, report_files

RERENDER_TAG = "report"  # `report X.json` writes X.report.html beside it, never X.html


def load_result(path: Path, command: str = "report") -> Result:
    """A saved result holding runs, or UsageError with one line saying what is wrong with the file."""
    try:
        result = Result.load(path)
    except FileNotFoundError:
        raise UsageError(f"{command}: no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise UsageError(f"{command}: {str(path)!r} is a directory, not a result JSON") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{command}: cannot read {str(path)!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not a dstt-profile result (it is not JSON: {exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # SchemaError, or a number json cannot convert
        raise UsageError(f"{path}: not a dstt-profile result ({exc})") from None
    if not result.runs:
        raise UsageError(f"{command}: {str(path)!r} holds no runs")
    return result


def report_command(argv: Sequence[str]) -> int:
    args = report_parser().parse_args(list(argv))
    path = output_path(args.result, "report: the result JSON")
    given = output_path(args.out, "report: --out")
    assert path is not None
    result = load_result(path)
    out, stem = (given, result_stem(result)) if given is not None else (path.parent, f"{path.stem}.{RERENDER_TAG}")
    ensure_dir(out)
    planned = {f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in REPORT_SUFFIXES}
    check_outputs(planned, {"the result JSON": path})
    texts = report_files(report_of(result))
    for written in write_all({out / f"{stem}.{suffix}": text for suffix, text in texts.items()}):
        print(f"wrote {written}")
    return 0
