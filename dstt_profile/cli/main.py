"""The command line. `dstt-profile --frames 14 --res 240x432` is the main job.

Exit codes: 0 ok, 1 a check or budget failed, 2 bad usage or bad input (one line, no traceback).
Subcommands (`report`, ...) are looked up in `SUBCOMMANDS`; anything else is the main job.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dstt_profile.cli import guard
from dstt_profile.cli.options import PROG, main_parser
from dstt_profile.cli.plugins import load
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.fileio import remove_pending

# Subcommands: name -> "module:function", function(argv) -> exit code. Imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "report": "dstt_profile.cli.report:report_command",
    "check": "dstt_profile.cli.check:check_command",
    "fit": "dstt_profile.cli.fit:fit_command",
    "diff": "dstt_profile.cli.diff:diff_command",
    "scaling": "dstt_profile.cli.analyses:scaling_command",
    "whatif": "dstt_profile.cli.analyses:whatif_command",
    "training": "dstt_profile.cli.analyses:training_command",
    "seed": "dstt_profile.cli.analyses:seed_command",
    "verify": "dstt_profile.cli.verify:verify_command",
}


def main_job(argv: Sequence[str]) -> int:
    args = main_parser().parse_args(argv)
    from dstt_profile.cli.combos import combinations, run_combinations
    from dstt_profile.cli.job import run_job

    variants = combinations(args)  # lists in --dtype, --attention, --mode: every combination
    if len(variants) > 1:
        return run_combinations(variants)
    return run_job(args)[0]


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        command = load(SUBCOMMANDS[argv[0]])
        if command is None:
            raise UsageError(f"subcommand {argv[0]!r} is not available in this installation")
        return int(command(argv[1:]))
    return main_job(argv)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever ends it, temporary files are removed and the user gets one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from dstt_profile.engine.workspace import set_announcer

    # every command says on stderr when it calibrates a convolution, and for about how long (--quiet: not)
    set_announcer(None if "--quiet" in argv else lambda line: print(line, file=sys.stderr, flush=True))
    try:
        with guard.stop_signals_raise(), guard.quiet_libraries():
            code = _dispatch(argv)
            guard.flush_stdout()
            return code
    except (UsageError, TraceError) as exc:
        _error(str(exc))
        return 2
    except MemoryError:
        _error("out of memory: use a smaller t, batch or frame size")
        return 2
    except OSError as exc:  # standard output on a full disk or a closed pipe
        guard.silence_stdout()
        _error(f"cannot write the output: {exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except guard.Stopped as exc:
        print(f"{PROG}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    finally:
        remove_pending()


if __name__ == "__main__":
    sys.exit(main())
