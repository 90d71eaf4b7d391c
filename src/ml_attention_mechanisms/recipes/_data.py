"""The data of a run: one prepared panel, its split, and the arrays the scorers read (the bundled dataset or
a user's files are loaded by :mod:`._files`).

Everything comes from the data layer's public functions (``load_dataset``, ``prepare_panel``,
``default_split``/``split_by_time``, the window Datasets); this module only decides which bars each step
sees.

Shapes:
    T: bars of the grid; A: assets; F: features.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

if TYPE_CHECKING:
    from ..data import MarketPanel, PreparedPanel, Split

__all__ = [
    "HORIZON",
    "MIN_HISTORY",
    "MIN_SCORED_BARS",
    "DemoData",
    "asset_column",
    "bar_time",
    "base_symbol",
    "first_bar",
    "last_bar",
    "listed_mask",
    "log_returns",
    "prepare_run_data",
    "priced_bars",
    "scored_span",
    "subsample",
    "validation_rows",
]

logger = logging.getLogger(__name__)

HORIZON = 24  # the bar's variance horizon, the signal labels' horizon and the daily rebalance period
MIN_HISTORY = 30 * 24 + HORIZON + 11  # bars before the first scored one: HAR-RV's monthly term needs them
MIN_SCORED_BARS = 30 * 24  # fewer scored bars than 30 days: too few to tell a model from its baselines


def base_symbol(symbol: str) -> str:
    """``"BTC/USDT"``, ``"XBT/USD"`` -> ``"BTC"``, ``"ETH/BTC"`` -> ``"ETHBTC"``: the asset
    (:func:`~ml_attention_mechanisms.data.loader.asset_name`), the name the bar and the report use, and by
    which a run's checkpoints know it (:func:`~ml_attention_mechanisms.data.loader.known_asset_id`)."""
    from ..data.loader import asset_name

    return asset_name(symbol)


@dataclass(eq=False)
class DemoData:
    """The prepared panel of a run and where its periods start.

    Attributes:
        prepared: the data layer's :class:`~ml_attention_mechanisms.data.PreparedPanel` (features scaled
            with statistics fitted on the training period only).
        split: the data layer's :class:`~ml_attention_mechanisms.data.Split` (purged and embargoed).
        returns: float64 ``[T, A]`` hourly log returns, 0 where a bar is missing (finite everywhere).
        val_start, test_start, test_end: grid positions (``test_end`` exclusive).
        sources: symbol -> the file it was loaded from (``evaluate``/``predict``; empty for the demo).
        no_trade_bars: symbol -> the hours of its file read as hours without trades: holes written and
            zero-volume candles kept (``load_ohlcv``'s ``missing_hours``; ``evaluate``/``predict``; empty
            for the demo).
        resampled: symbol -> the bar interval of its file, where shorter bars were aggregated into the
            run's (``evaluate``/``predict``; empty for the demo).
        file_warnings: symbol -> its file's quality-report warnings (``evaluate``/``predict``; empty for
            the demo).
        panel: the raw panel the data were prepared from (walk-forward and leave-one-asset-out folds
            re-prepare it with their own statistics).
        mean_end: where the training-mean return baseline stops averaging (exclusive): the run's
            validation start; None = ``val_start``. ``evaluate`` sets it to the run's own validation start
            when its data reach back to it, so the baseline is the run's training mean there too.
    """

    prepared: PreparedPanel
    split: Split
    returns: np.ndarray
    val_start: int
    test_start: int
    test_end: int
    sources: dict[str, str] = field(default_factory=dict)
    no_trade_bars: dict[str, int] = field(default_factory=dict)
    resampled: dict[str, str] = field(default_factory=dict)
    file_warnings: dict[str, list[str]] = field(default_factory=dict)
    panel: MarketPanel | None = None
    mean_end: int | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.prepared.symbols)

    def with_split(self, split: Split) -> DemoData:
        """The same prepared bars with ``split``'s periods. Only for bars prepared with a run's statistics
        (``prepare_run_data(..., scaler=...)``), whose features do not depend on the split."""
        val_start, test_start, test_end = _periods(split, int(self.prepared.timestamps.size))
        return dataclasses.replace(
            self, split=split, val_start=val_start, test_start=test_start, test_end=test_end
        )

    @property
    def timestamps(self) -> np.ndarray:
        return np.asarray(self.prepared.timestamps, dtype=np.int64)


