"""Walk-forward splits by time, with purge and embargo (Lopez de Prado 2018, ch. 7).

A *sample* is identified by the grid position ``t`` of its last input bar; its targets look at bars
``t+1..t+horizon``. Between consecutive periods (train -> validation -> test):

- **purge**: a sample whose target window reaches into the next period is removed (``t + horizon`` must
  stay inside its own period);
- **embargo**: the first ``embargo`` bars of the next period start no sample (default: ``horizon``), so the
  next period's first inputs do not sit on the previous period's last target windows.

So the last training sample ends at least ``horizon + embargo`` bars before the first validation sample.
Statistics (feature scaling) are fitted on the training period only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._import_guard import needs_extra

__all__ = ["Split", "default_split", "run_split", "split_by_share", "split_by_time", "walk_forward_splits"]


@dataclass(frozen=True, eq=False)
class Split:
    """Grid positions of the sample end bars of each period (int64, ascending)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    horizon: int
    embargo: int

    @property
    def train_end(self) -> int:
        """The last grid position of the training *period* (for fitting statistics)."""
        return int(self.train[-1]) + self.horizon if self.train.size else -1

    def describe(self, timestamps: np.ndarray) -> dict[str, tuple[str, str, int]]:
        """``{period: (first, last, samples)}`` with ISO UTC times, for logs and run records."""
        with needs_extra("data"):
            import pandas as pd

        def iso(pos: int) -> str:
            return pd.Timestamp(int(timestamps[pos]), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")

        return {
            name: (iso(int(p[0])), iso(int(p[-1])), int(p.size)) if p.size else ("", "", 0)
            for name, p in (("train", self.train), ("val", self.val), ("test", self.test))
        }


def _seconds(value: str | int) -> int:
    with needs_extra("data"):
        import pandas as pd

    if isinstance(value, (int, np.integer)):
        return int(value)
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 10**9)


def _periods(bounds: Sequence[int], n: int, horizon: int, embargo: int) -> list[np.ndarray]:
    """Sample positions of consecutive periods [bounds[i], bounds[i+1]) with purge and embargo."""
    out = []
    for i in range(len(bounds) - 1):
        lo, hi = bounds[i], min(bounds[i + 1], n)
        first = lo + (embargo if i > 0 else 0)
        last = hi - 1 - horizon  # t + horizon <= hi - 1: the targets stay in the period
        out.append(
            np.arange(first, last + 1, dtype=np.int64) if last >= first else np.zeros(0, dtype=np.int64)
        )
    return out


def split_by_time(
    timestamps: np.ndarray,
    *,
    train_end: str | int,
    val_end: str | int,
    test_end: str | int | None = None,
    horizon: int = 1,
    embargo: int | None = None,
) -> Split:
    """One train / validation / test split at the given (inclusive) period ends.

    Args:
        timestamps: the grid, int64 Unix seconds ``[T]``.
        train_end: last bar of the training period (an ISO UTC string or Unix seconds; inclusive).
        val_end: last bar of the validation period (same forms).
        test_end: last bar of the test period (same forms); ``None``: to the end of the data.
        horizon: the longest target horizon, in bars. Default: 1.
        embargo: bars skipped at the start of validation and test. Default: ``horizon``.

    Raises:
        ValueError: the period ends are not increasing, or horizon/embargo are negative.
    """
    embargo = horizon if embargo is None else embargo
    if horizon < 0 or embargo < 0:
        raise ValueError(f"split_by_time: horizon={horizon}, embargo={embargo}: expected >= 0")
    ends = [
        _seconds(train_end),
        _seconds(val_end),
        _seconds(test_end) if test_end is not None else int(timestamps[-1]),
    ]
    if not ends[0] < ends[1] <= ends[2]:
        raise ValueError(f"split_by_time: period ends {ends} must increase (train_end < val_end <= test_end)")
    cuts = [0] + [int(np.searchsorted(timestamps, e, side="right")) for e in ends]
    train, val, test = _periods(cuts, timestamps.size, horizon, embargo)
    return Split(train, val, test, horizon, embargo)


def default_split(timestamps: np.ndarray, *, horizon: int = 1, embargo: int | None = None) -> Split:
    """The bundled data's split: train to 2020-06-30 23:00, validation 2020-07-01..2020-12-31, test 2021-01-01.."""
    from .bundled import DEFAULT_SPLIT

    return split_by_time(
        timestamps,
        train_end=DEFAULT_SPLIT["train"][1],  # type: ignore[arg-type]
        val_end=DEFAULT_SPLIT["val"][1],  # type: ignore[arg-type]
        test_end=DEFAULT_SPLIT["test"][1],
        horizon=horizon,
        embargo=embargo,
    )


