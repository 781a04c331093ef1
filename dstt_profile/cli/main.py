"""The command line: a subcommand of `SUBCOMMANDS`, else the main job; every error one line, exit 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dstt_profile.cli import guard
from dstt_profile.cli.options import PROG, main_parser
from dstt_profile.cli.plugins import load
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.fileio import remove_pending
from dstt_profile.profiles.dstt.commands import COMMANDS as DSTT_COMMANDS

# Subcommands: name -> "module:function", function(argv) -> exit code. Imported only when used.
SUBCOMMANDS: dict[str, str] = {
    **{name: f"dstt_profile.cli.{module}:{name}_command" for name, module in (
        ("report", "report"), ("check", "check"), ("fit", "fit"), ("diff", "diff"), ("scaling", "analyses"),
        ("training", "analyses"), ("verify", "verify"))},
    **DSTT_COMMANDS,  # the built-in profile's own: whatif, seed
    "compare": "dstt_profile.cli.compare:compare_command",  # several models on one clip, side by side
    "ir": "dstt_profile.cli.ir:ir_command",  # an OpenVINO IR's layers, stages and formula checks, without PyTorch's model
}


def main_job(argv: Sequence[str]) -> int:
    args = main_parser().parse_args(argv)
    from dstt_profile.cli.combos import combinations, run_combinations
    from dstt_profile.cli.job import run_job

    variants = combinations(args)  # lists in --dtype, --attention, --mode: every combination
    return run_combinations(variants) if len(variants) > 1 else run_job(args)[0]


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        command = load(SUBCOMMANDS[argv[0]])
        if command is None:
            raise UsageError(f"subcommand {argv[0]!r} is not available in this installation")
        return int(command(argv[1:]))
    return main_job(argv)


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever ends it, temporary files are removed and the user gets one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from dstt_profile.engine.workspace import set_announcer

    # every command says on stderr when it calibrates a convolution, and for about how long (--quiet: not)
    set_announcer(None if "--quiet" in argv else lambda line: print(line, file=sys.stderr, flush=True))
    try:
        with guard.stop_signals_raise(), guard.quiet_libraries():
            code = _dispatch(argv)
            sys.stdout.flush()  # now, so that a full disk or a closed pipe is seen inside the command
            return code
    except (UsageError, TraceError) as exc:
        return _error(str(exc))
    except MemoryError:
        return _error("out of memory: use a smaller t, batch or frame size")
    except OSError as exc:  # standard output on a full disk or a closed pipe
        guard.silence_stdout()
        return _error(f"cannot write the output: {exc.strerror or exc}")
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
