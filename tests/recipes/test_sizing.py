"""A strategy holds its model's decisions only where they beat its null strategy on validation (always long
for the signal, equal weights for the portfolio): the choice from the validation tables, its round trip
through a run's stored sizing, and what the scored strategies hold (references computed here with the
backtest engine)."""

from __future__ import annotations

import numpy as np
import pytest
from _recipe_helpers import fake_data

from ml_attention_mechanisms.evaluation import (
    BacktestConfig,
    VolTargetConfig,
    run_backtest,
    run_portfolio_backtest,
)
from ml_attention_mechanisms.recipes._data import DemoData
from ml_attention_mechanisms.recipes._score import score_strategies
from ml_attention_mechanisms.recipes._sizing import (
    ALWAYS_LONG,
    EQUAL_ALLOCATION,
    PORTFOLIO_BASELINES,
    SIGNAL_BASELINE,
    Sizing,
    equal_allocation,
    sized_portfolio,
    sized_signal,
)


def _table(score: float) -> list[dict[str, float]]:
    return [{"target_vol": 0.5, "band": 0.0, "score": s} for s in (score - 1.0, score, float("nan"))]


def _sizing(
    model: float | None, null: float | None, signal: tuple[float | None, float | None] = (1.0, 0.0)
) -> Sizing:
    """Planted validation tables: the portfolio's (``model``, ``null``), the signal's ``signal``."""
    cfg, other = VolTargetConfig(target_vol=0.5), VolTargetConfig(target_vol=0.3)
    chosen = {"portfolio": cfg, EQUAL_ALLOCATION: other, "signal": cfg, ALWAYS_LONG: other}
    chosen.update({name: cfg for name in (*PORTFOLIO_BASELINES, SIGNAL_BASELINE)})
    scores = (("portfolio", model), (EQUAL_ALLOCATION, null), ("signal", signal[0]), (ALWAYS_LONG, signal[1]))
    return Sizing(chosen, {k: _table(v) for k, v in scores if v is not None}, "planted", "planted")


@pytest.mark.parametrize(
    ("model", "null", "held"),
    [
        (1.2, 1.5, "null"),
        (1.5, 1.2, "model"),
        (1.5, 1.5, "model"),  # a tie keeps the model
        (float("nan"), 0.1, "null"),  # the model's strategy never traded on validation
        (1.2, None, "model"),  # a run that compared none (older runs)
    ],
)
@pytest.mark.parametrize(("kind", "name"), [("portfolio", "equal_weight"), ("signal", "always_long")])
def test_what_a_strategy_holds_is_the_better_best_validation_sharpe(
    model: float, null: float | None, held: str, kind: str, name: str
) -> None:
    sizing = _sizing(model, null) if kind == "portfolio" else _sizing(1.0, 0.0, (model, null))
    want = name if held == "null" else "model"
    assert sizing.holds[kind] == want
    assert (
        sizing.holds[{"portfolio": "signal", "signal": "portfolio"}[kind]] == "model"
    )  # the other kind's own
    stored = Sizing.from_dict(sizing.to_dict())
    assert stored.holds[kind] == want == sizing.to_dict()["holds"][kind]


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


N, TEST = 24 * 80, 24 * 40  # 80 days of hourly bars, tested from day 40


def _market(seed: int) -> tuple[np.ndarray, DemoData, np.ndarray, np.random.Generator]:
    """``(returns [N, 2], data, variance forecasts [N, 2], rng)`` of two planted assets."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0003, 0.01, (N, 2))
    return r, fake_data(r, TEST), np.exp(rng.normal(np.log(24e-4), 0.2, (N, 2))), rng


def test_the_portfolio_holds_what_validation_chose_and_says_so() -> None:
    r, data, variance, _ = _market(11)
    weights = np.full((N, 2), np.nan)
    weights[::24] = np.column_stack([np.linspace(0.2, 0.8, N)[::24], 1 - np.linspace(0.2, 0.8, N)[::24]])
    bt, span = BacktestConfig(), slice(TEST, N)

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
        assert out["holds"] == held
        assert out["model"]["sharpe"] == pytest.approx(expected, rel=1e-12)
    # an ablation of the model's weights holds them whatever validation chose
    out = score_strategies(data, {}, weights, sizing=_sizing(1.0, 2.0), model_only=True, **kw)["portfolio"]
    assert out["holds"] == "model"
    assert out["model"]["sharpe"] == pytest.approx(
        held_sharpe(weights, VolTargetConfig(target_vol=0.5)), rel=1e-12
    )


def test_the_signal_strategy_holds_long_where_validation_chose_it() -> None:
    r, data, variance, rng = _market(12)
    signal = np.where(rng.random(N) < 0.5, 1.0, -1.0)  # buy or sell at random: long/flat
    bt, span = BacktestConfig(), slice(TEST, N)

    def sharpe(sig: np.ndarray, cfg: VolTargetConfig) -> float:
        pos = sized_signal(sig, variance[:, 0], span, cfg, bt)
        return float(run_backtest(pos[span], r[span, 0], bt).metrics["sharpe"])

    kw = {"config": bt, "variance": variance, "n_configs": {"signal": 3}, "n_boot": 20}
    for scores, held, expected in (
        ((1.0, 2.0), "always_long", sharpe(np.ones(N), VolTargetConfig(target_vol=0.3))),
        ((2.0, 1.0), "model", sharpe(signal, VolTargetConfig(target_vol=0.5))),
    ):
        out = score_strategies(data, {"BTC": signal}, None, sizing=_sizing(None, None, scores), **kw)[
            "signal_BTC"
        ]
        assert out["holds"] == held
        assert out["model"]["sharpe"] == pytest.approx(expected, rel=1e-12)
    # an ablation of the model's decisions holds them whatever validation chose
    out = score_strategies(
        data, {"BTC": signal}, None, sizing=_sizing(None, None, (1.0, 2.0)), model_only=True, **kw
    )
    assert out["signal_BTC"]["holds"] == "model"
    assert out["signal_BTC"]["model"]["sharpe"] == pytest.approx(
        sharpe(signal, VolTargetConfig(target_vol=0.5)), rel=1e-12
    )
