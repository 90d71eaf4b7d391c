"""``mlattn``: the command-line tool. It parses arguments and calls public library functions."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .._import_guard import MissingExtraError, require_extras
from .._version import __version__
from ._arguments import add_global_flags
from ._base import EXIT_FOUND_PROBLEM, EXIT_USAGE, CLIError, Subcommand
from .backtest import Backtest
from .benchmark import Benchmark
from .data_check import DataCheck
from .demo import Demo
from .evaluate import Evaluate
from .export import Export
from .list_models import ListModels
from .predict import Predict
from .train import Train
from .tune import Tune

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

SUBCOMMANDS: list[type[Subcommand]] = [
    Demo,
    ListModels,
    Benchmark,
    Train,
    Tune,
    DataCheck,
    Evaluate,
    Predict,
    Backtest,
    Export,
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, exit 2 (argparse prints the whole usage block by default).
        sys.stderr.write(f"mlattn: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlattn", description="Attention models for crypto market data.")
    parser.add_argument("--version", action="version", version=f"mlattn {__version__}")
    add_global_flags(parser, with_defaults=True)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for cmd in SUBCOMMANDS:
        cmd.create(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = getattr(args, "_command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        require_extras(*command.required_extras(args), purpose="this command")
        return int(command.run(args))
    except MissingExtraError as exc:  # an extra the command needs (checked above) or one it found missing
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"mlattn {command.name}: error: {exc}\n")
        return EXIT_USAGE
    except CLIError as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"mlattn {command.name}: error: {exc}\n")
        return exc.exit_code
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, TypeError) as exc:
        if args.debug:
            traceback.print_exc()
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"mlattn {command.name}: error: {msg}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("mlattn: interrupted\n")
        return 130
    except Exception as exc:  # a bug, not an input error: still one line; --debug shows where
        if args.debug:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        sys.stderr.write(
            f"mlattn {command.name}: internal error: {type(exc).__name__}: {first} "
            "(a bug: rerun with --debug for the traceback and report it)\n"
        )
        return EXIT_FOUND_PROBLEM


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