def split_by_share(
    timestamps: np.ndarray,
    *,
    train_share: float = 0.70,
    val_share: float = 0.15,
    horizon: int = 1,
    embargo: int | None = None,
) -> Split:
    """The first ``train_share`` of the bars train, the next ``val_share`` validate, the rest test
    (:func:`split_by_time` at those bars' times): the split of data given without split dates.

    Raises:
        ValueError: shares outside ``(0, 1)`` or summing to 1 or more.
    """
    if not (0 < train_share < 1 and 0 < val_share < 1 and train_share + val_share < 1):
        raise ValueError(
            f"split_by_share: train_share={train_share}, val_share={val_share}: expected shares in (0, 1) "
            "summing to less than 1"
        )
    ts = np.asarray(timestamps)
    n = int(ts.size)
    train_end = int(ts[max(int(n * train_share) - 1, 0)])
    val_end = int(ts[min(max(int(n * (train_share + val_share)) - 1, 1), n - 1)])
    return split_by_time(ts, train_end=train_end, val_end=val_end, horizon=horizon, embargo=embargo)


def run_split(
    timestamps: np.ndarray,
    *,
    train_end: str | int | None = None,
    val_end: str | int | None = None,
    bundled: bool,
    horizon: int = 1,
    embargo: int | None = None,
    names: tuple[str, str] = ("train_end", "val_end"),
) -> Split:
    """A run's split: at ``train_end`` and ``val_end`` when given (both or neither), else the bundled data's
    :func:`default_split`, or :func:`split_by_share` (70% train, 15% validate) for other data.

    Raises:
        ValueError: only one of the two dates (``names``: how the caller calls them).
    """
    if (train_end is None) != (val_end is None):
        raise ValueError(f"{names[0]} and {names[1]}: set both or neither")
    if train_end is not None and val_end is not None:
        return split_by_time(
            timestamps, train_end=train_end, val_end=val_end, horizon=horizon, embargo=embargo
        )
    if bundled:
        return default_split(timestamps, horizon=horizon, embargo=embargo)
    return split_by_share(timestamps, horizon=horizon, embargo=embargo)


def walk_forward_splits(
    num_bars: int,
    *,
    n_folds: int,
    val_size: int,
    test_size: int,
    train_size: int | None = None,
    horizon: int = 1,
    embargo: int | None = None,
) -> list[Split]:
    """Walk-forward folds: each fold's test period follows the previous fold's, the last one ending at the data's end.

    Args:
        num_bars: length of the grid.
        n_folds: folds (>= 1).
        val_size: bars in each fold's validation period.
        test_size: bars in each fold's test period.
        train_size: bars in each training period (a rolling window); ``None`` = expanding (from bar 0).
        horizon: the longest target horizon. Default: 1.
        embargo: bars skipped at the start of validation and test. Default: ``horizon``.

    Raises:
        ValueError: the folds do not fit in ``num_bars``.
    """
    embargo = horizon if embargo is None else embargo
    if n_folds < 1 or val_size < 1 or test_size < 1 or horizon < 0 or embargo < 0:
        raise ValueError(
            f"walk_forward_splits: n_folds={n_folds}, val_size={val_size}, test_size={test_size}, horizon={horizon}, "
            f"embargo={embargo}: expected n_folds, val_size, test_size >= 1 and horizon, embargo >= 0"
        )
    folds = []
    for k in range(n_folds):
        test_hi = num_bars - (n_folds - 1 - k) * test_size
        test_lo = test_hi - test_size
        val_lo = test_lo - val_size
        train_lo = 0 if train_size is None else val_lo - train_size
        if train_lo < 0 or val_lo - train_lo <= horizon:
            raise ValueError(
                f"walk_forward_splits: fold {k} needs {(train_size or 0) + val_size + test_size * (n_folds - k)} bars "
                f"and a training period longer than horizon={horizon}; the data has {num_bars}"
            )
        train, val, test = _periods([train_lo, val_lo, test_lo, test_hi], num_bars, horizon, embargo)
        folds.append(Split(train, val, test, horizon, embargo))
    return folds
