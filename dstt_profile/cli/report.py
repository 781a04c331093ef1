"""`dstt-profile report RESULT.json [--out DIR]`: re-render a saved result as the HTML report (with
its GraphML and DOT), never running the model; and the reading of saved results for every command."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from dstt_profile.cli.options import report_parser
from dstt_profile.errors import UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path
from dstt_profile.records.schema import Result
from dstt_profile.records.stems import result_stem


def load_result(path: Path, command: str = "report") -> Result:
    """A saved result, or UsageError with one line saying what is wrong with the file."""
    try:
        return Result.load(path)
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


def report_command(argv: Sequence[str]) -> int:
    from dstt_profile.render.html import REPORT_SUFFIXES, write_files

    args = report_parser().parse_args(list(argv))
    path = output_path(args.result, "report: the result JSON")
    given = output_path(args.out, "report: --out")
    assert path is not None
    result = load_result(path)
    if not result.runs:
        raise UsageError(f"report: {str(path)!r} holds no runs")
    out = given if given is not None else path.parent
    ensure_dir(out)
    stem = result_stem(result)
    planned = {f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in REPORT_SUFFIXES}
    check_outputs(planned, {"the result JSON": path})
    for written in write_files(result, out, allow_sweep=False):
        print(f"wrote {written}")
    return 0
