"""``mlattn predict``: forecasts, signals, risk figures and weights of a run's models for every bar."""

from __future__ import annotations

import argparse

from ._base import EXIT_OK, Subcommand


class Predict(Subcommand):
    name = "predict"
    help = "forecasts, signals, risk figures and weights for every bar, as CSV or Parquet"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--run", required=True, help="run directory of `mlattn demo` (with checkpoints/)")
        parser.add_argument(
            "--data", nargs="+", required=True, metavar="FILE", help="OHLCV files, one asset each"
        )
        parser.add_argument("--start", default=None, help="first bar predicted (ISO UTC)")
        parser.add_argument("--end", default=None, help="last bar used (ISO UTC)")
        parser.add_argument("--out", required=True, help="output file, .csv or .parquet")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..recipes import predict_run

        path = predict_run(args.run, args.data, args.out, start=args.start, end=args.end)
        print(f"wrote {path}")
        return EXIT_OK
