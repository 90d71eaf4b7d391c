"""Expanding-window walk-forward: the folds and the per-fold scoring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import expanding_window_folds, mae, rmse, walk_forward


def test_folds_expand_and_tile_the_test_period() -> None:
    folds = expanding_window_folds(1000, n_folds=4, gap=24)
    assert len(folds) == 4
    assert folds[0].test_start == 200 and folds[-1].test_end == 1000
    for a, b in itertools.pairwise(folds):
        assert a.test_end == b.test_start and b.train_end > a.train_end
    for f in folds:
        assert f.train_end == f.test_start - 24
        assert f.train_index.max() < f.test_index.min() - 23
    with pytest.raises(ValueError, match="n_samples=10: too few"):
        expanding_window_folds(10, n_folds=4, gap=5)


def test_walk_forward_retrains_per_fold_and_scores_each() -> None:
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(0, 1, 600)) * 0.1
    seen: list[tuple[int, int]] = []

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        assert train.max() < test.min()  # no test data in training
        seen.append((len(train), len(test)))
        return np.full(len(test), y[train].mean())  # "retrain": the training mean

    res = walk_forward(fit_predict, y, {"mae": mae, "rmse": rmse}, n_folds=5, gap=1)
    assert len(res.folds) == 5 and len(seen) == 5
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    for row in res.folds:
        test = np.arange(int(row["test_start"]), int(row["test_end"]))
        train_mean = y[: int(row["train_end"])].mean()
        assert row["mae"] == pytest.approx(np.mean(np.abs(y[test] - train_mean)))
    assert res.mean["rmse"] == pytest.approx(np.mean([r["rmse"] for r in res.folds]))


def test_walk_forward_checks_prediction_length() -> None:
    with pytest.raises(ValueError, match="fold 0 returned shape"):
        walk_forward(lambda tr, te: np.zeros(3), np.zeros(100), {"mae": mae})


def test_leave_one_asset_out_folds() -> None:
    from ml_attention_mechanisms.evaluation import leave_one_asset_out_folds

    folds = leave_one_asset_out_folds(["BTC", "ETH", "LTC", "BNB"], held_out=["BTC", "LTC"])
    assert [(f.index, f.held_out, f.train_assets) for f in folds] == [
        (0, "BTC", ("ETH", "LTC", "BNB")),
        (1, "LTC", ("BTC", "ETH", "BNB")),
    ]
    assert [f.held_out for f in leave_one_asset_out_folds(["A", "B"])] == ["A", "B"]
    with pytest.raises(ValueError, match="not among the assets"):
        leave_one_asset_out_folds(["A", "B"], held_out=["C"])
    with pytest.raises(ValueError, match="repeats"):
        leave_one_asset_out_folds(["A", "A"])
    with pytest.raises(ValueError, match="left to train on"):
        leave_one_asset_out_folds(["A"])
