"""What ``evaluate``, ``predict`` and ``backtest --run`` start from: the run's models and the other data,
prepared for scoring (the baselines' history) or for forecasting only (``predict``)."""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace
from typing import Any

import pytest


def test_prediction_table_asks_load_files_panel_for_predict_history(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_attention_mechanisms.recipes import _data, _run_inputs, evaluate_run, prediction_table

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
