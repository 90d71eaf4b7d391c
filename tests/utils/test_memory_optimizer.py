"""AttentionMemoryOptimizer: the formulas, the spec's truncation example, the one chunk-size chooser."""

from __future__ import annotations

import math

import pytest
import torch

from ml_attention_mechanisms.attention.self_attention import choose_chunk_size
from ml_attention_mechanisms.utils import _memory
from ml_attention_mechanisms.utils.attention_utils import AttentionMemoryOptimizer

MIB = 2**20


def _score_bytes(dtype: torch.dtype) -> int:
    """Bytes per score as the module states it: 3 accumulators (fp32, fp64 for fp64) + bool + the input."""
    acc = 8 if dtype == torch.float64 else 4
    return 3 * acc + 1 + torch.empty((), dtype=dtype).element_size()


def _expected_steps(batch: int, heads: int, budget_mb: float, seq: int, dtype: torch.dtype) -> int:
    """Largest T with B*H*T*T*s <= budget, rounded down to a multiple of 64 when above 64 and < seq."""
    t = math.isqrt(int(budget_mb * MIB) // (batch * heads * _score_bytes(dtype)))
    t = min(t, seq)
    if 64 < t < seq:
        t -= t % 64
    return t


def test_the_spec_memory_management_example(capsys: pytest.CaptureFixture[str]) -> None:
    # --- the spec's "Memory Management" block, verbatim ---
    # Optimize memory usage
    input_tensor = torch.randn(8, 2048, 512)  # Large sequence

    # Dynamic truncation based on memory constraints
    optimized_input = AttentionMemoryOptimizer.dynamic_sequence_truncation(
        input_tensor, max_memory_mb=1000.0, head_dim=64, num_heads=8
    )

    print(f"Original shape: {input_tensor.shape}")
    print(f"Optimized shape: {optimized_input.shape}")
    # --- end ---
    steps = _expected_steps(8, 8, 1000.0, 2048, torch.float32)
    assert optimized_input.shape == (8, steps, 512)
    assert 8 * 8 * steps * steps * 17 <= 1000 * MIB  # the kept scores fit the budget
    torch.testing.assert_close(optimized_input, input_tensor[:, -steps:])  # the most recent steps
    assert capsys.readouterr().out.splitlines()[1] == f"Optimized shape: torch.Size([8, {steps}, 512])"


@pytest.mark.parametrize("seq", [10, 70, 300, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_truncation_keeps_the_most_recent_steps_that_fit(seq: int, dtype: torch.dtype) -> None:
    x = torch.randn(2, seq, 4).to(dtype)
    budget = 2 * 4 * 200 * 200 * _score_bytes(dtype) / MIB  # exactly 200 steps' scores
    out = AttentionMemoryOptimizer.dynamic_sequence_truncation(x, budget, 2, 4)
    steps = _expected_steps(2, 4, budget, seq, dtype)
    assert out.shape == (2, steps, 4)
    assert torch.equal(out, x[:, seq - steps :])
    if steps == seq:
        assert out is x  # nothing to cut: the same tensor


def test_two_d_input_is_one_batch() -> None:
    x = torch.randn(500, 3)
    out = AttentionMemoryOptimizer.dynamic_sequence_truncation(x, 1.0, 8, 2)
    assert out.shape == (_expected_steps(1, 2, 1.0, 500, torch.float32), 3)


def test_truncation_uses_the_chunked_backends_chooser(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []

    def spy(*args: object, **kwargs: object) -> int:
        calls.append((args, kwargs))
        return choose_chunk_size(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_memory, "choose_chunk_size", spy)
    AttentionMemoryOptimizer.dynamic_sequence_truncation(torch.randn(1, 512, 8), 1.0, 4, 2)
    assert calls == [((512, 512), {"batch": 1, "num_heads": 2, "dtype": torch.float32, "max_memory_mb": 1.0})]
    assert _memory.choose_chunk_size is spy and choose_chunk_size.__module__.endswith("_chunking")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((torch.randn(4), 10.0, 8, 2), "x must be a tensor"),
        ((torch.randn(1, 0, 4), 10.0, 8, 2), "seq_len >= 1"),
        ((torch.randn(1, 4, 4), 0.0, 8, 2), "max_memory_mb=0.0"),
        ((torch.randn(1, 4, 4), float("nan"), 8, 2), "max_memory_mb=nan"),
        ((torch.randn(1, 4, 4), 10.0, 0, 2), "head_dim=0"),
        ((torch.randn(1, 4, 4), 10.0, 8, -1), "num_heads=-1"),
        ((torch.randn(4096, 4, 4), 1e-3, 8, 64), "at least"),
    ],
)
def test_bad_truncation_arguments(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AttentionMemoryOptimizer.dynamic_sequence_truncation(*args)


def test_estimates_follow_the_stated_formulas() -> None:
    b, h, hkv, tq, tk, d = 2, 8, 2, 100, 300, 16
    est = {
        name: AttentionMemoryOptimizer.estimate_attention_memory(
            batch=b,
            num_heads=h,
            num_kv_heads=hkv,
            q_len=tq,
            k_len=tk,
            head_dim=d,
            backend=name,
            dense_mask=True,
        )
        for name in ("math", "sdpa", "flash_attn", "chunked")
    }
    io = 4 * (2 * b * h * tq * d + 2 * b * hkv * tk * d)
    expand = 2 * b * h * tk * d * 4
    mask = b * h * tq * tk
    assert est["math"].io_mb == pytest.approx((io + expand) / MIB)
    assert est["math"].scores_mb == pytest.approx(b * h * tq * tk * 17 / MIB)
    assert est["math"].mask_mb == pytest.approx(mask / MIB)
    assert est["sdpa"].io_mb == pytest.approx(io / MIB)
    assert est["sdpa"].scores_mb == pytest.approx(b * h * tq * 4 / MIB)
    c = choose_chunk_size(tq, tk, batch=b, num_heads=h, dtype=torch.float32, max_memory_mb=256.0)
    assert est["chunked"].chunk_size == c
    cq, ck = min(c, tq), min(c, tk)
    assert est["chunked"].scores_mb == pytest.approx((b * h * cq * ck * 17 + b * h * cq * (d + 2) * 4) / MIB)
    for e in est.values():
        assert e.total_mb == pytest.approx(e.io_mb + e.scores_mb + e.mask_mb)


def test_chunked_estimate_stays_bounded_where_math_grows() -> None:
    def total(backend: str, t: int) -> float:
        return AttentionMemoryOptimizer.estimate_attention_memory(
            batch=1, num_heads=4, q_len=t, k_len=t, head_dim=16, backend=backend, max_memory_mb=4.0
        ).scores_mb

    assert total("math", 8192) == pytest.approx(16 * total("math", 2048))
    assert total("chunked", 8192) <= 4.0 + 1.0  # the tile budget plus one block's accumulators


def test_compare_backends_and_errors() -> None:
    table = AttentionMemoryOptimizer.compare_backends(batch=1, num_heads=2, q_len=8, k_len=8, head_dim=4)
    assert list(table) == ["math", "sdpa", "flash_attn", "chunked"]
    with pytest.raises(ValueError, match="backend='nope'"):
        AttentionMemoryOptimizer.estimate_attention_memory(
            batch=1, num_heads=2, q_len=8, k_len=8, head_dim=4, backend="nope"
        )
    with pytest.raises(ValueError, match="num_kv_heads=3: must divide num_heads=2"):
        AttentionMemoryOptimizer.estimate_attention_memory(
            batch=1, num_heads=2, q_len=8, k_len=8, head_dim=4, num_kv_heads=3
        )


def test_max_sequence_length() -> None:
    got = AttentionMemoryOptimizer.max_sequence_length(
        batch=8, num_heads=8, dtype=torch.float32, max_memory_mb=1000.0
    )
    assert got == _expected_steps(8, 8, 1000.0, 10**9, torch.float32)
    assert (
        AttentionMemoryOptimizer.max_sequence_length(
            batch=64, num_heads=64, dtype=torch.float32, max_memory_mb=1e-3
        )
        == 0
    )
