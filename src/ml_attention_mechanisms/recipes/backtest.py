"""``mlattn backtest``: the backtest alone, after fees, on positions/signals/weights from a file
(:func:`backtest_signals`) or on a run's outputs for other data (:func:`backtest_run`).

The table format and the engine's rules are :mod:`._backtest_table`'s (:func:`read_table`,
:func:`backtest_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evaluation.backtest import BacktestConfig
from ._backtest_table import backtest_table, read_table
from .predict import prediction_table

__all__ = ["BacktestSummary", "backtest_run", "backtest_signals", "backtest_table", "read_table"]


@dataclass(frozen=True, slots=True)
class BacktestSummary:
    """A backtest's figures and what the reader should know about them.

    Attributes:
        result: :func:`backtest_table`'s figures (``backtest_config``, ``assets``, ``portfolio``).
        configs_tried: configurations tried (reported beside each Sharpe ratio, and deflating it).
        notes: sentences about the inputs (e.g. hours without a bar that were skipped).
    """

    result: dict[str, Any]
    configs_tried: int
    notes: tuple[str, ...] = ()

    def table(self) -> str:
        """The terminal table: net return, Sharpe with its 95% interval, maximum drawdown and turnover per
        strategy, then the costs and the notes."""
        config = self.result["backtest_config"]
        rows = [*self.result["assets"].items()]
        if "portfolio" in self.result:
            rows.append(("portfolio", self.result["portfolio"]))
        lines = [
            f"{'strategy':<14} {'net return':>11} {'Sharpe':>8} {'95% CI':>17} {'max DD':>8} {'turnover':>9}"
        ]
        for name, m in rows:
            ci = f"[{_f(m.get('sharpe_ci_low'))}, {_f(m.get('sharpe_ci_high'))}]"
            lines.append(
                f"{name:<14} {_f(m.get('net_return'), '.2%'):>11} {_f(m.get('sharpe')):>8} {ci:>17} "
                f"{_f(m.get('max_drawdown'), '.2%'):>8} {_f(m.get('turnover'), '.1f'):>9}"
            )
        lines.append(
            f"fees {config['fee_bps']:g} bps + slippage {config['slippage_bps']:g} bps; "
            f"configurations tried: {self.configs_tried}"
        )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _f(value: object, spec: str = ".2f") -> str:
    return format(value, spec) if isinstance(value, int | float) and value == value else "—"


def backtest_signals(
    path: str | Path, config: BacktestConfig | None = None, *, configs_tried: int = 1
) -> BacktestSummary:
    """Backtest a CSV/Parquet table of positions, signals or portfolio weights (see :func:`read_table`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a table :func:`backtest_table` refuses; the message names the file, then the symbol,
            column and time.
    """
    frame = read_table(path)
    try:
        result = backtest_table(frame, config, n_configs=configs_tried)
    except ValueError as exc:  # name the file: the table's own messages name symbol, column, time
        raise ValueError(f"--signals {path}: {str(exc).splitlines()[0]}") from exc
    return BacktestSummary(result, configs_tried)


def backtest_run(
    run: str | Path,
    data_files: Sequence[str | Path],
    config: BacktestConfig | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    configs_tried: int = 1,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> BacktestSummary:
    """Backtest a run's signals, positions and portfolio weights (:func:`.predict.prediction_table`) on
    other data. Hours an asset has no bar (gaps, before its listing) are skipped, said in a note: a position
    held over a gap earns its price change at the next bar. How the files were read (the prediction table's
    warnings) comes first in the notes. ``missing_hours`` is how the files' hours without trades are read
    (``load_ohlcv``'s: ``"auto"``, ``"no-trades"`` or ``"absent"``); ``timezone`` the zone of their times
    written without one (``load_ohlcv``'s; default UTC).

    Raises:
        FileNotFoundError: a missing run directory or data file.
        ValueError: :func:`.predict.prediction_table`'s and :func:`backtest_table`'s errors.
    """
    frame = prediction_table(
        run, data_files, start=start, end=end, missing_hours=missing_hours, timezone=timezone
    )
    notes = tuple(frame.attrs.get("warnings", ()))  # how the files were read
    absent = frame["close"].isna()  # grid hours an asset has no bar in (gaps, before its listing)
    if absent.any():
        frame = frame[~absent]
        notes += (
            f"{int(absent.sum())} hours without a bar skipped; a position held over a gap earns its price "
            "change at the next bar",
        )
    return BacktestSummary(backtest_table(frame, config, n_configs=configs_tried), configs_tried, notes)
