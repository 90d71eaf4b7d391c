"""Expanding-window walk-forward evaluation (retrain per fold, score each fold), and leave-one-asset-out
folds (train without one asset, score it as an asset the model never saw).

Shapes:
    N: samples (decision times), in time order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import as_array, check_int

__all__ = [
    "AssetFold",
    "Fold",
    "WalkForwardResult",
    "expanding_window_folds",
    "leave_one_asset_out_folds",
    "walk_forward",
]


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: train on ``[0, train_end)``, test on ``[test_start, test_end)`` (sample positions)."""

    index: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train_index(self) -> np.ndarray:
        return np.arange(self.train_end)

    @property
    def test_index(self) -> np.ndarray:
        return np.arange(self.test_start, self.test_end)


def expanding_window_folds(
    n_samples: int, *, n_folds: int = 4, min_train: int | None = None, gap: int = 0
) -> list[Fold]:
    """Split ``n_samples`` time-ordered samples into ``n_folds`` consecutive test blocks after an initial
    training block; each fold trains on everything before its test block, minus ``gap`` samples.

    ``gap`` should be the target horizon: the last ``h`` training targets overlap the test period
    otherwise.

    Args:
        n_samples: samples in time order.
        n_folds: test blocks (>= 1). Default: 4.
        min_train: size of the first training block. Default: ``n_samples // (n_folds + 1)``.
        gap: samples dropped between train and test. Default: 0.

    Returns:
        The folds, in time order.

    Raises:
        ValueError: too few samples for the folds.
    """
    n = check_int(n_samples, "n_samples")
    k = check_int(n_folds, "n_folds")
    gap = check_int(gap, "gap", minimum=0)
    first = n // (k + 1) if min_train is None else check_int(min_train, "min_train")
    test_size = (n - first) // k
    if test_size < 1 or first - gap < 1:
        raise ValueError(f"n_samples={n}: too few for n_folds={k} after min_train={first} and gap={gap}")
    folds = []
    for i in range(k):
        start = first + i * test_size
        end = n if i == k - 1 else start + test_size
        folds.append(Fold(index=i, train_end=start - gap, test_start=start, test_end=end))
    return folds


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """Per-fold figures and their mean.

    Attributes:
        folds: one dict per fold: ``fold``, ``train_end``, ``test_start``, ``test_end`` and each metric.
        mean: the mean of each metric over the folds.
    """

    folds: list[dict[str, float]]
    mean: dict[str, float]


def walk_forward(
    fit_predict: Callable[[np.ndarray, np.ndarray], Any],
    y: Any,
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]],
    *,
    n_folds: int = 4,
    min_train: int | None = None,
    gap: int = 0,
    folds: list[Fold] | None = None,
) -> WalkForwardResult:
    """Run ``fit_predict(train_index, test_index) -> predictions`` on each expanding-window fold.

    The callable retrains on the training positions (it holds the data) and returns predictions for the
    test positions; each metric is ``metric(y[test_index], predictions)`` on the rows where both are finite.

    Args:
        fit_predict: trains and predicts one fold.
        y: realised targets, shape ``(N,)`` (NaN allowed: such rows are not scored).
        metrics: name -> ``metric(y_true, y_pred)``, e.g. ``{"mae": mae}``.
        n_folds: number of folds (see :func:`expanding_window_folds`).
        min_train: the first fold's training rows (see :func:`expanding_window_folds`).
        gap: rows left out between training and test (see :func:`expanding_window_folds`).
        folds: explicit folds (e.g. the data layer's splits) instead of the default ones.

    Returns:
        :class:`WalkForwardResult`.

    Raises:
        ValueError: predictions of the wrong length.
    """
    target = as_array(y, "y")
    plan = folds or expanding_window_folds(target.shape[0], n_folds=n_folds, min_train=min_train, gap=gap)
    rows: list[dict[str, float]] = []
    for fold in plan:
        pred = np.asarray(fit_predict(fold.train_index, fold.test_index), dtype=np.float64)
        truth = target[fold.test_index]
        if pred.shape != truth.shape:
            raise ValueError(
                f"fit_predict: fold {fold.index} returned shape {pred.shape}, expected {truth.shape}"
            )
        ok = np.isfinite(pred) & np.isfinite(truth)
        row: dict[str, float] = {
            "fold": float(fold.index),
            "train_end": float(fold.train_end),
            "test_start": float(fold.test_start),
            "test_end": float(fold.test_end),
            "n_scored": float(ok.sum()),
        }
        for name, metric in metrics.items():
            row[name] = float(metric(truth[ok], pred[ok])) if ok.any() else float("nan")
        rows.append(row)
    mean = {name: float(np.nanmean([r[name] for r in rows])) for name in metrics}
    return WalkForwardResult(folds=rows, mean=mean)


@dataclass(frozen=True, slots=True)
class AssetFold:
    """One leave-one-asset-out fold: train on ``train_assets``, score ``held_out`` as an unseen asset."""

    index: int
    held_out: str
    train_assets: tuple[str, ...]


def leave_one_asset_out_folds(
    assets: Sequence[str], *, held_out: Sequence[str] | None = None, min_train_assets: int = 1
) -> list[AssetFold]:
    """One fold per held-out asset: the model is trained on the other assets (the same periods), then scored
    on the held-out one as on a coin it never saw, against the same baselines.

    Args:
        assets: every asset of the training data, in order.
        held_out: the assets to hold out, one fold each (a subset of ``assets``). Default: each of them.
        min_train_assets: the fewest assets a fold trains on. Default: 1.

    Returns:
        The folds, in the order of ``held_out``.

    Raises:
        ValueError: duplicate assets, a held-out asset not in ``assets``, or too few left to train on.

    Examples:
        >>> [(f.held_out, f.train_assets) for f in leave_one_asset_out_folds(["BTC", "ETH", "LTC"], held_out=["ETH"])]
        [('ETH', ('BTC', 'LTC'))]
    """
    names = list(assets)
    if len(set(names)) != len(names):
        raise ValueError(f"assets: {names} repeats an asset")
    chosen = names if held_out is None else list(held_out)
    unknown = [a for a in chosen if a not in names]
    if unknown:
        raise ValueError(f"held_out: {unknown} not among the assets {names}")
    if len(names) - 1 < check_int(min_train_assets, "min_train_assets"):
        raise ValueError(f"assets: {len(names)}; a fold needs {min_train_assets} left to train on")
    return [
        AssetFold(index=i, held_out=a, train_assets=tuple(x for x in names if x != a))
        for i, a in enumerate(chosen)
    ]
