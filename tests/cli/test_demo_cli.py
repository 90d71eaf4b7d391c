"""``mlattn demo --quick --full``: every artefact of the main job, models and baselines side by side, the bar
computed (not hard-coded), checkpoints that rebuild the models, and one-line errors."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.recipes import DemoConfig


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    out = tmp_path_factory.mktemp("demo") / "run"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["demo", "--quick", "--full", "--out", str(out), "--no-progress"])
    return out, buf.getvalue(), rc


def _metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_demo_quick_writes_every_artefact(demo_run: tuple[Path, str, int]) -> None:
    out, stdout, rc = demo_run
    assert rc == 0
    for name in ("metrics.json", "report.html", "calibration.json", "demo_config.json"):
        assert (out / name).is_file(), name
    pngs = {p.stem for p in out.glob("*.png")}
    for stem in ("equity_portfolio", "fan_chart_BTC", "calibration", "pit_histogram", "var_exceedances_BTC",
                 "portfolio_weights", "attention_heatmap", "training_curves"):  # fmt: skip
        assert stem in pngs, stem
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("*.ckpt"))
    assert len(ckpts) == 4
    for model in ("price_predictor_small", "risk_assessor_small", "signal_generator_small",
                  "portfolio_optimizer_small"):  # fmt: skip
        assert (out / "models" / model / "config.yaml").is_file()
    assert "the bar:" in stdout and "24h variance" in stdout and "sizing (chosen on validation)" in stdout
    assert "The portfolio holds " in stdout and "The signal strategy holds " in stdout
    head = stdout.splitlines()[0].split()
    assert head[:4] == ["asset", "seen", "criterion", "figure"]  # the one-screen summary comes first


def test_metrics_hold_models_and_every_baseline(demo_run: tuple[Path, str, int]) -> None:
    from ml_attention_mechanisms.evaluation import BacktestConfig, to_jsonable

    m = _metrics(demo_run[0])
    assert m["backtest_config"] == to_jsonable(dataclasses.asdict(BacktestConfig()))
    btc = m["assets"]["BTC"]
    assert {"model", "zero", "training_mean", "ridge", "learner_hgb"} <= set(btc["returns"])
    assert {"model", "har_rv", "garch", "last_window", "learner_hgb", "variance_anchor"} <= set(
        btc["volatility"]
    )
    anchor, model = btc["volatility"]["variance_anchor"], btc["volatility"]["model"]
    assert (
        anchor["n"] == model["n"] > 0 and anchor["qlike"] > 0
    )  # the model's rows: the anchor is defined there
    assert {"model", "model_raw", "empirical_quantile", "learner_hgb"} <= set(btc["interval90"])
    assert {"historical", "garch_normal"} <= set(btc["var_baselines"])
    for key in ("var95", "var99"):
        assert {"kupiec_p", "christoffersen_p", "exceedance_rate"} <= set(btc[key])
    baselines_in_dm = {row["baseline"] for row in btc["dm"]}
    assert {"zero", "ridge", "har_rv", "garch", "learner_hgb", "variance_anchor"} <= baselines_in_dm
    sig = m["strategies"]["signal_BTC"]
    assert set(sig["baselines"]) == {"buy_and_hold", "momentum_24", "buy_and_hold_vol_target"}
    # every (target, band) pair tried on validation, for each training budget the models were chosen from
    n_sizing = len(DemoConfig.quick().vol_targets()) * len(DemoConfig.quick().training_budgets())
    n_null = len(DemoConfig.quick().vol_targets())  # the null strategy's pairs count too
    assert sig["model"]["n_configs_tried"] == n_sizing + n_null and "deflated_sharpe" in sig["model"]
    assert set(m["strategies"]["portfolio"]["baselines"]) == {
        "equal_weight",
        "inverse_volatility",
        "min_variance",
        "equal_weight_vol_target",
        "risk_parity_vol_target",
    }
    sizing = m["sizing"]
    assert sizing["chosen_on"].startswith("validation ") and set(sizing["chosen"]) == {
        "signal", "portfolio", "buy_and_hold_vol_target", "equal_weight_vol_target", "risk_parity_vol_target",
        "portfolio_equal_weight", "signal_long",
    }  # fmt: skip
    best_score = {}
    for name, rows in sizing["validation"].items():  # the chosen pair has the best validation Sharpe
        best = max((r for r in rows if r["score"] == r["score"]), key=lambda r: r["score"], default=rows[0])
        assert [r for r in rows if r["chosen"]] == [best], name
        best_score[name] = best["score"]
    # a strategy holds its null strategy only where that beats the model's decisions on validation, and says so
    for kind, null, name in (("portfolio", "portfolio_equal_weight", "equal_weight"),
                             ("signal", "signal_long", "always_long")):  # fmt: skip
        assert sizing["holds"][kind] == (name if best_score[null] > best_score[kind] else "model")
    assert m["strategies"]["portfolio"]["holds"] == sizing["holds"]["portfolio"]
    held = {m["strategies"][k]["holds"] for k in m["strategies"] if k.startswith("signal_")}
    assert held == {sizing["holds"]["signal"]}
    n_ablations = (
        len([r for r in (m.get("ablations") or {}).get("rows", []) if r["asset"] == "portfolio"]) - 1
    )
    assert m["strategies"]["portfolio"]["model"]["n_configs_tried"] == n_sizing + n_null + max(n_ablations, 0)
    assert m["data"]["seen"] == {"BTC": True, "ETH": True, "LTC": True, "BNB": True, "ADA": True}
    assert "equity" not in sig  # per-bar arrays go to the plots, not the JSON


def test_each_model_keeps_the_budget_chosen_on_validation(demo_run: tuple[Path, str, int]) -> None:
    """Forecasting models keep their lowest validation loss; strategy models the highest validation net Sharpe
    of their sized strategy, and that Sharpe is the one the run's sizing then finds for the kept model."""
    m = _metrics(demo_run[0])
    cfg = DemoConfig.quick()
    tried = [(c.train_windows, c.max_epochs) for c in cfg.training_budgets()]
    assert len(tried) == 2 and set(m["training"]) == set(cfg.models)
    strategy = {"signal_generator_small": "signal", "portfolio_optimizer_small": "portfolio"}
    for name, t in m["training"].items():
        budgets = t["budgets"]
        assert [(b["train_windows"], b["max_epochs"]) for b in budgets] == tried, name
        assert len({b["run_dir"] for b in budgets}) == len(budgets), name  # each trained in its own directory
        kept = [b for b in budgets if b["kept"]]
        assert len(kept) == 1, name
        assert (t["run_dir"], t["best_val_loss"]) == (kept[0]["run_dir"], kept[0]["best_val_loss"]), name
        if name in strategy:
            assert kept[0]["val_sharpe"] == max(b["val_sharpe"] for b in budgets), name
            best = max(
                r["score"] for r in m["sizing"]["validation"][strategy[name]] if r["score"] == r["score"]
            )
            assert kept[0]["val_sharpe"] == pytest.approx(best, rel=1e-12, abs=1e-12), name
        else:
            assert "val_sharpe" not in kept[0], name
            assert kept[0]["best_val_loss"] == min(b["best_val_loss"] for b in budgets), name