def log_returns(close: np.ndarray) -> np.ndarray:
    """``[A, T]`` closes (NaN = missing) -> ``[T, A]`` previous-tick log returns.

    A missing bar has no price, so its return is 0 and the move across a gap lands on the first bar after
    it: ``r[t] = ln(close[t] / close[s])`` with ``s`` the last bar before ``t`` that has a price. The returns
    of a span then add up to its price change whatever bars are missing, so realised variance and a held
    position's profit keep the move through an exchange outage (0 before an asset's first bar). Which
    returns are outcomes (the bar has a price) is :func:`priced_bars`.
    """
    c = np.asarray(close, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.where(c > 0, np.log(c), np.nan)
    present = np.isfinite(logc)
    last = np.maximum.accumulate(np.where(present, np.arange(c.shape[1]), 0), axis=1)  # last priced bar <= t
    filled = np.take_along_axis(logc, last, axis=1)  # previous-tick log price (NaN before the first bar)
    prev = np.concatenate([np.full((c.shape[0], 1), np.nan), filled[:, :-1]], axis=1)
    r = np.where(present & np.isfinite(prev), logc - prev, 0.0)
    return np.ascontiguousarray(r.T)


def priced_bars(data: DemoData) -> np.ndarray:
    """bool ``[T, A]``: the bar has a price (its return is an outcome, not a gap's previous-tick zero)."""
    return np.isfinite(np.asarray(data.prepared.close, dtype=np.float64)).T


def asset_column(data: DemoData, asset: str) -> int:
    """Column of ``asset`` (``"BTC"`` or ``"BTC/USDT"``) in the panel.

    Raises:
        ValueError: the asset is not in the data (the available ones named).
    """
    names = [base_symbol(s) for s in data.symbols]
    key = base_symbol(asset)
    if key not in names:
        raise ValueError(f"asset {asset!r}: not in the data; available: {', '.join(names)}")
    return names.index(key)


def listed_mask(data: DemoData) -> np.ndarray:
    """bool ``[T, A]``: the asset has a bar at ``t`` or had one before (it is listed)."""
    return np.maximum.accumulate(priced_bars(data), axis=0)


def first_bar(data: DemoData, column: int) -> int:
    """The grid position of the asset's first bar (its listing in the data): the scorers and the
    volatility-targeted baselines read its returns from there, never the zeros before it."""
    present = np.isfinite(np.asarray(data.prepared.close[column], dtype=np.float64))
    return int(np.argmax(present)) if present.any() else int(present.size)


def last_bar(data: DemoData, column: int) -> int:
    """The grid position of the asset's last bar (-1 without any): where a delisted or earlier-exported
    asset's data end."""
    present = np.isfinite(np.asarray(data.prepared.close[column], dtype=np.float64))
    return int(present.size - 1 - np.argmax(present[::-1])) if present.any() else -1


def bar_time(seconds: int) -> str:
    """A bar's Unix time as ``YYYY-MM-DD HH:MM`` (UTC), as messages and ``metrics.json`` write it."""
    return str(np.datetime_as_string(np.datetime64(int(seconds), "s"), unit="m")).replace("T", " ")


def scored_span(data: DemoData, column: int) -> slice:
    """The asset's scored decision times ``[start, stop)`` on the grid: the scored period's, from its first
    bar plus :data:`MIN_HISTORY` for an asset listed less than that before the period starts or inside it
    (its baselines read that much of its own history first), and up to :data:`HORIZON` bars before its last
    bar for an asset whose bars end a day or more before the grid's (delisted, or exported earlier: the last
    24-bar target it completes; a shorter absence at the end is tolerated as a gap shorter than a day is).
    Empty (``start >= stop``) when it has too few bars for either."""
    first, last = first_bar(data, column), last_bar(data, column)
    if last < 0:
        return slice(int(data.test_end), int(data.test_end))
    end = int(data.timestamps.size) - 1  # the grid's last bar
    stop = int(data.test_end) if end - last < HORIZON else min(int(data.test_end), last - HORIZON + 1)
    return slice(max(int(data.test_start), first + MIN_HISTORY), stop)


def validation_rows(data: DemoData) -> np.ndarray:
    """bool ``[T]``: the validation period's rows (where a run fits its calibration)."""
    rows = np.zeros(data.timestamps.size, dtype=bool)
    rows[data.val_start : data.test_start] = True
    return rows


def _periods(split: Split, n: int) -> tuple[int, int, int]:
    if split.val.size == 0 or split.test.size == 0:
        raise ValueError("the data leave an empty validation or test period; use more data or other dates")
    return int(split.val[0]), int(split.test[0]), min(int(split.test[-1]) + 1, n)


def prepare_run_data(panel: MarketPanel, split: Split, scaler: dict[str, Any] | None = None) -> DemoData:
    """A panel prepared for a run: features scaled with statistics fitted on the training period (or with a
    run's ``scaler``), targets for horizons 1..:data:`HORIZON`, and the split's periods."""
    from ..data import prepare_panel

    prepared = prepare_panel(
        panel,
        horizons=tuple(range(1, HORIZON + 1)),
        signal_horizon=HORIZON,
        rebalance_horizon=HORIZON,
        fit_end=split.train_end if scaler is None else None,
        scaler=scaler,
    )
    val_start, test_start, test_end = _periods(split, int(prepared.timestamps.size))
    return DemoData(
        prepared=prepared,
        split=split,
        returns=log_returns(prepared.close),
        val_start=val_start,
        test_start=test_start,
        test_end=test_end,
        panel=panel,
    )


def subsample(dataset: Dataset[Any], size: int | None, seed: int) -> Dataset[Any]:
    """At most ``size`` samples of ``dataset`` drawn without replacement with a fixed seed (sorted, so that
    the subset stays in time order); ``None`` or a larger ``size`` keeps everything."""
    n = len(dataset)  # type: ignore[arg-type]
    if size is None or size >= n:
        return dataset
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(n, generator=g)[:size].sort().values.tolist()
    return Subset(dataset, keep)
