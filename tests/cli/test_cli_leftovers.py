"""Leftovers of the end-to-end checks on unseen data: ``data-check`` on a directory, an ISO-time file and
an offset grid; ``export --num-assets`` for a model that is not a portfolio model; the history ``predict``
needs (the features' warm-up and the model window, not the baselines' 755 bars)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.data import load_dataset, prepare_panel
from ml_attention_mechanisms.recipes import _data
from ml_attention_mechanisms.recipes._data import MIN_HISTORY
from ml_attention_mechanisms.recipes._files import load_files_panel, predict_history

OHLCV = ["open", "high", "low", "close", "volume"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _bars(path: Path, frame: pd.DataFrame, *, shift: pd.Timedelta | None = None) -> Path:
    out = frame[OHLCV].copy()
    out.index = out.index + shift if shift is not None else out.index
    out.insert(0, "timestamp", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    """BTC's bundled hourly bars of 2020-01-01 .. 2020-02-08 (no gap there)."""
    return load_dataset("binance-1h", symbols=["BTC/USDT"], start="2020-01-01", end="2020-02-08").to_frame(
        "BTC/USDT"
    )


def test_data_check_directory_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = _run(["data-check", str(tmp_path)], capsys)
    assert rc == 2 and out == ""
    assert err == f"mlattn data-check: error: {tmp_path}: is a directory; expected a CSV or Parquet file\n"


def test_data_check_iso_file_and_offset_grid(
    tmp_path: Path, btc: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    iso = _bars(tmp_path / "BTCUSDT_1h.csv", btc.iloc[:48])
    half = _bars(tmp_path / "ETHUSDT_1h.csv", btc.iloc[:48], shift=pd.Timedelta(minutes=30))
    rc, out, err = _run(["data-check", str(iso), str(half)], capsys)
    assert rc == 0 and err == ""
    assert "damaged or missing unix" not in out and out.count("time from         column 'timestamp'") == 2
    assert out.count("grid offset") == 1 and "grid offset       30min" in out and "off-grid" not in out


def test_export_num_assets_refused_for_a_single_asset_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_attention_mechanisms.inference import export as export_module

    target = tmp_path / "m.onnx"
    rc, out, err = _run(
        ["export", "--model", "price_predictor_small", "--num-assets", "3", "-o", str(target)], capsys
    )
    assert rc == 2 and out == "" and err.count("\n") == 1 and not target.exists()
    assert "--num-assets 3: only for a portfolio (multi-asset) model" in err
    assert "price_predictor_small is a CryptoPricePredictionModel" in err
    # a portfolio model goes on to the export with the count (the export itself is tested elsewhere)
    seen: dict[str, Any] = {}

    def fake_export(source: Any, path: Any, **kwargs: Any) -> Any:
        seen.update(source=source, **kwargs)
        return SimpleNamespace(path=path, format="onnx", opset=18, input_names=["x"], output_names=["y"],
                               max_abs_diff=None)  # fmt: skip

    monkeypatch.setattr(export_module, "export_model", fake_export)
    argv = ["export", "--model", "portfolio_optimizer_small", "--num-assets", "3", "-o", str(target)]
    rc, out, err = _run(argv, capsys)
    assert rc == 0 and err == "" and seen["num_assets"] == 3
    assert type(seen["source"]).__name__ != "str"  # the model loaded for the check is the one exported


def test_predict_history_is_the_feature_warm_up_plus_the_window(btc: pd.DataFrame) -> None:
    panel = load_dataset("binance-1h", symbols=["BTC/USDT"], start="2020-01-01", end="2020-02-08")
    prepared = prepare_panel(panel)
    scaler = prepared.scaler.to_dict()
    need, warm = predict_history(scaler, 64)
    # reference: the first bar of the (gap-free) real data whose features are finite
    first_featured = int(np.flatnonzero(prepared.mask[0])[0])
    assert panel.mask.all() and warm == first_featured and need == warm + 63
    assert need < MIN_HISTORY  # far less than the baselines' history


def test_predict_needs_only_its_own_history(tmp_path: Path, btc: pd.DataFrame) -> None:
    scaler = prepare_panel(
        load_dataset("binance-1h", symbols=["BTC/USDT"], end="2019-12-31")
    ).scaler.to_dict()
    window = 32
    need, _ = predict_history(scaler, window)
    n = need + 40  # fewer than the baselines' 755 bars: evaluate refuses, predict forecasts
    path = _bars(tmp_path / "BTCUSDT_1h.csv", btc.iloc[:n])
    with pytest.raises(ValueError, match=f"the baselines need {MIN_HISTORY} bars"):
        load_files_panel([path], scaler=scaler, window=window)
    data = load_files_panel([path], scaler=scaler, window=window, predict=True)
    assert data.test_start == need and data.prepared.mask[0, need - window + 1 :].all()
    late = str(btc.index[n - 1])
    data = load_files_panel([path], scaler=scaler, window=window, predict=True, start=late)
    assert data.test_start == n - 1  # the newest bar alone can be predicted
    early = str(btc.index[need - 1])
    with pytest.raises(ValueError) as err:
        load_files_panel([path], scaler=scaler, window=window, predict=True, start=early)
    msg = str(err.value)
    assert f"only {need - 1} bars of the data before it; a forecast needs {need}" in msg
    assert f"model's {window}-bar window must lie after the features' {need - window + 1}-bar warm-up" in msg
    assert "baseline" not in msg
    short = _bars(tmp_path / "ETHUSDT_1h.csv", btc.iloc[:need])
    with pytest.raises(ValueError, match=f"{need} bars; a forecast needs {need} bars of history"):
        load_files_panel([short], scaler=scaler, window=window, predict=True)


def test_prediction_table_asks_load_files_panel_for_predict_history(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_attention_mechanisms.recipes import _run_inputs, evaluate_run, prediction_table

    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def fake_load(files: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise Stop

    model = SimpleNamespace(config=SimpleNamespace(attention_window=16))
    monkeypatch.setattr(
        _run_inputs, "load_run_models", lambda run: ({"price": (model, {"scaler": {}})}, {}, {})
    )
    monkeypatch.setattr(_run_inputs, "load_files_panel", fake_load)
    for call, predict in ((prediction_table, True), (evaluate_run, False)):
        seen.clear()
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(Stop):
            call("run", ["x.csv"])
        assert seen["predict"] is predict
    assert _data.HORIZON == 24
