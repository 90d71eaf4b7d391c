"""benchmarks/anchor_variants.py: its anchor is the library's, and a file's column is the library's QLIKE."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from ml_attention_mechanisms.data import default_split, load_dataset, load_ohlcv
from ml_attention_mechanisms.data.anchor import VarianceAnchor, parkinson_variance
from ml_attention_mechanisms.evaluation.metrics import qlike

ROOT = Path(__file__).resolve().parents[1]
BTC = ROOT / "src" / "ml_attention_mechanisms" / "data" / "bundled" / "binance-1h__BTCUSDT.csv.gz"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "anchor_variants_under_test", ROOT / "benchmarks" / "anchor_variants.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_files_column_is_the_library_anchors_qlike(capsys: pytest.CaptureFixture[str]) -> None:
    """The anchor row's column for ``--file`` is the QLIKE of the library's fitted anchor on that file, scored
    from ``--start`` against the realised mean squared return of the next 24 bars (computed here by hand)."""
    pd = pytest.importorskip("pandas")
    assert _bench().main(["--quick", "--file", str(BTC), "--start", "2021-01-02"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("the anchor as it is"))
    printed = float(line.rsplit(":", 1)[1])

    panel = load_dataset("binance-1h")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(panel.mask, parkinson_variance(np.log(panel.field("high") / panel.field("low"))), np.nan)
        r2 = np.square(np.diff(np.log(panel.close), axis=0, prepend=np.nan))
    y = np.full_like(r2, np.nan)
    for t in range(r2.shape[0] - 24):
        y[t] = r2[t + 1 : t + 25].mean(axis=0)
    rows = np.asarray(panel.mask, dtype=bool).copy()
    rows[default_split(panel.timestamps, horizon=24).train_end + 1 - 24 :] = False
    anchor = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168).fit(p, r2, y, rows)

    frame = load_ohlcv(BTC)
    high, low, close = (frame[k].to_numpy(float) for k in ("high", "low", "close"))
    fp, fr2 = parkinson_variance(np.log(high / low)), np.square(np.diff(np.log(close), prepend=np.nan))
    f = anchor.scale(fp, fr2)
    first = int(frame.index.searchsorted(pd.Timestamp("2021-01-02", tz="UTC")))
    fy = np.array([fr2[t + 1 : t + 25].mean() for t in range(first, len(close) - 24)])
    ok = np.isfinite(fy) & np.isfinite(f[first : len(close) - 24]) & (fy > 0)
    assert printed == pytest.approx(qlike(fy[ok], f[first : len(close) - 24][ok]), abs=6e-5)
