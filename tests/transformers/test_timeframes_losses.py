"""Timeframe parsing, causal trailing means, QLIKE and regime losses against plain formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ml_attention_mechanisms.transformers import qlike_loss, regime_loss
from ml_attention_mechanisms.transformers._timeframes import (
    causal_trailing_mean,
    parse_timeframe,
    timeframe_ratio,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("1h", 3600),
        ("4h", 14400),
        ("1d", 86400),
        ("1w", 604800),
        ("30s", 30),
    ],
)
def test_parse_timeframe(text: str, seconds: int) -> None:
    assert parse_timeframe(text) == seconds


@pytest.mark.parametrize("bad", ["", "1", "m", "0m", "1y", "1.5h", "-1m", "1 m"])
def test_parse_timeframe_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="timeframe"):
        parse_timeframe(bad)


def test_timeframe_ratio() -> None:
    assert timeframe_ratio("4h", "1m") == 240
    assert timeframe_ratio("1d", "1h") == 24
    with pytest.raises(ValueError, match="not finer"):
        timeframe_ratio("1m", "5m")
    with pytest.raises(ValueError, match="whole multiple"):
        timeframe_ratio("7m", "5m")


@pytest.mark.parametrize("ratio", [1, 3, 7, 50])
def test_causal_trailing_mean_matches_loop(ratio: int) -> None:
    x = torch.randn(2, 20, 3)
    present = torch.rand(2, 20) > 0.3
    got = causal_trailing_mean(x, ratio, present)
    want = torch.zeros(2, 20, 3, dtype=torch.float64)
    for b in range(2):
        for t in range(20):
            lo = max(0, t - ratio + 1)
            rows = [x[b, s].double() for s in range(lo, t + 1) if present[b, s]]
            if rows:
                want[b, t] = torch.stack(rows).mean(0)
    torch.testing.assert_close(got, want.float())


def test_causal_trailing_mean_ignores_missing_nan() -> None:
    x = torch.randn(1, 6, 2)
    present = torch.ones(1, 6, dtype=torch.bool)
    present[0, 2] = False
    x[0, 2] = float("nan")
    assert torch.isfinite(causal_trailing_mean(x, 3, present)).all()


def test_qlike_matches_patton_formula() -> None:
    pred = torch.rand(50, dtype=torch.float64) + 0.1
    real = torch.rand(50, dtype=torch.float64) + 0.1
    h, rv = pred**2, real**2
    want = (rv / h - torch.log(rv / h) - 1).mean()
    torch.testing.assert_close(qlike_loss(pred, real, eps=0.0), want)


def test_qlike_is_minimised_by_the_truth() -> None:
    real = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    pred = real.clone().requires_grad_(True)
    loss = qlike_loss(pred, real)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    assert pred.grad is not None and pred.grad.abs().max() < 1e-9
    assert qlike_loss(real * 1.3, real) > 0 and qlike_loss(real * 0.7, real) > 0
    assert math.isfinite(qlike_loss(torch.tensor([0.1]), torch.tensor([0.0])).item())  # zero realised move
    with pytest.raises(ValueError, match="differ"):
        qlike_loss(torch.ones(2), torch.ones(3))


def test_regime_loss_ignores_unlabelled_bars() -> None:
    logits = torch.randn(2, 5, 3)
    labels = torch.tensor([[0, 1, 2, -1, 1], [2, 2, -1, 0, 0]])
    keep = labels != -1
    want = F.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(regime_loss(logits, labels), want)
    with pytest.raises(ValueError, match="regime labels"):
        regime_loss(logits, torch.full((2, 5), 3))
