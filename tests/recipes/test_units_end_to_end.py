"""A run's forecasts on other files do not depend on their units: the same exports with prices x1000 or
x0.001, or volumes x1000 or x0.001, give the same forecasts of all four models (rtol 1e-4), through
``evaluate_run`` (returns, intervals, variance, VaR/ES, drawdown, signal probabilities, portfolio weights,
as calibrated and scored: captured where the evaluate path makes them, compared in float64) and through
``mlattn predict``'s table. The run's models are those a user has: float32 checkpoints of a quick demo."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.recipes import _scoring, evaluate_run
from ml_attention_mechanisms.recipes.predict import prediction_table

UNITS = {  # (price factor, volume factor)
    "base": (1.0, 1.0),
    "prices_x1000": (1e3, 1.0),
    "prices_x0.001": (1e-3, 1.0),
    "volumes_x1000": (1.0, 1e3),
    "volumes_x0.001": (1.0, 1e-3),
}
SCORED = "2021-01-22"  # the first scored bar; the 744 bars before it warm the rolling calibration up
RTOL = 1e-4


@pytest.fixture(scope="module")
def run_and_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Path]]]:
    from ml_attention_mechanisms.data import load_dataset

    root = tmp_path_factory.mktemp("units")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["demo", "--quick", "--out", str(root / "run"), "--no-progress"])  # the four models
    assert rc == 0
    later = load_dataset("binance-1h").between("2020-11-20", "2021-01-31 23:00")
    files: dict[str, list[Path]] = {}
    for name, (price, volume) in UNITS.items():
        folder = root / name
        folder.mkdir()
        files[name] = []
        for symbol in ("BTC/USDT", "ETH/USDT", "ADA/USDT"):  # ADA: a coin the run never saw
            frame = later.to_frame(symbol)[["open", "high", "low", "close", "volume", "quote_volume"]].copy()
            frame[["open", "high", "low", "close"]] *= price
            frame["volume"] *= volume
            frame["quote_volume"] *= price * volume
            path = folder / f"{symbol.replace('/', '')}_1h.csv"
            frame.to_csv(path)
            files[name].append(path)
    return root / "run", files


def _evaluate(run: Path, paths: list[Path], out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``evaluate_run``'s forecasts (captured where the evaluate path makes them) and its metrics."""
    made: list[Any] = []

    def capture(*args: Any, **kwargs: Any) -> Any:
        made.append(forecast_run(*args, **kwargs))
        return made[-1]

    forecast_run = _scoring.forecast_run
    with monkeypatch.context() as patch:
        patch.setattr(_scoring, "forecast_run", capture)
        metrics = evaluate_run(run, paths, start=SCORED, out=out, progress=False).metrics
    assert len(made) == 1
    return {"forecasts": made[0], "metrics": metrics}


