"""``mlattn predict``: forecasts, signals, risk figures and weights of a run's models for every bar."""

from __future__ import annotations

import argparse

from ._arguments import add_run_arguments
from ._base import EXIT_OK, Subcommand


class Predict(Subcommand):
    name = "predict"
    help = (
        "write a run's forecasts, signals, risk figures and weights for every bar of other data (CSV/Parquet)"
    )
    extras = ("data",)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_run_arguments(parser, start_help="first bar predicted")
        parser.add_argument("--out", required=True, help="output file, .csv or .parquet")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..recipes import predict_run

        path = predict_run(
            args.run, args.data, args.out, start=args.start, end=args.end, missing_hours=args.missing_hours,
            timezone=args.timezone, on_warning=lambda sentence: print(f"warning: {sentence}"),
        )  # fmt: skip
        print(f"wrote {path}")
        return EXIT_OK
