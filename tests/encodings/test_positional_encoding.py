"""Sinusoidal, learned, RoPE and ALiBi: formulas, offsets, time-awareness, gaps, bad input."""

from __future__ import annotations

import calendar
import math

import pytest
import torch

from ml_attention_mechanisms.encodings import (
    ALiBi,
    ALiBiEncoding,
    LearnedPositionalEncoding,
    RoPEEncoding,
    RotaryPositionalEncoding,
    SinusoidalPositionalEncoding,
    create_positional_encoding,
)

T2021 = calendar.timegm((2021, 5, 19, 13, 0, 0))  # a real 2021 instant (seconds)


# -- sinusoidal and learned ----------------------------------------------------------------------------
@pytest.mark.parametrize("d_model", [8, 7])
def test_sinusoidal_matches_the_paper_formula(d_model: int) -> None:
    enc = SinusoidalPositionalEncoding(d_model, max_seq_len=50)
    want = torch.zeros(20, d_model, dtype=torch.float64)
    for p in range(20):
        for i in range(d_model):
            angle = (p + 5) / 10000 ** (2 * (i // 2) / d_model)
            want[p, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    x = torch.randn(2, 20, d_model)
    torch.testing.assert_close(enc(x, offset=5), x + want.to(torch.float32))


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEncoding])
def test_absolute_encodings_refuse_lengths_past_max_seq_len(cls: type) -> None:
    enc = cls(8, max_seq_len=10)
    assert enc(torch.zeros(1, 10, 8)).shape == (1, 10, 8)
    with pytest.raises(ValueError, match=r"positions up to 10 .*exceed max_seq_len=10"):
        enc(torch.zeros(1, 11, 8))
    with pytest.raises(ValueError, match=r"offset=3.*max_seq_len=10"):
        enc(torch.zeros(1, 8, 8), offset=3)


def test_learned_adds_its_rows_and_trains() -> None:
    enc = LearnedPositionalEncoding(8, max_seq_len=10)
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(enc(x, offset=2), x + enc.weight[2:6])
    enc(x).sum().backward()
    assert enc.weight.grad is not None and enc.weight.grad[:4].abs().sum() > 0


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEncoding])
def test_absolute_encodings_check_x(cls: type) -> None:
    with pytest.raises(ValueError, match=r"x must be \[batch, seq_len, d_model=8\], got shape \(2, 3, 5\)"):
        cls(8)(torch.zeros(2, 3, 5))
    with pytest.raises(
        ValueError,
        match=r"SinusoidalPositionalEncoding.max_seq_len=0|LearnedPositionalEncoding.max_seq_len=0",
    ):
        cls(8, max_seq_len=0)


