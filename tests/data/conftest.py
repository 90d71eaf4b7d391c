"""Shared fixture of the data tests: where the shared real exports are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_CANDIDATES = [
    os.environ.get("MLATTN_SHARED_DATA", ""),
    str(Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-1h"),
    str(Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-1h"),
]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared real exports (``../shared/data/binance-1h`` next to the repository, or $MLATTN_SHARED_DATA)."""
    for cand in _CANDIDATES:
        if cand and (Path(cand) / "Binance_BTCUSDT_1h.csv").exists():
            return Path(cand)
    # Not a skip: these tests are the evidence that real exports load, and CI always has ../shared.
    pytest.fail(
        "the shared real exports were not found (looked in ../shared/data/binance-1h beside the repository); "
        "set MLATTN_SHARED_DATA to their folder"
    )


@pytest.fixture(scope="session")
def load_real(shared_dir: Path):  # type: ignore[no-untyped-def]
    """``load_real(name)``: a shared export loaded once per session (tests must not modify the frame)."""
    from functools import cache

    from ml_attention_mechanisms.data import load_ohlcv

    return cache(lambda name: load_ohlcv(shared_dir / name))
