"""The non-attention learner: fits, predicts, quantiles, errors."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import fit_predict_learner, rmse


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("kind", ["hgb", "mlp"])
def test_learner_beats_the_mean_on_a_nonlinear_target(kind: str) -> None:
    x, y = _data(1000, 0)
    xt, yt = _data(500, 1)
    pred = fit_predict_learner(x, y, xt, kind=kind, max_iter=60, hidden_units=32)
    assert pred.shape == (500,)
    assert rmse(yt, pred) < 0.6 * rmse(yt, np.full(500, y.mean()))


def test_learner_quantiles_are_sorted_and_cover_broadly() -> None:
    x, y = _data(1500, 2)
    xt, yt = _data(1000, 3)
    q = fit_predict_learner(x, y, xt, quantiles=[0.1, 0.5, 0.9], max_iter=100)
    assert q.shape == (1000, 3) and np.all(np.diff(q, axis=1) >= 0)
    assert 0.5 < np.mean((yt >= q[:, 0]) & (yt <= q[:, 2])) < 0.95  # in-sample fit: under-covers a little


def test_learner_rejects_bad_input() -> None:
    x, y = _data(50, 4)
    with pytest.raises(ValueError, match="kind='lstm'"):
        fit_predict_learner(x, y, x, kind="lstm")
    with pytest.raises(ValueError, match="x_test: 3 features"):
        fit_predict_learner(x, y, x[:, :3])
    with pytest.raises(ValueError, match="quantiles: supported only"):
        fit_predict_learner(x, y, x, kind="mlp", quantiles=[0.5])
