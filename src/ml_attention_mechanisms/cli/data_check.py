"""``mlattn data-check FILE...``: load each file and print its quality report.

Exit 0 when every file loads; 1 when a file is invalid (one line on stderr naming the file, line, column
and what was expected; the other files are still checked); 2 when a file does not exist, is a directory or is unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys

from ._arguments import add_missing_hours
from ._base import EXIT_FOUND_PROBLEM, EXIT_OK, EXIT_USAGE, Subcommand


class DataCheck(Subcommand):
    name = "data-check"
    help = "check OHLCV files (CSV, Parquet, gzip) and print a quality report for each"
    extras = ("data",)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="OHLCV files to check")
        parser.add_argument(
            "--drop", action="store_true", help="drop invalid rows (listed in the report) instead of failing"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the reports as JSON, one object a line"
        )
        add_missing_hours(parser)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..data.loader import load_ohlcv
        from ..data.validation import DataValidationError

        status = EXIT_OK
        for path in args.files:
            try:
                frame = load_ohlcv(
                    path,
                    errors="drop" if args.drop else "raise",
                    missing_hours=args.missing_hours,
                    timezone=args.timezone,
                )
            except DataValidationError as exc:
                sys.stderr.write(f"mlattn data-check: invalid: {str(exc).splitlines()[0]}\n")
                status = max(status, EXIT_FOUND_PROBLEM)
                continue
            except OSError as exc:  # missing, a directory, unreadable: a usage error, not invalid data
                msg = exc.strerror or str(exc)
                sys.stderr.write(
                    f"mlattn data-check: error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'}\n"
                )
                status = max(status, EXIT_USAGE)
                continue
            report = frame.attrs["quality_report"]
            print(json.dumps(report.to_dict()) if args.json else report.format_text())
        return status
