"""A run's forecasts on other files do not depend on their units: the same exports with prices x1000 or
x0.001 and volumes x1000 or x0.001 give the same forecasts of all four models through ``mlattn predict``'s
table (returns, quantiles, variance, VaR/ES, drawdown, signal probabilities, portfolio weights; rtol 1e-4)
and the same model scores through ``evaluate_run``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.recipes import evaluate_run
from ml_attention_mechanisms.recipes.predict import prediction_table

UNITS = {"base": (1.0, 1.0), "x1000_prices": (1e3, 1e-3), "x0.001_prices": (1e-3, 1e3)}  # (price, volume)


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
        for symbol in ("BTC/USDT", "ETH/USDT", "ADA/USDT"):
            frame = later.to_frame(symbol)[["open", "high", "low", "close", "volume", "quote_volume"]].copy()
            frame[["open", "high", "low", "close"]] *= price
            frame["volume"] *= volume
            frame["quote_volume"] *= price * volume
            path = folder / f"{symbol.replace('/', '')}_1h.csv"
            frame.to_csv(path)
            files[name].append(path)
    return root / "run", files


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
                rtol=1e-4, atol=1e-9, equal_nan=True, err_msg=f"{column} ({name})",
            )  # fmt: skip


def test_evaluate_scores_do_not_depend_on_units(
    run_and_files: tuple[Path, dict[str, list[Path]]], tmp_path: Path
) -> None:
    run, files = run_and_files
    got = {}
    for name in ("base", "x1000_prices"):
        out = evaluate_run(run, files[name], start="2021-01-15", out=tmp_path / name, progress=False)
        got[name] = out.metrics["assets"]
    for asset, res in got["base"].items():
        other = got["x1000_prices"][asset]
        assert res["volatility"]["model"]["qlike"] == pytest.approx(
            other["volatility"]["model"]["qlike"], rel=1e-4
        )
        for key in ("coverage", "width", "pinball"):
            a, b = res["interval90"]["model"][key], other["interval90"]["model"][key]
            assert a == pytest.approx(b, rel=1e-4), (asset, key)
