"""``mlattn evaluate`` on a demo's own test period and data gives the demo's figures: the same forecasts
(the rolling calibration warmed up on the bars before the first scored one, the signal model's calibrated
temperature), the same baselines, the same strategies (sized by the run's stored choice) and the same bar.
Would fail if the two paths drift apart. So for a run whose price model is an ensemble (its members'
checkpoints read back as one model by ``evaluate``). The same coin exported by another exchange under its own name
(Kraken's ``XBTUSD``) is the coin the run trained on: its forecasts are the run's BTC forecasts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from ml_attention_mechanisms.recipes import DemoConfig, evaluate_run, run_demo

# a validation split longer than the rolling calibration's warm-up (744 bars), as the default demo's
CONFIG = {"train_end": "2020-10-31 23:00", "val_end": "2020-12-05 23:00"}


@pytest.fixture(scope="module", params=[1, 2], ids=["one-price-model", "ensemble-of-2"])
def ensemble(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, ensemble: int) -> Path:
    return tmp_path_factory.mktemp(f"same{ensemble}")


@pytest.fixture(scope="module")
def demo_and_evaluate(root: Path, ensemble: int) -> tuple[dict[str, Any], dict[str, Any]]:
    from ml_attention_mechanisms.data import load_dataset

    cfg = DemoConfig.quick(**CONFIG, ensemble=ensemble)
    demo = run_demo(cfg, root / "run", progress=False).metrics
    checkpoints = sorted(p.name for p in (root / "run" / "checkpoints").glob("price*.ckpt"))
    assert len(checkpoints) == ensemble, checkpoints
    panel = load_dataset(cfg.dataset).between(cfg.start, cfg.end)
    files = []
    for symbol in panel.symbols:  # the demo's bars, as a user's exports of them
        path = root / f"{symbol.replace('/', '')}_1h.csv"
        panel.to_frame(symbol).to_csv(path)
        files.append(path)
    first = demo["data"]["periods"]["test"][0]
    ev = evaluate_run(root / "run", files, start=first, end=cfg.end, out=root / "ev", progress=False).metrics
    return demo, ev


def _figures(tree: Any, path: str = "") -> dict[str, float]:
    """Every number of a metrics subtree, by its path."""
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_figures(v, f"{path}/{k}"))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(_figures(v, f"{path}[{i}]"))
    elif isinstance(tree, int | float) and not isinstance(tree, bool):
        out[path] = float(tree)
    return out


def _same(a: dict[str, float], b: dict[str, float]) -> list[str]:
    return [
        k
        for k in a
        if not (
            a[k] == b[k]
            or (math.isnan(a[k]) and math.isnan(b[k]))
            or math.isclose(a[k], b[k], rel_tol=1e-6)  # batch boundaries: float32 ulps
        )
    ]


def test_same_period_and_assets(demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]]) -> None:
    demo, ev = demo_and_evaluate
    assert ev["data"]["periods"]["test"] == demo["data"]["periods"]["test"]
    assert ev["data"]["seen"] == demo["data"]["seen"]
    assert ev["sizing"]["chosen"] == demo["sizing"]["chosen"]


def test_forecast_scores_are_the_demos(demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]]) -> None:
    demo, ev = demo_and_evaluate
    for asset, scores in demo["assets"].items():
        # the non-attention learner is the demo's only (it trains on the run's training rows)
        mine = {k: v for k, v in _figures(scores).items() if "learner_hgb" not in k and "/dm[" not in k}
        theirs = _figures(ev["assets"][asset])
        assert set(mine) <= set(theirs), asset
        assert _same(mine, theirs) == [], asset


def test_strategies_and_the_bar_are_the_demos(
    demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    demo, ev = demo_and_evaluate
    mine, theirs = _figures(demo["strategies"]), _figures(ev["strategies"])
    assert set(mine) == set(theirs) and _same(mine, theirs) == []
    assert [(c["asset"], c["criterion"], c["passed"]) for c in ev["bar"]["criteria"]] == [
        (c["asset"], c["criterion"], c["passed"]) for c in demo["bar"]["criteria"]
    ]


def test_another_exchanges_name_of_a_seen_coin(
    root: Path, demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """BTC as Kraken exports it (``XBTUSD_60.csv``: headerless OHLCVT, its name for BTC) is BTC: seen, and
    forecast with BTC's own asset id, so every BTC figure equals the Binance-named file's."""
    import pandas as pd

    demo, ev = demo_and_evaluate
    frame = pd.read_csv(root / "BTCUSDT_1h.csv", index_col=0, parse_dates=True)
    kraken = pd.DataFrame(
        {
            "t": (frame.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1),
            **{k: frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume")},
        }
    )
    path = root / "XBTUSD_60.csv"
    kraken.to_csv(path, header=False, index=False)
    first, end = demo["data"]["periods"]["test"][0], DemoConfig.quick(**CONFIG).end
    xbt = evaluate_run(root / "run", [path], start=first, end=end, out=root / "xbt", progress=False).metrics
    assert xbt["data"]["seen"] == {"BTC": True}
    mine = {k: v for k, v in _figures(ev["assets"]["BTC"]).items() if "/dm[" not in k}
    theirs = _figures(xbt["assets"]["BTC"])
    assert set(mine) <= set(theirs) and _same(mine, theirs) == []


def test_a_short_scored_period_is_warned(
    root: Path, demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """A few days scored: the figures are reported with a warning per asset that names the bar count."""
    del demo_and_evaluate  # (the fixture writes the run and the files)
    end = DemoConfig.quick(**CONFIG).end
    files = [root / "BTCUSDT_1h.csv", root / "ETHUSDT_1h.csv"]
    ev = evaluate_run(root / "run", files, start="2020-12-20", end=end, out=root / "short", progress=False)
    short = [w for w in ev.metrics["warnings"] if "bars scored" in w]
    assert [w.split(":")[0] for w in short] == ["BTC", "ETH"]
    rows = {c["rows"] for c in ev.metrics["bar"]["criteria"] if c["asset"] == "BTC" and c.get("rows")}
    n = int(short[0].split("only ")[1].split()[0])
    # the summary's figures stand on the present bars whose outcomes have a price: at most n
    assert rows and 0 < min(rows) <= max(rows) <= n < 720
    assert "BTC" in ev.metrics["assets"]  # reported all the same


def test_the_run_reads_back_its_price_models(
    root: Path, ensemble: int, demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """One price checkpoint reads back as that model; an ensemble's member checkpoints as one ensemble, and a
    member missing or twice is refused with the files named."""
    import shutil

    from ml_attention_mechanisms.models import ModelEnsemble
    from ml_attention_mechanisms.recipes import load_run_models

    demo, _ = demo_and_evaluate
    price = load_run_models(root / "run")[0]["price"].model
    seeds = [m["seed"] for m in demo["training"]["price_predictor_small"].get("ensemble", [{"seed": 0}])]
    assert seeds == list(range(ensemble))
    if ensemble == 1:
        assert not isinstance(price, ModelEnsemble)
        return
    assert isinstance(price, ModelEnsemble) and len(price.members) == ensemble
    assert f"is an ensemble of {ensemble} trainings" in (root / "run" / "report.html").read_text()
    copy = root / "damaged"
    shutil.copytree(root / "run", copy, ignore=shutil.ignore_patterns("models"))
    (copy / "checkpoints" / "price_predictor_small.1.ckpt").unlink()
    with pytest.raises(
        ValueError, match=r"checkpoints price_predictor_small.ckpt are neither.*members 0..K-1"
    ):
        load_run_models(copy)
    shutil.copy(
        root / "run" / "checkpoints" / "price_predictor_small.1.ckpt", copy / "checkpoints" / "a.ckpt"
    )
    shutil.copy(
        root / "run" / "checkpoints" / "price_predictor_small.1.ckpt", copy / "checkpoints" / "b.ckpt"
    )
    with pytest.raises(
        ValueError, match=r"checkpoints a.ckpt, b.ckpt, price_predictor_small.ckpt are neither"
    ):
        load_run_models(copy)


def test_predict_writes_the_forecasts_evaluate_scored(
    root: Path, demo_and_evaluate: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """``predict`` on the same files writes, bar for bar, the forecasts that ``evaluate`` (and the demo)
    scored: its VaR columns over the scored period, backtested, give the same exceedances and Kupiec and
    Christoffersen p-values for every asset. Would fail if the rolling calibration's warm-up differed
    between them (a risk model forecast every third warm-up bar in one and every bar in the other gives the
    first 30 scored days another VaR scale)."""
    import numpy as np
    import pandas as pd

    from ml_attention_mechanisms.evaluation import var_backtest
    from ml_attention_mechanisms.recipes import prediction_table

    demo, ev = demo_and_evaluate
    files = sorted(root.glob("*USDT_1h.csv"))
    table = prediction_table(root / "run", files, start=demo["data"]["periods"]["test"][0],
                             end=DemoConfig.quick(**CONFIG).end)  # fmt: skip
    for symbol, rows in table.groupby("symbol"):
        asset = str(symbol).split("/")[0]
        first, last = (pd.Timestamp(t, tz="UTC") for t in ev["data"]["scored"][asset])
        close = rows["close"].to_numpy(float)
        next_return = np.r_[np.log(close[1:] / close[:-1]), np.nan]
        scored = ((rows["timestamp"] >= first) & (rows["timestamp"] <= last)).to_numpy()
        for level, column in ((0.95, "var95"), (0.99, "var99")):
            var = rows[column].to_numpy(float)
            ok = scored & np.isfinite(next_return) & np.isfinite(var)
            mine = var_backtest(next_return[ok], var[ok], level)
            theirs = ev["assets"][asset][column]
            for key in ("n", "n_exceedances", "kupiec_p", "christoffersen_p"):
                assert math.isclose(mine[key], theirs[key], rel_tol=1e-9, abs_tol=1e-12), (asset, column, key)
