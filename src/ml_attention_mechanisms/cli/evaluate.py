"""``mlattn evaluate``: a run's trained models on other data, with the same metrics and baselines."""

from __future__ import annotations

import argparse

from ._arguments import add_run_arguments
from ._base import EXIT_OK, Subcommand


class Evaluate(Subcommand):
    name = "evaluate"
    help = "score a run's trained models on other data (later periods, unseen assets, other exchanges)"
    extras = ("data", "eval", "viz")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_run_arguments(
            parser,
            start_help="first decision time scored (default: 90 days in where 30 days stay to score, else a quarter in, at least 755 bars in)",
        )
        parser.add_argument("--out", default=None, help="output directory (default RUN/evaluate)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..recipes import evaluate_run

        result = evaluate_run(
            args.run, args.data, start=args.start, end=args.end, out=args.out, progress=not args.no_progress,
            missing_hours=args.missing_hours, timezone=args.timezone,
        )  # fmt: skip
        print(result.table)
        for warning in result.metrics.get("warnings", []):
            print(f"warning: {warning}")
        print(f"wrote {result.out}/metrics.json and report.html in {result.seconds:.0f} s")
        return EXIT_OK
