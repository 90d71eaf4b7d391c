"""LearnablePositionalEncoding (learnable Fourier features) and the content-gated AdaptivePositionalEncoding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml_attention_mechanisms.encodings import (
    AdaptivePositionalEncoding,
    LearnablePositionalEncoding,
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
)


def test_learnable_encoding_is_a_function_of_position() -> None:
    enc = LearnablePositionalEncoding(16, num_frequencies=8)
    x = torch.zeros(1, 20, 16)
    full = enc(x)
    # Same function at any offset and any length (no table): rows 5.. of a long input = offset 5.
    torch.testing.assert_close(enc(x[:, :10], offset=5), full[:, 5:15])
    # Reference: cos/sin features of the learned frequencies through the MLP, in float64.
    pos = torch.arange(20, dtype=torch.float64)[:, None] * enc.frequencies.double()
    feats = torch.cat((pos.cos(), pos.sin()), -1) / 8**0.5
    want = enc.mlp.double()(feats)
    torch.testing.assert_close(full[0].double(), want, atol=1e-5, rtol=1e-5)
    enc.float()
    full.sum().backward()
    assert enc.frequencies.grad is not None and enc.frequencies.grad.abs().sum() > 0


def test_time_aware_learnable_uses_elapsed_time_from_the_first_bar() -> None:
    enc = LearnablePositionalEncoding(16, time_aware=True, time_unit_seconds=60)
    ts = torch.tensor([[1_620_000_000 + 60 * i for i in (0, 1, 2, 7)]])
    pos = enc.positions(4, ts)
    assert pos.tolist() == [[0.0, 1.0, 2.0, 7.0]]  # exact despite 2021 magnitudes
    shifted = ts + 86_400 * 365  # translation in absolute time: same encoding
    x = torch.randn(1, 4, 16)
    torch.testing.assert_close(enc(x, ts), enc(x, shifted))
    assert torch.equal(enc(x, ts), enc(x, ts * 1000))
    unsorted = ts[:, [2, 0, 3, 1]]
    assert enc.positions(4, unsorted).tolist() == [[0.0, -2.0, 5.0, -1.0]]


def test_learnable_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_frequencies=0"):
        LearnablePositionalEncoding(8, num_frequencies=0)
    with pytest.raises(ValueError, match="time_unit_seconds=0"):
        LearnablePositionalEncoding(8, time_unit_seconds=0)
    with pytest.raises(ValueError, match=r"d_model=8\], got shape \(1, 2, 4\)"):
        LearnablePositionalEncoding(8)(torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="PositionalEncoding of d_model=8"):
        AdaptivePositionalEncoding(8, position=SinusoidalPositionalEncoding(16))


def test_adaptive_is_x_plus_gate_times_inner_encoding() -> None:
    inner = SinusoidalPositionalEncoding(8, max_seq_len=16)
    enc = AdaptivePositionalEncoding(8, position=inner, per_channel=True)
    x = torch.randn(2, 5, 8)
    gate = torch.sigmoid(x @ enc.gate_proj.weight.T + enc.gate_proj.bias)
    torch.testing.assert_close(enc(x), x + gate * inner.pe[:5])
    assert enc.gate(x).shape == (2, 5, 8)
    assert AdaptivePositionalEncoding(8).gate(x).shape == (2, 5, 1)


def _train_gate(position_matters: bool, steps: int = 150) -> float:
    # Content x -> target through a fixed random readout; when position matters the target also holds a
    # positional term. The inner encoding is a frozen random table (pure noise unless the target uses
    # it), so only the gate can switch it off.
    torch.manual_seed(0)
    d, t = 16, 12
    inner = LearnedPositionalEncoding(d, max_seq_len=t, init_std=1.0).requires_grad_(False)
    enc = AdaptivePositionalEncoding(d, position=inner)
    head = nn.Linear(d, 1)
    w_true = torch.randn(d, 1)
    pos_signal = inner.weight @ torch.randn(d, 1)  # (T, 1)
    params = [p for p in enc.parameters() if p.requires_grad]
    opt = torch.optim.Adam([*params, *head.parameters()], lr=3e-2)
    for _ in range(steps):
        x = torch.randn(32, t, d)
        y = x @ w_true + (pos_signal if position_matters else 0.0)
        loss = (head(enc(x)) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(enc.gate(torch.randn(64, t, d)).mean())


def test_the_gate_switches_position_off_where_position_is_noise() -> None:
    off, on = _train_gate(position_matters=False), _train_gate(position_matters=True)
    assert off < 0.1, off  # starts at 0.5
    assert on > 0.5, on


def test_the_gate_decides_per_token_from_the_content() -> None:
    # Channel 0 flags the token kind: position carries signal for flagged tokens and is noise otherwise.
    torch.manual_seed(1)
    d, t = 16, 12
    inner = LearnedPositionalEncoding(d, max_seq_len=t, init_std=1.0).requires_grad_(False)
    enc = AdaptivePositionalEncoding(d, position=inner)
    head = nn.Linear(d, 1)
    w_true, v = torch.randn(d, 1), torch.randn(d, 1)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, t, d)
        flag = torch.rand(n, t, 1) < 0.5
        x[..., :1] = torch.where(flag, 3.0, -3.0)
        return x, flag

    params = [p for p in enc.parameters() if p.requires_grad]
    opt = torch.optim.Adam([*params, *head.parameters()], lr=3e-2)
    for _ in range(200):
        x, flag = batch(32)
        y = x @ w_true + flag * (inner.weight @ v)
        loss = (head(enc(x)) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, flag = batch(64)
        g = enc.gate(x)
    on, off = float(g[flag].mean()), float(g[~flag].mean())
    assert on > 0.5 and off < 0.1, (on, off)


def test_streaming_one_bar_at_a_time_gives_the_full_encoding() -> None:
    # Index positions continue with offset=; time positions with origin= (the stream's first bar).
    ts = torch.tensor([[1_620_000_000 + 60 * i for i in (0, 1, 3, 4, 9)]] * 2)
    x = torch.zeros(2, 5, 16)
    for enc, kwargs in (
        (LearnablePositionalEncoding(16), lambda i: {"offset": i}),
        (
            LearnablePositionalEncoding(16, time_aware=True, time_unit_seconds=60),
            lambda i: {"origin": ts[:, 0]},
        ),
    ):
        full = enc(x, ts)
        steps = torch.cat([enc(x[:, i : i + 1], ts[:, i : i + 1], **kwargs(i)) for i in range(5)], dim=1)
        torch.testing.assert_close(steps, full)
    adaptive = AdaptivePositionalEncoding(16, position=SinusoidalPositionalEncoding(16, max_seq_len=8))
    y = torch.randn(2, 5, 16)
    steps = torch.cat([adaptive(y[:, i : i + 1], offset=i) for i in range(5)], dim=1)
    torch.testing.assert_close(steps, adaptive(y))
