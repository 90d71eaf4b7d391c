"""``mlattn demo``: train the four small models on the bundled data (or ``--data`` files) and score them
against baselines.

Trains the small preset of each of the four models on the bundled 5-asset hourly data with the default split
(or on the user's OHLCV files with ``--data``, split by ``--train-end``/``--val-end`` or 70/15/15% of the bars),
chooses everything on validation only (the strategies' volatility targeting included), scores the test split
against every baseline with the significance tests (BNB and ADA as coins unseen in training) and a backtest
after 10 bps fees, and writes ``metrics.json``, ``report.html``, the PNG plots,
checkpoints and the resolved config to ``runs/demo/`` (or ``--out``). See
:mod:`ml_attention_mechanisms.recipes.demo`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._arguments import add_missing_hours, flag_names, reading_options
from ._base import EXIT_OK, CLIError, Subcommand


class Demo(Subcommand):
    name = "demo"
    help = (
        "train the four small models on the bundled hourly data (or your --data files), calibrate them on "
        "validation, score them on the test split against baselines (metrics.json, report.html, checkpoints)"
    )
    extras = ("data", "train", "eval", "viz")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
        parser.add_argument(
            "--full",
            action="store_true",
            help="add the walk-forward folds, the leave-one-asset-out folds and the ablations (takes longer)",
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help="a tiny run of seconds on a short slice (tests), every artefact (with --full: tiny folds too)",
        )
        parser.add_argument(
            "--models",
            nargs="+",
            default=None,
            metavar="MODEL",
            help="train only these presets (default: all four)",
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--ensemble",
            type=int,
            default=None,
            metavar="N",
            help="train the price model on N seeds (--seed, --seed + 1, ...) and average their forecasts "
            "(default 3; 1 with --quick; 1: one price model)",
        )
        parser.add_argument(
            "--data",
            nargs="+",
            default=None,
            metavar="FILE",
            help="train and score on these OHLCV files (CSV/Parquet, one asset each, hourly or shorter bars, "
            "which are aggregated) instead of the bundled data; every asset is scored, as seen or unseen",
        )
        parser.add_argument(
            "--start",
            default=None,
            metavar="TIME",
            help="with --data: the first bar kept (ISO UTC; default: all)",
        )
        parser.add_argument(
            "--end",
            default=None,
            metavar="TIME",
            help="with --data: the last bar kept (ISO UTC; default: all)",
        )
        parser.add_argument(
            "--train-end",
            default=None,
            metavar="TIME",
            help="with --data: the last bar of the training split (ISO UTC; default: 70%% of the bars in)",
        )
        parser.add_argument(
            "--val-end",
            default=None,
            metavar="TIME",
            help="with --data: the last bar of the validation split (ISO UTC; default: 85%% of the bars in)",
        )
        add_missing_hours(parser, default=None)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        import logging
        import warnings

        from ..recipes import DemoConfig, run_demo

        overrides: dict[str, object] = {"seed": args.seed}
        if args.ensemble is not None:
            overrides["ensemble"] = args.ensemble
        if args.models:
            overrides["models"] = tuple(args.models)
        if args.full:
            overrides["full"] = True
        overrides.update(_data_overrides(args))
        try:
            cfg = DemoConfig.quick(**overrides) if args.quick else DemoConfig(**overrides)  # type: ignore[arg-type]
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="lightning")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        result = run_demo(cfg, args.out, progress=not args.no_progress)
        print(result.table)
        print(f"wrote {result.out}/metrics.json, report.html, PNGs, checkpoints/ in {result.seconds:.0f} s")
        return EXIT_OK


def _data_overrides(args: argparse.Namespace) -> dict[str, object]:
    """``DemoConfig`` fields from ``--data``, ``--start``, ``--end``, ``--train-end``, ``--val-end``,
    ``--missing-hours`` and ``--timezone`` (with ``--quick``, the files' own span and split instead of the
    bundled slice's dates).

    Raises:
        CLIError: a file-reading or split flag without ``--data``, one of ``--train-end``/``--val-end``
            alone, or a missing file.
    """
    split = {k: getattr(args, k) for k in ("train_end", "val_end") if getattr(args, k) is not None}
    span = {k: getattr(args, k) for k in ("start", "end") if getattr(args, k) is not None}
    given = {**span, **split, **reading_options(args)}
    if not args.data:
        if given:
            raise CLIError(
                f"{flag_names(given)}: with --data only (the bundled demo reads its own bars, span and split)"
            )
        return {}
    if len(split) == 1:
        raise CLIError("--train-end, --val-end: give both or neither (default: 70% and 85% of the bars)")
    missing = [f for f in args.data if not Path(f).is_file()]
    if missing:
        raise CLIError(f"--data: file not found: {missing[0]}")
    dates: dict[str, object] = {"start": None, "end": None, "train_end": None, "val_end": None}
    return {**dates, **given, "data": tuple(args.data)}