def test_each_strategy_says_how_far_validation_tells_it_from_its_null(
    demo_run: tuple[Path, str, int],
) -> None:
    """``sizing.margins``: the model's best validation net Sharpe minus its null strategy's (the two best
    scores of the validation tables), inside its 90% block-bootstrap interval, and said in the terminal."""
    m, stdout = _metrics(demo_run[0]), demo_run[1]
    sizing = m["sizing"]

    def best(name: str) -> float:
        return max(r["score"] for r in sizing["validation"][name] if r["score"] == r["score"])

    margin = sizing["margins"]["portfolio"]  # the portfolio always trades: finite
    assert margin["difference"] == pytest.approx(best("portfolio") - best("portfolio_equal_weight"), rel=1e-9)
    assert margin["low"] <= margin["difference"] <= margin["high"] and margin["confidence"] == 0.9
    said = next(line for line in stdout.splitlines() if line.startswith("The portfolio holds "))
    assert f"the difference {margin['difference']:+.2f}, 90% interval {margin['low']:+.2f} to" in said
    signal = sizing["margins"]["signal"]
    if signal["difference"] == signal["difference"]:  # NaN where the signal model never traded
        assert signal["difference"] == pytest.approx(best("signal") - best("signal_long"), rel=1e-9)


def test_the_bar_is_computed_from_the_figures(demo_run: tuple[Path, str, int]) -> None:
    from ml_attention_mechanisms.evaluation import evaluate_bar

    m = _metrics(demo_run[0])
    assets = tuple(m["assets"])
    again = evaluate_bar(m, assets=assets, strategy_kinds=list(m["strategies"]))
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(m["bar"]))
    assert assets == ("BTC", "ETH", "LTC", "BNB", "ADA")
    assert {c["asset"] for c in m["bar"]["criteria"]} == {*assets, "all"}
    assert [c["criterion"] for c in m["bar"]["criteria"] if c["asset"] == "all"] == [
        "strategy_portfolio",
        "strategy_signal",
    ]
    assert {r["asset"] for r in m["bar"]["reported"]} == set(assets)  # per-asset signal verdicts
    failed = [c for c in m["bar"]["criteria"] if not c["passed"]]
    assert len(m["shortfalls"]) == len(failed)
    html = (demo_run[0] / "report.html").read_text(encoding="utf-8")
    assert html.index("id='summary'") < html.index("Everything was chosen on the validation split")
    assert ("Where the models fall short" in html) == bool(failed)


