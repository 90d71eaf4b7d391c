"""Planted regimes: the regime head, trained with ``regime_loss``, recovers regimes it never saw labelled.

A synthetic series switches between four known regimes (calm, volatile, up-trend, down-trend: each a
drift and a volatility of the per-bar return), in segments of random length. The label of bar ``t`` is the
regime that generated bar ``t`` (known from bars up to ``t``). A tiny causal model is trained for a few
seconds; on held-out series its accuracy must reach 80% for each of 3 seeds.
"""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms import TradingTransformer, TradingTransformerConfig, qlike_loss, regime_loss

REGIMES = torch.tensor([[0.0, 0.4], [0.0, 2.0], [0.8, 0.4], [-0.8, 0.4]])  # (drift, volatility) per regime
T = 64
WARM_UP = 8  # bars at the start of a window, before any context exists, are not scored


def planted_series(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[B, T, 2]`` (return, |return|) and labels ``[B, T]``."""
    labels = torch.empty(batch, T, dtype=torch.long)
    for b in range(batch):
        t = 0
        regime = int(torch.randint(0, 4, (1,), generator=generator))
        while t < T:
            length = int(torch.randint(15, 45, (1,), generator=generator))
            labels[b, t : t + length] = regime
            t += length
            regime = (regime + int(torch.randint(1, 4, (1,), generator=generator))) % 4  # always switch
    drift, vol = REGIMES[labels, 0], REGIMES[labels, 1]
    returns = drift + vol * torch.randn(batch, T, generator=generator)
    return torch.stack([returns, returns.abs()], dim=-1), labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_regimes_are_recovered(seed: int) -> None:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(100 + seed)
    cfg = TradingTransformerConfig(
        d_model=32,
        num_heads=4,
        num_encoder_layers=2,
        input_features=2,
        max_seq_len=T,
        dropout=0.0,
        use_market_regime_detection=True,
        num_regimes=4,
    )
    model = TradingTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        x, y = planted_series(16, gen)
        y[:, :WARM_UP] = -1  # unlabelled warm-up
        loss = regime_loss(model.forward_steps(x)["regime_logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = planted_series(64, torch.Generator().manual_seed(999 + seed))  # held out
    with torch.no_grad():
        pred = model.forward_steps(x)["regime_probabilities"].argmax(-1)
    accuracy = (pred[:, WARM_UP:] == y[:, WARM_UP:]).float().mean().item()
    assert accuracy >= 0.8, accuracy


def test_risk_head_trained_with_qlike_recovers_planted_volatility() -> None:
    """Next-bar volatility is the planted regime's: the QLIKE-trained ``risk_score`` tracks it."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(7)
    cfg = TradingTransformerConfig(
        d_model=32,
        num_heads=4,
        num_encoder_layers=2,
        input_features=2,
        max_seq_len=T,
        dropout=0.0,
        use_risk_management=True,
    )
    model = TradingTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        x, y = planted_series(16, gen)
        realised = x[:, 1:, 1]  # |return| of the next bar: a noisy proxy whose square has mean vol**2
        risk = model.forward_steps(x)["risk_score"][:, :-1, 0]
        loss = qlike_loss(risk[:, WARM_UP:], realised[:, WARM_UP:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = planted_series(64, torch.Generator().manual_seed(8))
    with torch.no_grad():
        risk = model.forward_steps(x)["risk_score"][..., 0]
    assert bool((risk > 0).all())
    # Away from switches (the next bar is in the same regime), the forecast is near the planted volatility.
    same = torch.zeros_like(y, dtype=torch.bool)
    same[:, WARM_UP:-1] = (y[:, WARM_UP:-1] == y[:, WARM_UP + 1 :]) & (
        y[:, WARM_UP:-1] == y[:, WARM_UP - 4 : -5]
    )
    expected = (REGIMES[:, 0] ** 2 + REGIMES[:, 1] ** 2).sqrt()  # root of E[r**2] = drift**2 + vol**2
    forecast = torch.stack([risk[same & (y == r)].median() for r in range(4)])
    ratio = forecast / expected
    assert bool(((ratio > 0.5) & (ratio < 2.0)).all()), ratio
    assert forecast[1] > 1.5 * forecast[[0, 2, 3]].max(), forecast  # the volatile regime stands out
