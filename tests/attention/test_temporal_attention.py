"""TemporalAttention: dense float64 reference, no look-ahead, cyclical keys, masks, bounded score tiles."""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms import TemporalAttention, TemporalAttentionConfig
from ml_attention_mechanisms.attention.multi_head_attention import MultiHeadAttention

D, H = 32, 4
T0 = 1640995200


def _small(**kw: object) -> TemporalAttention:
    base: dict[str, object] = dict(
        d_model=D,
        num_heads=H,
        timeframe_windows=(1, 3, 7),
        keys_per_timeframe=4,
        chunk_size=16,
        cycle_periods_seconds=(600,),
        cycles_back=3,
    )
    base.update(kw)
    return TemporalAttention(TemporalAttentionConfig(**base))  # type: ignore[arg-type]


def _minutes(b: int, t: int) -> torch.Tensor:
    return (T0 + 60 * torch.arange(t)).repeat(b, 1)


def _dense_reference(
    m: TemporalAttention, x: torch.Tensor, ts: torch.Tensor, present: torch.Tensor
) -> torch.Tensor:
    """The module's maths written densely in float64: one explicit [T, keys] softmax per branch."""
    cfg = m.config
    b, t, d = x.shape
    hd = d // cfg.num_heads

    def attn(
        mod: MultiHeadAttention,
        q_in: torch.Tensor,
        kv: torch.Tensor,
        allowed: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        w, bb = mod.in_proj.weight, mod.in_proj.bias
        q = (q_in @ w[:d].T + bb[:d]).view(b, -1, cfg.num_heads, hd).transpose(1, 2)
        k = (kv @ w[d : 2 * d].T + bb[d : 2 * d]).view(b, -1, cfg.num_heads, hd).transpose(1, 2)
        v = (kv @ w[2 * d :].T + bb[2 * d :]).view(b, -1, cfg.num_heads, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / hd**0.5  # (B, H, T, keys)
        if bias is not None:
            s = s + bias
        s = s.masked_fill(~allowed[:, None], float("-inf"))
        p = torch.softmax(s, -1).nan_to_num(0.0)
        out = (p @ v).transpose(1, 2).reshape(b, -1, d)
        return mod.out_proj(out)

    branches = []
    for mod, w in zip(m.timeframe_attn, m.windows):
        nb = -(-t // w)
        pooled = torch.zeros(b, nb, d, dtype=x.dtype)
        ok = torch.zeros(b, nb, dtype=torch.bool)
        for bi in range(b):
            for j in range(nb):
                rows = [x[bi, s] for s in range(j * w, min(t, (j + 1) * w)) if present[bi, s]]
                if rows:
                    pooled[bi, j], ok[bi, j] = torch.stack(rows).mean(0), True
        allowed = torch.zeros(b, t, nb, dtype=torch.bool)
        for ti in range(t):
            done = (ti + 1) // w
            for j in range(max(0, done - cfg.keys_per_timeframe), done):
                allowed[:, ti, j] = ok[:, j]
        branches.append(attn(mod, x, pooled, allowed, None))  # type: ignore[arg-type]
    if m.cyclical_attn is not None:
        lags = [0] + [n * p for p in cfg.cycle_periods_seconds for n in range(1, cfg.cycles_back + 1)]
        allowed = torch.zeros(b, t, t, dtype=torch.bool)
        bias = torch.full((b, cfg.num_heads, t, t), 0.0, dtype=x.dtype)
        for bi in range(b):
            for ti in range(t):
                for li, lag in enumerate(lags):
                    hits = (ts[bi] == ts[bi, ti] - lag).nonzero()
                    if len(hits) and present[bi, hits[0, 0]]:
                        allowed[bi, ti, hits[0, 0]] = True
                        bias[bi, :, ti, hits[0, 0]] = m.lag_bias[:, li]
        xc = m.market_time(x, ts)  # the branch's input carries the market-time encoding
        branches.append(attn(m.cyclical_attn, xc, xc, allowed, bias))
    gate = torch.softmax(m.gate(x), -1)
    return sum(br * gate[..., i : i + 1] for i, br in enumerate(branches))  # type: ignore[return-value]


def test_spec_example_runs() -> None:
    config = TemporalAttentionConfig(
        d_model=256,
        num_heads=8,
        use_multi_timeframe=True,
        use_cyclical_attention=True,
        timeframe_windows=[1, 5, 15, 60, 240],  # type: ignore[arg-type]
    )
    regime_detector = TemporalAttention(config)
    x = torch.randn(4, 1440, 256)
    timestamps = torch.arange(1640995200, 1640995200 + 1440 * 60, 60).repeat(4, 1)
    with torch.no_grad():
        regime_features = regime_detector(x, timestamps=timestamps)
    assert regime_features.shape == (4, 1440, 256)
    assert torch.isfinite(regime_features).all()


def test_matches_dense_float64_reference() -> None:
    m = _small().double().eval()
    with torch.no_grad():
        m.lag_bias.normal_()
    x = torch.randn(2, 40, D, dtype=torch.float64)
    ts = _minutes(2, 40)
    present = torch.rand(2, 40) > 0.2
    got = m(x, ts, key_mask=present)
    torch.testing.assert_close(got, _dense_reference(m, x, ts, present))


def test_chunk_size_does_not_change_the_result() -> None:
    a = _small(chunk_size=7).double()
    b = _small(chunk_size=512).double()
    b.load_state_dict(a.state_dict())
    x, ts = torch.randn(2, 50, D, dtype=torch.float64), _minutes(2, 50)
    torch.testing.assert_close(a(x, ts), b(x, ts))


@pytest.mark.parametrize("t", [1, 17, 49])
def test_no_look_ahead(t: int) -> None:
    m = _small().eval()
    x, ts = torch.randn(2, 50, D), _minutes(2, 50)
    y = m(x, ts)
    x2 = x.clone()
    x2[:, t + 1 :] = torch.randn_like(x2[:, t + 1 :]) * 10
    y2 = m(x2, ts)
    assert torch.equal(y[:, : t + 1], y2[:, : t + 1])  # bit for bit
    if t + 1 < 50:
        assert not torch.equal(y[:, t + 1 :], y2[:, t + 1 :])


def test_non_causal_mode_reads_the_future() -> None:
    m = _small(causal=False).eval()
    x, ts = torch.randn(1, 30, D), _minutes(1, 30)
    x2 = x.clone()
    x2[:, 20:] += 1.0
    assert not torch.equal(m(x, ts)[:, :10], m(x2, ts)[:, :10])


def test_cyclical_keys_are_the_same_phase_of_earlier_cycles() -> None:
    # Window 1 with one key (the bar itself) + a cycle of 5 bars: bar t sees t, t-5, t-10, t-15 only.
    m = _small(
        use_multi_timeframe=False, keys_per_timeframe=1, cycle_periods_seconds=(300,), cycles_back=3
    ).eval()
    x, ts = torch.randn(1, 30, D), _minutes(1, 30)
    base = m(x, ts)[0, 25]
    for s, expect_change in [
        (20, True),
        (15, True),
        (10, True),
        (5, False),
        (24, False),
        (21, False),
        (19, False),
    ]:
        x2 = x.clone()
        x2[0, s] += 3.0
        changed = not torch.equal(m(x2, ts)[0, 25], base)
        assert changed == expect_change, s


def test_cyclical_lookup_uses_timestamps_not_indices() -> None:
    # A missing minute (gap) shifts indices: the same-phase bar is found by its timestamp.
    m = _small(
        use_multi_timeframe=False, keys_per_timeframe=1, cycle_periods_seconds=(300,), cycles_back=1
    ).eval()
    ts = _minutes(1, 21)
    ts[0, 10:] += 60  # bar 10 onwards one minute later: bar 15 (t0+16 min) matches bar 10 (t0+11 min)...
    x = torch.randn(1, 21, D)
    x2 = x.clone()
    x2[0, 11] += 3.0  # ...and not bar 11
    assert torch.equal(m(x, ts)[0, 15], m(x2, ts)[0, 15])
    x3 = x.clone()
    x3[0, 10] += 3.0
    assert not torch.equal(m(x, ts)[0, 15], m(x3, ts)[0, 15])


def test_options_have_effects() -> None:
    torch.manual_seed(0)
    full = _small()
    assert len(full.timeframe_attn) == 3 and full.cyclical_attn is not None
    assert len(_small(use_multi_timeframe=False).timeframe_attn) == 1
    assert _small(use_cyclical_attention=False).cyclical_attn is None
    x = torch.randn(1, 40, D)
    ts = _minutes(1, 40)
    a = _small(keys_per_timeframe=2)
    b = _small(keys_per_timeframe=8)
    b.load_state_dict(a.state_dict())
    assert not torch.allclose(a(x, ts), b(x, ts))
    c = _small(cycle_tolerance_seconds=0, cycles_back=1)
    d = _small(cycle_tolerance_seconds=120, cycles_back=1)
    d.load_state_dict(c.state_dict())
    ts_gap = ts.clone()
    ts_gap[0, 5:] += 30  # bars off the exact 10-minute phase: only the tolerant one matches
    assert not torch.allclose(c(x, ts_gap), d(x, ts_gap))
    # No timestamps: bars spaced by bar_seconds from the epoch.
    e = _small(bar_seconds=60)
    torch.testing.assert_close(e(x), e(x, 60 * torch.arange(40).unsqueeze(0)))
    ms = ts * 1000  # milliseconds are detected
    torch.testing.assert_close(e(x, ms), e(x, ts))


def test_missing_bars_have_no_effect() -> None:
    m = _small().eval()
    x, ts = torch.randn(2, 40, D), _minutes(2, 40)
    present = torch.rand(2, 40) > 0.3
    x2 = torch.where(present.unsqueeze(-1), x, torch.randn_like(x) * 100)
    torch.testing.assert_close(m(x, ts, key_mask=present)[present], m(x2, ts, key_mask=present)[present])


def test_long_sequence_never_builds_a_full_score_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    original = MultiHeadAttention.attend_heads

    def spy(self: MultiHeadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: object):  # type: ignore[no-untyped-def]
        seen.append((q.shape[0] * q.shape[-2], k.shape[-2]))
        return original(self, q, k, v, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(MultiHeadAttention, "attend_heads", spy)
    t = 3000
    cfg = TemporalAttentionConfig(d_model=16, num_heads=2, chunk_size=256)
    with torch.no_grad():
        y = TemporalAttention(cfg)(torch.randn(1, t, 16), timestamps=_minutes(1, t))
    assert y.shape == (1, t, 16)
    assert max(q * k for q, k in seen) <= 256 * (256 + cfg.keys_per_timeframe)  # a tile, not T x T


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_heads", 5),
        ("timeframe_windows", (1, 1)),
        ("timeframe_windows", (0, 5)),
        ("keys_per_timeframe", 0),
        ("cycle_periods_seconds", ()),
        ("cycle_tolerance_seconds", -1),
        ("chunk_size", 0),
        ("dropout", -0.5),
    ],
)
def test_bad_config_names_field(field: str, value: object) -> None:
    with pytest.raises(
        ValueError, match=field if field not in ("num_heads", "dropout") else "Config." + field
    ):
        TemporalAttentionConfig(d_model=D, **{field: value})  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    m = _small()
    with pytest.raises(ValueError, match="x must be"):
        m(torch.randn(1, 5, D + 1))
    with pytest.raises(ValueError, match="timestamps"):
        m(torch.randn(1, 5, D), torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="key_mask"):
        m(torch.randn(1, 5, D), key_mask=torch.ones(1, 5))


def test_dropout_and_flash_switch_have_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_attention_mechanisms.attention.multi_head_attention as mha

    x, ts = torch.randn(1, 20, D), _minutes(1, 20)
    torch.manual_seed(0)
    a = _small().train()
    torch.manual_seed(0)
    b = _small(dropout=0.5).train()
    assert not torch.equal(a(x, ts), b(x, ts))
    seen: list[bool] = []
    original = mha.attend

    def spy(*args: object, **kw: object) -> object:
        seen.append(bool(kw["allow_fused"]))
        return original(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(mha, "attend", spy)
    _small(use_flash_attn=False)(x, ts)
    assert seen and not any(seen)
