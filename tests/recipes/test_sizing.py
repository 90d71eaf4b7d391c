"""The portfolio holds the model's weights only where they beat equal weights on validation: the choice from
the validation tables, its round trip through a run's stored sizing, and what the scored portfolio holds
(references computed here with the backtest engine)."""

from __future__ import annotations

import numpy as np
import pytest
from _recipe_helpers import fake_data

from ml_attention_mechanisms.evaluation import BacktestConfig, VolTargetConfig, run_portfolio_backtest
from ml_attention_mechanisms.recipes._score import score_strategies
from ml_attention_mechanisms.recipes._sizing import (
    EQUAL_ALLOCATION,
    PORTFOLIO_BASELINES,
    Sizing,
    equal_allocation,
    sized_portfolio,
)


def _table(score: float) -> list[dict[str, float]]:
    return [{"target_vol": 0.5, "band": 0.0, "score": s} for s in (score - 1.0, score, float("nan"))]


def _sizing(model: float | None, equal: float | None) -> Sizing:
    cfg = VolTargetConfig(target_vol=0.5)
    chosen = {"portfolio": cfg, EQUAL_ALLOCATION: VolTargetConfig(target_vol=0.3)}
    chosen.update({name: cfg for name in PORTFOLIO_BASELINES})
    tables = {k: _table(v) for k, v in (("portfolio", model), (EQUAL_ALLOCATION, equal)) if v is not None}
    return Sizing(chosen, tables, "planted", "planted")


@pytest.mark.parametrize(
    ("model", "equal", "held"),
    [
        (1.2, 1.5, "equal_weight"),
        (1.5, 1.2, "model"),
        (1.5, 1.5, "model"),  # a tie keeps the model's weights
        (float("nan"), 0.1, "equal_weight"),  # the model's strategy never traded on validation
        (1.2, None, "model"),  # a run that compared none (older runs)
    ],
)
def test_the_allocation_is_the_better_best_validation_sharpe(
    model: float, equal: float | None, held: str
) -> None:
    sizing = _sizing(model, equal)
    assert sizing.portfolio_allocation == held
    stored = Sizing.from_dict(sizing.to_dict())
    assert stored.portfolio_allocation == held == sizing.to_dict()["portfolio_allocation"]


def test_equal_allocation_spreads_over_the_listed_assets_at_the_models_decision_rows() -> None:
    r = np.zeros((6, 2))
    data = fake_data(r, 3)
    data.prepared.close = np.array([[1.0] * 6, [np.nan, np.nan, 1.0, np.nan, 1.0, 1.0]])  # B listed at t=2
    weights = np.full((6, 2), np.nan)
    weights[[0, 2, 3, 5]] = [0.9, 0.1]
    out = equal_allocation(weights, data)
    expected = np.full((6, 2), np.nan)
    expected[0], expected[[2, 3, 5]] = [1.0, 0.0], [0.5, 0.5]
    np.testing.assert_array_equal(out, expected)


def test_the_portfolio_holds_what_validation_chose_and_says_so() -> None:
    rng = np.random.default_rng(11)
    n = 24 * 80
    r = rng.normal(0.0003, 0.01, (n, 2))
    data = fake_data(r, 24 * 40)
    variance = np.exp(rng.normal(np.log(24e-4), 0.2, (n, 2)))
    weights = np.full((n, 2), np.nan)
    weights[::24] = np.column_stack([np.linspace(0.2, 0.8, n)[::24], 1 - np.linspace(0.2, 0.8, n)[::24]])
    bt, span = BacktestConfig(), slice(24 * 40, n)

    def held_sharpe(w: np.ndarray, cfg: VolTargetConfig) -> float:
        sized = sized_portfolio(w, variance, data, span, cfg, bt)
        return float(run_portfolio_backtest(sized[span], r[span], bt).metrics["sharpe"])

    kw = {"config": bt, "variance": variance, "n_configs": {"portfolio": 3}, "n_boot": 20}
    for model, equal, held, expected in (
        (
            1.0,
            2.0,
            "equal_weight",
            held_sharpe(equal_allocation(weights, data), VolTargetConfig(target_vol=0.3)),
        ),
        (2.0, 1.0, "model", held_sharpe(weights, VolTargetConfig(target_vol=0.5))),
    ):
        out = score_strategies(data, {}, weights, sizing=_sizing(model, equal), **kw)["portfolio"]
        assert out["allocation"] == held
        assert out["model"]["sharpe"] == pytest.approx(expected, rel=1e-12)
    # an ablation of the model's weights holds them whatever validation chose
    out = score_strategies(data, {}, weights, sizing=_sizing(1.0, 2.0), allocation="model", **kw)["portfolio"]
    assert out["allocation"] == "model"
    assert out["model"]["sharpe"] == pytest.approx(
        held_sharpe(weights, VolTargetConfig(target_vol=0.5)), rel=1e-12
    )
