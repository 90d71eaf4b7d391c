"""``mlattn backtest``: the backtest alone, on positions/signals from a file or on a run's outputs."""

from __future__ import annotations

import argparse

from ._arguments import add_run_arguments, flag_names
from ._base import EXIT_OK, CLIError, Subcommand


class Backtest(Subcommand):
    name = "backtest"
    help = "backtest positions or signals (a file) or a run's outputs on data, after fees"
    extras = ("data", "eval")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        src = parser.add_mutually_exclusive_group(required=True)
        src.add_argument(
            "--signals",
            metavar="FILE",
            help="CSV/Parquet: timestamp, [symbol], position|signal, close|return, [portfolio_weight]; "
            "one row per bar and symbol, positions in [-1, 1], NaN position/signal = no decision (kept)",
        )
        add_run_arguments(parser, start_help="first decision time", required=False, run_group=src)
        parser.add_argument(
            "--fee-bps", type=float, default=10.0, help="fee per unit of turnover (default 10)"
        )
        parser.add_argument(
            "--slippage-bps", type=float, default=0.0, help="slippage per unit turnover (default 0)"
        )
        parser.add_argument(
            "--position-mode",
            choices=("long_flat", "long_short", "confidence"),
            default="long_flat",
            help="how signals map to positions (default long_flat: buy=1, sell=0, hold keeps)",
        )
        parser.add_argument(
            "--configs-tried", type=int, default=1, help="configurations tried (deflated Sharpe)"
        )
        parser.add_argument("--out", default=None, help="write the figures as JSON to this file")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from pathlib import Path

        from ..evaluation import BacktestConfig, write_metrics_json
        from ..recipes import backtest_run, backtest_signals

        if args.configs_tried < 1:
            raise CLIError(f"--configs-tried {args.configs_tried}: expected an integer >= 1")
        _refuse_out_over_inputs(args)
        cfg = BacktestConfig(
            fee_bps=args.fee_bps, slippage_bps=args.slippage_bps, position_mode=args.position_mode
        )
        if args.run is not None:
            if not args.data:
                raise CLIError("--run needs --data FILE... (the bars to backtest on)")
            summary = backtest_run(
                args.run, args.data, cfg, start=args.start, end=args.end, configs_tried=args.configs_tried,
                missing_hours=args.missing_hours or "auto", timezone=args.timezone,
            )  # fmt: skip
        else:
            given = [
                k
                for k in ("data", "start", "end", "missing_hours", "timezone")
                if getattr(args, k) is not None
            ]
            if given:
                raise CLIError(f"{flag_names(given)}: only with --run (a --signals file has its own bars)")
            summary = backtest_signals(args.signals, cfg, configs_tried=args.configs_tried)
        print(summary.table())
        if args.out:
            write_metrics_json(summary.result, Path(args.out))
            print(f"wrote {args.out}")
        return EXIT_OK


def _refuse_out_over_inputs(args: argparse.Namespace) -> None:
    """``--out`` must not be the ``--signals`` file, a ``--data`` file or a file of the ``--run`` directory."""
    from pathlib import Path

    from ..utils._paths import refuse_output_over_input

    inputs = [("--signals", Path(args.signals))] if args.signals else []
    inputs += [("--data", Path(f)) for f in args.data or ()]
    if args.run is not None and Path(args.run).is_dir():
        inputs += [("--run", p) for p in sorted(Path(args.run).rglob("*")) if p.is_file()]
    refuse_output_over_input("--out", args.out, inputs)