# -- RoPE ----------------------------------------------------------------------------------------------
def _rope_reference(x: torch.Tensor, pos: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    # Complex-number form of RoPE (Su et al. eq. 34), GPT-NeoX halves layout, float64.
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    z = torch.complex(x[..., : d // 2].double(), x[..., d // 2 :].double())
    z = z * torch.polar(torch.ones_like(theta), pos.double()[..., None] * theta)
    return torch.cat((z.real, z.imag), dim=-1)


def test_rope_matches_the_complex_form_at_fractional_positions() -> None:
    rope = RotaryPositionalEncoding(8)
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    pos = torch.rand(2, 5, dtype=torch.float64) * 100  # fractional, per batch row
    torch.testing.assert_close(rope.rotate(x, pos), _rope_reference(x, pos[:, None]))


@pytest.mark.parametrize("shift", [0.0, 7.25, 1.6e9 / 3600, 1.6e9 / 60, 1.6e9 / 3600 + 0.37])
def test_rope_score_depends_only_on_the_offset(shift: float) -> None:
    # float32 q, k as in a model; positions include ones near 1.6e9 / bar interval (2021 in bars).
    rope = RotaryPositionalEncoding(16)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    offsets = torch.tensor([0.0, 1.0, 2.5, 100.0, -3.75], dtype=torch.float64)
    base_scores = []
    for off in offsets:
        qp = torch.tensor([10.0], dtype=torch.float64) + off
        base_scores.append(
            (rope.rotate(q, qp) * rope.rotate(k, torch.tensor([10.0], dtype=torch.float64))).sum()
        )
    for off, want in zip(offsets, base_scores):
        kp = torch.tensor([shift], dtype=torch.float64)
        got = (rope.rotate(q, kp + off) * rope.rotate(k, kp)).sum()
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


def test_time_aware_rope_positions_are_elapsed_time_and_see_gaps() -> None:
    ts = torch.tensor([[T2021 + 60 * i for i in range(6)]])
    gap = ts.clone()
    gap[:, 3:] += 3600  # one hour missing after bar 2
    index_rope = RoPEEncoding(16, 2)
    time_rope = RoPEEncoding(16, 2, time_aware=True, time_unit_seconds=60)
    assert torch.equal(index_rope.rotary_positions(6, ts), index_rope.rotary_positions(6, gap))
    pos = time_rope.rotary_positions(6, ts)
    assert pos.dtype == torch.float64 and pos.shape == (1, 6)
    # int64 -> float64 is exact: consecutive minute bars are exactly 1 unit apart even at 2021.
    assert torch.equal(pos.diff(), torch.ones(1, 5, dtype=torch.float64))
    assert torch.equal(
        time_rope.rotary_positions(6, gap).diff()[0, 2], torch.tensor(61.0, dtype=torch.float64)
    )
    assert torch.equal(time_rope.rotary_positions(6, ts * 1000), pos)  # ms give the same positions
    assert torch.equal(index_rope.rotary_positions(3, offset=4), torch.arange(4, 7))


def test_rope_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="head_dim=7"):
        RotaryPositionalEncoding(7)
    rope = RotaryPositionalEncoding(8)
    with pytest.raises(ValueError, match=r"positions must be \[seq_len\].*seq_len=4"):
        rope.rotate(torch.zeros(1, 1, 4, 8), torch.arange(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        rope.rotate(torch.zeros(1, 1, 1, 8), torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="must divide d_model"):
        RoPEEncoding(30, 4)
    with pytest.raises(ValueError, match="NaN"):
        RoPEEncoding(16, 2, time_aware=True).rotary_positions(
            1, torch.tensor([[float("nan")]], dtype=torch.float64)
        )


# -- ALiBi ---------------------------------------------------------------------------------------------
def _paper_slopes(n: int) -> list[float]:
    # Press et al. 2022, §3: for n heads (a power of two) the slopes are 2^(-8/n), 2^(-16/n), ..., 2^(-8);
    # otherwise the 2^floor(log2 n) = m slopes of m heads, then the odd-indexed slopes 2^(-8(2i+1)/(2m))
    # of the 2m-head sequence, for i < n - m.
    m = 1
    while m * 2 <= n:
        m *= 2
    slopes = [2.0 ** (-8.0 * (i + 1) / m) for i in range(m)]
    slopes += [2.0 ** (-8.0 * (2 * i + 1) / (2 * m)) for i in range(n - m)]
    return slopes


@pytest.mark.parametrize("num_heads", [1, 6, 8, 12, 16])
def test_alibi_slopes_are_the_papers(num_heads: int) -> None:
    want = torch.tensor(_paper_slopes(num_heads), dtype=torch.float32)
    torch.testing.assert_close(ALiBi.get_slopes(num_heads), want, rtol=0, atol=0)
    if num_heads == 8:
        torch.testing.assert_close(want, torch.tensor([1 / 2 ** (i + 1) for i in range(8)]))


def test_alibi_index_bias_is_bottom_right_aligned() -> None:
    alibi = ALiBi(4)
    slopes = torch.tensor(_paper_slopes(4))
    bias = alibi.bias(2, 5)
    for i in range(2):
        for j in range(5):
            torch.testing.assert_close(bias[0, :, i, j], -slopes * abs(3 + i - j))


def test_time_aware_alibi_uses_the_signed_int64_difference_of_unsorted_timestamps() -> None:
    # float32 2021 timestamps one minute apart collapse; the int64 difference does not.
    ts = torch.tensor([[T2021 + 120, T2021, T2021 + 60, T2021 + 61]])  # unsorted on purpose
    enc = ALiBiEncoding(8, 2, time_aware=True, time_unit_seconds=60)
    bias = enc.attention_bias(4, 4, ts)
    slopes = torch.tensor(_paper_slopes(2), dtype=torch.float64)
    t = ts[0].tolist()
    want = torch.tensor([[abs(a - b) / 60 for b in t] for a in t], dtype=torch.float64)
    torch.testing.assert_close(bias[0].double(), -slopes[:, None, None] * want)
    assert bias[0, 0, 2, 3] != 0  # one second apart is visible at 2021 magnitudes
    # Cached decoding: queries are the last bar, keys the whole cache.
    last = enc.attention_bias(1, 4, ts[:, 3:], key_timestamps=ts)
    torch.testing.assert_close(last, bias[:, :, 3:])
    with pytest.raises(ValueError, match="key_timestamps"):
        enc.attention_bias(1, 4, ts[:, 3:])


def test_a_gap_changes_time_aware_encodings_and_not_index_based_ones() -> None:
    ts = torch.tensor([[T2021 + 3600 * i for i in range(8)]] * 2)
    gap = ts.clone()
    gap[:, 4:] += 5 * 86400  # five days missing
    x = torch.randn(2, 8, 16)
    for kind in ("sinusoidal", "learned", "alibi", "rope"):
        pe = create_positional_encoding(kind, d_model=16, num_heads=2, max_seq_len=16)
        assert torch.equal(pe(x, ts), pe(x, gap)), kind
        assert torch.equal(pe.rotary_positions(8, ts), pe.rotary_positions(8, gap)), kind
        b1, b2 = pe.attention_bias(8, 8, ts), pe.attention_bias(8, 8, gap)
        assert (b1 is None and b2 is None) or torch.equal(b1, b2), kind
    crypto = create_positional_encoding("crypto", d_model=16, num_heads=2)
    b1, b2 = crypto.attention_bias(8, 8, ts), crypto.attention_bias(8, 8, gap)
    assert torch.equal(b1[..., :4, :4], b2[..., :4, :4])  # within a side of the gap: unchanged
    # Across the gap the penalty grows by slope * 120 hours exactly.
    torch.testing.assert_close(b2[0, :, 5, 2] - b1[0, :, 5, 2], -crypto.alibi.slopes * 120.0)
    assert not torch.equal(crypto(x, ts)[:, 4:], crypto(x, gap)[:, 4:])
    rope_t = create_positional_encoding("rope", d_model=16, num_heads=2, time_aware=True)
    assert not torch.equal(rope_t.rotary_positions(8, ts), rope_t.rotary_positions(8, gap))