def test_checkpoints_rebuild_the_calibrated_models(demo_run: tuple[Path, str, int]) -> None:
    from ml_attention_mechanisms.training import load_checkpoint

    out = demo_run[0]
    cal = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    model, payload = load_checkpoint(out / "checkpoints" / "signal_generator_small.ckpt")
    assert float(model.temperature) == pytest.approx(cal["signal_temperature"], rel=1e-6)
    assert payload["feature_names"] and payload["symbols"]
    assert {"cqr_offsets", "var_scale"} <= set(
        cal
    ) and "variance_scale" not in cal  # the variance: not rescaled
    price, _ = load_checkpoint(out / "checkpoints" / "price_predictor_small.ckpt")
    assert set(price.volatility_head.residual_weight.tolist()) <= {0.0, 0.25, 0.5, 0.75, 1.0}  # type: ignore[union-attr]


def test_demo_bad_model_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = main(["demo", "--quick", "--models", "nope_small", "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "models" in err
    rc = main(["demo", "--quick", "--ensemble", "0", "--out", str(tmp_path / "y"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "DemoConfig.ensemble=0" in err and "int >= 1" in err
    assert not (tmp_path / "y").exists()


def test_full_adds_walk_forward_folds_and_ablations(demo_run: tuple[Path, str, int]) -> None:
    m = _metrics(demo_run[0])
    folds = m["walk_forward"]["folds"]
    assert len({row["fold"] for row in folds}) >= 4
    assert {row["asset"] for row in folds} == {"BTC", "ETH", "LTC"}
    starts = sorted({row["test"] for row in folds})
    assert len(starts) == len({row["fold"] for row in folds})  # one test block per fold, in time order
    assert all({"qlike_model", "qlike_har_rv", "qlike_garch"} <= set(row) for row in folds)
    rows = m["ablations"]["rows"]
    price = {row["ablation"] for row in rows if row["asset"] != "portfolio"}
    assert price == {
        "market-time encoding, crypto attention (demo model)",
        "no market-time encoding",
        "standard attention (index ALiBi, no market time)",
    }
    assert all(
        {"qlike", "coverage90", "width90", "rmse"} <= set(row) for row in rows if row["asset"] != "portfolio"
    )
    portfolio = [row for row in rows if row["asset"] == "portfolio"]
    assert [row["ablation"] for row in portfolio] == [
        "cross-asset attention, 1 layer(s) (demo model)",
        "no cross-asset attention",
    ]
    assert all({"sharpe", "max_drawdown", "sortino", "turnover"} <= set(row) for row in portfolio)
    # the "on" row is the demo's own portfolio model, scored the same way as the main table when the portfolio
    # holds the model's weights (the ablation compares the model's weights whatever validation chose)
    if m["strategies"]["portfolio"]["holds"] == "model":
        assert portfolio[0]["sharpe"] == pytest.approx(
            m["strategies"]["portfolio"]["model"]["sharpe"], rel=1e-9
        )
    assert m["ablations"]["not_run"] == []
    n_sizing = len(DemoConfig.quick().vol_targets()) * len(DemoConfig.quick().training_budgets())
    n_null = len(DemoConfig.quick().vol_targets())  # the null strategy's pairs
    assert m["configurations_tried"]["price"] == 3
    assert m["configurations_tried"]["portfolio"] == n_sizing + n_null + 1
    assert m["configurations_tried"]["signal"] == n_sizing + n_null
    html = (demo_run[0] / "report.html").read_text(encoding="utf-8")
    assert "Walk-forward folds" in html and "Ablations" in html and "Leave-one-asset-out folds" in html


def test_full_adds_leave_one_asset_out_folds(demo_run: tuple[Path, str, int]) -> None:
    loao = _metrics(demo_run[0])["leave_one_asset_out"]
    assert [row["asset"] for row in loao["folds"]] == ["BTC", "ETH", "LTC"]
    for row in loao["folds"]:  # each fold's model never saw its asset: it reads the unknown-asset id
        assert row["seen"] is False and row["passed"] == (
            row["qlike_model"] <= min(row["qlike_har_rv"], row["qlike_garch"])
        )
        ckpt = demo_run[0] / "leave_one_asset_out" / row["asset"] / "checkpoints"
        assert any(ckpt.glob("*.ckpt"))
    assert loao["n"] == 3 and loao["passed"] == sum(r["passed"] for r in loao["folds"])
