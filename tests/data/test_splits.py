"""Walk-forward splits: never overlapping, purged and embargoed."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.data.splits import (
    Split,
    default_split,
    split_by_share,
    split_by_time,
    walk_forward_splits,
)


def _check(split: Split, horizon: int, embargo: int) -> None:
    parts = [p for p in (split.train, split.val, split.test) if p.size]
    for p in parts:
        assert np.all(np.diff(p) == 1)  # contiguous, ascending
    for a, b in itertools.pairwise(parts):
        assert a[-1] < b[0]  # ordered, never overlapping
        # purge: a's targets (t+1..t+horizon) end before b's period; embargo: b starts `embargo` later
        assert b[0] - a[-1] >= horizon + embargo + 1


@pytest.mark.parametrize(("horizon", "embargo"), [(1, None), (24, None), (24, 0), (5, 48)])
def test_default_split_dates_purge_embargo(horizon: int, embargo: int | None) -> None:
    grid = np.arange(
        pd.Timestamp("2017-08-17 04:00", tz="UTC").value // 10**9,
        pd.Timestamp("2021-06-10 00:00", tz="UTC").value // 10**9 + 1,
        3600,
    )
    split = default_split(grid, horizon=horizon, embargo=embargo)
    emb = horizon if embargo is None else embargo
    _check(split, horizon, emb)
    d = split.describe(grid)
    train_last = pd.Timestamp("2020-06-30 23:00", tz="UTC") - pd.Timedelta(hours=horizon)
    assert d["train"][0] == "2017-08-17 04:00" and d["train"][1] == train_last.strftime("%Y-%m-%d %H:%M")
    assert d["val"][0] == (pd.Timestamp("2020-07-01", tz="UTC") + pd.Timedelta(hours=emb)).strftime(
        "%Y-%m-%d %H:%M"
    )
    assert d["test"][0] == (pd.Timestamp("2021-01-01", tz="UTC") + pd.Timedelta(hours=emb)).strftime(
        "%Y-%m-%d %H:%M"
    )
    assert grid[split.test[-1]] + horizon * 3600 <= grid[-1]
    assert split.train_end == int(
        np.searchsorted(grid, pd.Timestamp("2020-06-30 23:00", tz="UTC").value // 10**9)
    )


@pytest.mark.parametrize("train_size", [None, 300])
def test_walk_forward_expanding_and_rolling(train_size: int | None) -> None:
    folds = walk_forward_splits(
        2000, n_folds=4, val_size=100, test_size=200, train_size=train_size, horizon=10
    )
    assert len(folds) == 4
    for f in folds:
        _check(f, 10, 10)
        assert f.train[0] == (0 if train_size is None else f.val[0] - 10 - train_size)
    tests = [f.test for f in folds]
    for a, b in itertools.pairwise(tests):
        assert b[0] > a[-1]  # test periods walk forward
    assert folds[-1].test[-1] == 2000 - 1 - 10


def test_errors() -> None:
    grid = np.arange(0, 100 * 3600, 3600)
    with pytest.raises(ValueError, match="must increase"):
        split_by_time(grid, train_end=50 * 3600, val_end=40 * 3600)
    with pytest.raises(ValueError, match="the data has 100"):
        walk_forward_splits(100, n_folds=3, val_size=20, test_size=30)
    with pytest.raises(ValueError, match="n_folds=0"):
        walk_forward_splits(100, n_folds=0, val_size=20, test_size=30)


def test_split_by_share() -> None:
    ts = 1_600_000_000 + 3600 * np.arange(1000, dtype=np.int64)
    split = split_by_share(ts, horizon=24)
    same = split_by_time(ts, train_end=int(ts[699]), val_end=int(ts[849]), horizon=24)
    for a, b in ((split.train, same.train), (split.val, same.val), (split.test, same.test)):
        assert np.array_equal(a, b)
    assert split.train_end == 699 and split.val[0] == 700 + 24 and split.test[0] == 850 + 24
    for bad in ((0.0, 0.15), (0.7, 0.3), (1.2, 0.1)):
        with pytest.raises(ValueError, match="split_by_share"):
            split_by_share(ts, train_share=bad[0], val_share=bad[1])


def test_run_split_chooses_dates_default_or_shares() -> None:
    from ml_attention_mechanisms.data.splits import run_split

    ts = 1_600_000_000 + 3600 * np.arange(1000, dtype=np.int64)
    dated = run_split(ts, train_end=int(ts[499]), val_end=int(ts[749]), bundled=False, horizon=24)
    assert np.array_equal(
        dated.train, split_by_time(ts, train_end=int(ts[499]), val_end=int(ts[749]), horizon=24).train
    )
    assert np.array_equal(run_split(ts, bundled=False, horizon=24).test, split_by_share(ts, horizon=24).test)
    with pytest.raises(ValueError, match=r"data\.train_end and data\.val_end: set both or neither"):
        run_split(ts, train_end=int(ts[499]), bundled=False, names=("data.train_end", "data.val_end"))