@pytest.fixture(scope="module")
def evaluated(
    run_and_files: tuple[Path, dict[str, list[Path]]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    run, files = run_and_files
    root = tmp_path_factory.mktemp("evaluated")
    with pytest.MonkeyPatch.context() as monkeypatch:
        return {name: _evaluate(run, paths, root / name, monkeypatch) for name, paths in files.items()}


def _arrays(forecasts: Any) -> dict[str, np.ndarray]:
    """Every forecast array of the evaluate path, by name: per asset the price and risk models' calibrated
    (and raw) outputs, the signal model's probabilities, and the portfolio model's weights."""
    out = {
        f"{a}/{k}": np.asarray(v, dtype=np.float64) for a, f in forecasts.assets.items() for k, v in f.items()
    }
    out |= {
        f"{a}/signal_{k}": np.asarray(v, np.float64)
        for a, f in forecasts.signals.items()
        for k, v in f.items()
    }
    out["portfolio/weights"] = np.asarray(forecasts.weights, dtype=np.float64)
    return out


def test_evaluate_forecasts_do_not_depend_on_price_or_volume_units(
    evaluated: dict[str, dict[str, Any]],
) -> None:
    base = _arrays(evaluated["base"]["forecasts"])
    wanted = {"return", "quantiles", "variance", "var", "es", "drawdown", "signal_probabilities"}
    assert wanted <= {key.split("/", 1)[1] for key in base}, sorted(base)
    assert {key.split("/")[0] for key in base} == {"BTC", "ETH", "ADA", "portfolio"}
    rows = {"BTC/variance": 500, "ADA/variance": 500, "ADA/var": 100, "ADA/signal_probabilities": 500,
            "portfolio/weights": 30}  # hourly forecasts over 1000+ bars; weights at daily rebalances  # fmt: skip
    for key, least in rows.items():
        assert np.isfinite(base[key]).any(axis=tuple(range(1, base[key].ndim))).sum() >= least, key
    for name in UNITS:
        if name == "base":
            continue
        other = _arrays(evaluated[name]["forecasts"])
        assert other.keys() == base.keys(), name
        for key, value in base.items():
            np.testing.assert_allclose(
                other[key], value, rtol=RTOL, atol=1e-12, equal_nan=True, err_msg=f"{key} ({name})"
            )


def test_evaluate_scores_do_not_depend_on_price_or_volume_units(evaluated: dict[str, dict[str, Any]]) -> None:
    base = evaluated["base"]["metrics"]["assets"]
    assert {"BTC", "ETH", "ADA"} <= set(base)
    for name in UNITS:
        got = evaluated[name]["metrics"]["assets"]
        for asset, res in base.items():
            figures = {
                "qlike": (res["volatility"]["model"]["qlike"], got[asset]["volatility"]["model"]["qlike"]),
                **{
                    key: (res["interval90"]["model"][key], got[asset]["interval90"]["model"][key])
                    for key in ("coverage", "width", "pinball")
                },
            }
            for key, (a, b) in figures.items():
                assert b == pytest.approx(a, rel=RTOL), (name, asset, key)


def test_predictions_do_not_depend_on_price_or_volume_units(
    run_and_files: tuple[Path, dict[str, list[Path]]],
) -> None:
    run, files = run_and_files
    tables = {name: prediction_table(run, paths, start="2021-01-20") for name, paths in files.items()}
    base = tables.pop("base")
    figures = [c for c in base.columns if c not in ("timestamp", "symbol", "close")]
    assert {"variance_24h", "var95", "es99", "return_q0.05", "p_buy", "portfolio_weight"} <= set(figures)
    assert np.isfinite(base["variance_24h"].to_numpy()).mean() > 0.9
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table[["timestamp", "symbol"]], base[["timestamp", "symbol"]])
        for column in figures:
            np.testing.assert_allclose(
                table[column].to_numpy(dtype=float), base[column].to_numpy(dtype=float),
                rtol=RTOL, atol=1e-12, equal_nan=True, err_msg=f"{column} ({name})",
            )  # fmt: skip


def test_predicted_portfolio_weight_is_what_the_runs_portfolio_holds(
    run_and_files: tuple[Path, dict[str, list[Path]]], tmp_path: Path
) -> None:
    """``portfolio_weight`` is the model's weight where the run's validation kept it, equal weights over the
    listed assets where it chose them (forced here both ways by editing a copy of the run's stored scores);
    ``portfolio_model_weight`` is the model's either way."""
    import json
    import shutil

    run, files = run_and_files
    for equal_wins in (False, True):
        copy = tmp_path / f"run_{equal_wins}"
        shutil.copytree(run, copy)
        path = copy / "calibration.json"
        stored = json.loads(path.read_text(encoding="utf-8"))
        tables = stored["sizing"]["validation"]
        tables["portfolio_equal_weight"] = [
            {**row, "score": (9.0 if equal_wins else -9.0)} for row in tables["portfolio"]
        ]
        path.write_text(json.dumps(stored), encoding="utf-8")
        table = prediction_table(copy, files["base"], start="2021-01-20")
        model = table.pivot(index="timestamp", columns="symbol", values="portfolio_model_weight")
        held = table.pivot(index="timestamp", columns="symbol", values="portfolio_weight")
        rows = model.notna().all(axis=1).to_numpy()
        assert rows.sum() >= 200
        if equal_wins:  # every file's coin is listed from its first row on
            np.testing.assert_allclose(held.to_numpy()[rows], 1.0 / 3.0, rtol=1e-12)
        else:
            np.testing.assert_array_equal(held.to_numpy()[rows], model.to_numpy()[rows])
        assert np.isnan(held.to_numpy()[~rows]).all()
