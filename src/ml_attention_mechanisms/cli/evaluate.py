"""``mlattn evaluate``: a run's trained models on other data, with the same metrics and baselines."""

from __future__ import annotations

import argparse

from ._base import EXIT_OK, Subcommand


class Evaluate(Subcommand):
    name = "evaluate"
    help = "score a run's trained models on other data (later periods, unseen assets, other exchanges)"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--run", required=True, help="run directory of `mlattn demo` (with checkpoints/)")
        parser.add_argument(
            "--data", nargs="+", required=True, metavar="FILE", help="OHLCV files, one asset each"
        )
        parser.add_argument("--start", default=None, help="first decision time scored (ISO UTC)")
        parser.add_argument("--end", default=None, help="last bar used (ISO UTC)")
        parser.add_argument("--out", default=None, help="output directory (default RUN/evaluate)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars or stage lines")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..recipes import evaluate_run

        result = evaluate_run(
            args.run, args.data, start=args.start, end=args.end, out=args.out, progress=not args.no_progress
        )
        print(result.table)
        for warning in result.metrics.get("warnings", []):
            print(f"warning: {warning}")
        print(f"wrote {result.out}/metrics.json and report.html in {result.seconds:.0f} s")
        return EXIT_OK
