"""``mlattn backtest``: the backtest alone, on positions/signals from a file or on a run's outputs."""

from __future__ import annotations

import argparse

from ._base import EXIT_OK, CLIError, Subcommand


class Backtest(Subcommand):
    name = "backtest"
    help = "backtest positions or signals (a file) or a run's outputs on data, after fees"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        src = parser.add_mutually_exclusive_group(required=True)
        src.add_argument(
            "--signals",
            metavar="FILE",
            help="CSV/Parquet: timestamp, [symbol], position|signal, close|return, [portfolio_weight]; "
            "one row per bar and symbol, positions in [-1, 1], NaN position/signal = no decision (kept)",
        )
        src.add_argument("--run", metavar="DIR", help="a `mlattn demo` run directory (needs --data)")
        parser.add_argument(
            "--data", nargs="+", default=None, metavar="FILE", help="OHLCV files (with --run)"
        )
        parser.add_argument("--start", default=None, help="first decision time (ISO UTC; with --run)")
        parser.add_argument("--end", default=None, help="last bar (ISO UTC; with --run)")
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

        from ..evaluation.backtest import BacktestConfig
        from ..evaluation.metrics_io import write_metrics_json
        from ..recipes import backtest_table, prediction_table, read_table

        if args.configs_tried < 1:
            raise CLIError(f"--configs-tried {args.configs_tried}: expected an integer >= 1")
        cfg = BacktestConfig(
            fee_bps=args.fee_bps, slippage_bps=args.slippage_bps, position_mode=args.position_mode
        )
        notes: list[str] = []
        if args.run is not None:
            if not args.data:
                raise CLIError("--run needs --data FILE... (the bars to backtest on)")
            frame = prediction_table(args.run, args.data, start=args.start, end=args.end)
            absent = frame["close"].isna()  # grid hours an asset has no bar in (gaps, before its listing)
            if absent.any():
                frame = frame[~absent]
                notes.append(
                    f"{int(absent.sum())} hours without a bar skipped; a position held over a gap earns its "
                    "price change at the next bar"
                )
            result = backtest_table(frame, cfg, n_configs=args.configs_tried)
        else:
            ignored = [f"--{k}" for k in ("data", "start", "end") if getattr(args, k) is not None]
            if ignored:
                raise CLIError(f"{', '.join(ignored)}: only with --run (a --signals file has its own bars)")
            frame = read_table(args.signals)
            try:
                result = backtest_table(frame, cfg, n_configs=args.configs_tried)
            except ValueError as exc:  # name the file: the table's own messages name symbol, column, time
                raise CLIError(f"--signals {args.signals}: {str(exc).splitlines()[0]}") from exc
        rows = [*result["assets"].items()]
        if "portfolio" in result:
            rows.append(("portfolio", result["portfolio"]))
        print(
            f"{'strategy':<14} {'net return':>11} {'Sharpe':>8} {'95% CI':>17} {'max DD':>8} {'turnover':>9}"
        )
        for name, m in rows:
            ci = f"[{_f(m.get('sharpe_ci_low'))}, {_f(m.get('sharpe_ci_high'))}]"
            print(
                f"{name:<14} {_f(m.get('net_return'), '.2%'):>11} {_f(m.get('sharpe')):>8} {ci:>17} "
                f"{_f(m.get('max_drawdown'), '.2%'):>8} {_f(m.get('turnover'), '.1f'):>9}"
            )
        print(
            f"fees {cfg.fee_bps:g} bps + slippage {cfg.slippage_bps:g} bps; configurations tried: {args.configs_tried}"
        )
        for note in notes:
            print(f"note: {note}")
        if args.out:
            write_metrics_json(result, Path(args.out))
            print(f"wrote {args.out}")
        return EXIT_OK


def _f(value: object, spec: str = ".2f") -> str:
    return format(value, spec) if isinstance(value, int | float) and value == value else "—"
