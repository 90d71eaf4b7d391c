"""A non-attention learner on the same features as the models, to show whether attention earns its keep.

Shapes:
    N: samples; F: features (flattened window features or engineered ones); Q: quantile levels.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._import_guard import needs_extra
from .._checks import as_array, check_int, check_prob, check_same_length

__all__ = ["fit_predict_learner"]

_KINDS = ("hgb", "mlp")


def fit_predict_learner(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    *,
    kind: str = "hgb",
    quantiles: Sequence[float] | None = None,
    max_iter: int = 200,
    hidden_units: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """Fit a gradient-boosting or MLP regressor on ``(x_train, y_train)`` and predict ``x_test``.

    ``"hgb"`` is scikit-learn's ``HistGradientBoostingRegressor`` (a LightGBM-style learner, squared or
    quantile loss); ``"mlp"`` is ``MLPRegressor`` with two hidden layers of ``hidden_units`` on
    standardised inputs (squared loss only). Rows with NaN features are allowed for ``"hgb"``.

    Args:
        x_train: shape ``(N, F)``.
        y_train: shape ``(N,)``, finite.
        x_test: shape ``(M, F)``.
        kind: ``"hgb"`` or ``"mlp"``. Default: ``"hgb"``.
        quantiles: if given (``"hgb"`` only), one quantile-loss model per level; the result is ``(M, Q)``
            sorted along Q so that the quantiles do not cross.
        max_iter: boosting iterations or MLP epochs: the training budget. Default: 200.
        hidden_units: MLP width. Default: 64.
        seed: random state. Default: 0.

    Returns:
        Shape ``(M,)``, or ``(M, Q)`` with ``quantiles``.

    Raises:
        ValueError: bad kind, shapes or quantiles.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {_KINDS}")
    xtr = as_array(x_train, "x_train", ndim=2, allow_nan=kind == "hgb")
    ytr = as_array(y_train, "y_train", allow_nan=False)
    xte = as_array(x_test, "x_test", ndim=2, allow_nan=kind == "hgb")
    check_same_length(x_train=xtr, y_train=ytr)
    if xte.shape[1] != xtr.shape[1]:
        raise ValueError(f"x_test: {xte.shape[1]} features, x_train has {xtr.shape[1]}")
    max_iter = check_int(max_iter, "max_iter")
    if kind == "mlp":
        if quantiles is not None:
            raise ValueError("quantiles: supported only with kind='hgb'")
        with needs_extra("eval"):
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPRegressor
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

        y_scale = float(ytr.std()) or 1.0  # fit in units of the target's std, as for the models
        mlp = make_pipeline(
            StandardScaler(),
            MLPRegressor(
                hidden_layer_sizes=(hidden_units, hidden_units),
                max_iter=max_iter,
                early_stopping=True,
                random_state=seed,
            ),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the budget, not convergence, is the point
            mlp.fit(xtr, ytr / y_scale)
        return np.asarray(mlp.predict(xte)) * y_scale

    with needs_extra("eval"):
        from sklearn.ensemble import HistGradientBoostingRegressor

    def _hgb(loss: str, q: float | None) -> np.ndarray:
        kwargs: dict[str, Any] = {"loss": loss, "max_iter": max_iter, "random_state": seed}
        if q is not None:
            kwargs["quantile"] = q
        return np.asarray(HistGradientBoostingRegressor(**kwargs).fit(xtr, ytr).predict(xte))

    if quantiles is None:
        return _hgb("squared_error", None)
    levels = [check_prob(q, "quantiles") for q in quantiles]
    return np.sort(np.column_stack([_hgb("quantile", q) for q in levels]), axis=1)
