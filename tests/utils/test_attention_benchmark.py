"""benchmark_attention_implementations: statistics, memory probe, reported kernel, the spec's example."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml_attention_mechanisms import (
    AttentionConfig,
    LinearAttention,
    MultiHeadAttention,
    benchmark_attention_implementations,
)
from ml_attention_mechanisms.attention import _dispatch
from ml_attention_mechanisms.utils.attention_utils import explain_dispatch, peak_rss_supported

NUMERIC = ("forward_time_mean_ms", "forward_time_std_ms", "forward_time_min_ms", "forward_time_median_ms")


class _Allocates(nn.Module):
    """Touches ``mib`` MiB of fresh memory in each call (every page written)."""

    def __init__(self, mib: int) -> None:
        super().__init__()
        self.numel = mib * 2**20 // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big = torch.ones(self.numel)
        return x + big[:1]


class _Counts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.grad_enabled: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.grad_enabled.append(torch.is_grad_enabled())
        return x


def test_the_spec_performance_analysis_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    from ml_attention_mechanisms import AttentionAnalyzer, CryptoMultiHeadAttention

    # --- the spec's "Performance Analysis" block, verbatim ---
    # Analyze attention patterns
    analyzer = AttentionAnalyzer()

    # Create test models
    models = {
        "standard": MultiHeadAttention(AttentionConfig(d_model=512, num_heads=8, use_flash_attn=False)),
        "flash": MultiHeadAttention(AttentionConfig(d_model=512, num_heads=8, use_flash_attn=True)),
        "crypto": CryptoMultiHeadAttention(AttentionConfig(d_model=512, num_heads=8)),
    }

    # Benchmark performance
    input_tensor = torch.randn(4, 256, 512)
    results = benchmark_attention_implementations(models, input_tensor, num_runs=10)

    for name, stats in results.items():
        print(f"{name}:")
        print(f"  Forward time: {stats['forward_time_mean_ms']:.2f} ± {stats['forward_time_std_ms']:.2f} ms")
        if "memory_usage_mean_mb" in stats:
            print(f"  Memory usage: {stats['memory_usage_mean_mb']:.1f} MB")
    # --- end of the spec's block ---
    assert analyzer is not None
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if not line.startswith(" ")] == [
        "standard:",
        "flash:",
        "crypto:",
    ]
    assert out.count("Forward time:") == 3
    assert results["standard"]["backend"] == "math"  # use_flash_attn=False
    assert results["flash"]["backend"] == "sdpa"  # CPU float32: flash-attn refused, SDPA chosen


def test_statistics_are_floats_and_consistent() -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=16, num_heads=2))
    stats = benchmark_attention_implementations({"mha": layer}, torch.randn(1, 5, 16), num_runs=4)["mha"]
    for key in NUMERIC:
        assert isinstance(stats[key], float) and stats[key] >= 0.0, key
    assert stats["forward_time_min_ms"] <= stats["forward_time_median_ms"]
    assert stats["forward_time_min_ms"] <= stats["forward_time_mean_ms"]
    assert stats["num_runs"] == 4.0
    if peak_rss_supported():
        assert stats["memory_usage_mean_mb"] >= 0.0
        assert stats["memory_usage_max_mb"] >= stats["memory_usage_mean_mb"]


def test_one_run_has_zero_std() -> None:
    stats = benchmark_attention_implementations({"id": nn.Identity()}, torch.randn(2, 3), num_runs=1)
    assert stats["id"]["forward_time_std_ms"] == 0.0


def test_warmup_runs_and_eval_no_grad() -> None:
    module = _Counts().train()
    benchmark_attention_implementations({"c": module}, torch.randn(2, 3), num_runs=3, warmup_runs=2)
    assert module.calls == 5
    assert module.grad_enabled == [False] * 5
    assert not module.training


def test_cpu_memory_probe_sees_a_known_allocation() -> None:
    if not peak_rss_supported():
        pytest.skip("the peak-RSS counter cannot be reset here (not Linux or /proc/self/clear_refs refused)")
    stats = benchmark_attention_implementations({"alloc": _Allocates(24)}, torch.randn(1), num_runs=3)
    # 24 MiB written by torch.ones in every call: the peak RSS rises by at least that much (page-rounded).
    assert stats["alloc"]["memory_usage_mean_mb"] >= 24.0 * 0.95


def test_reported_backend_is_explain_dispatch_of_the_real_call() -> None:
    config = AttentionConfig(d_model=16, num_heads=4, causal=True)
    layer = MultiHeadAttention(config)
    x = torch.randn(2, 7, 16)
    stats = benchmark_attention_implementations({"causal": layer}, x, num_runs=1)["causal"]
    q, k, v = layer.project_qkv(x, x, x)
    assert stats["dispatch"] == explain_dispatch(q, k, v, is_causal=True)
    assert stats["backend"] == _dispatch.choose_backend(q, k, v, is_causal=True)
    assert _dispatch._recorders == []  # the recorder was closed


def test_module_without_attention_reports_none() -> None:
    stats = benchmark_attention_implementations({"lin": nn.Linear(3, 3)}, torch.randn(2, 3), num_runs=1)
    assert stats["lin"]["backend"] == "none"


def test_recorder_is_removed_when_the_module_raises() -> None:
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        benchmark_attention_implementations({"b": Boom()}, torch.randn(1), num_runs=1)
    assert _dispatch._recorders == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"implementations": {}}, "non-empty dict"),
        ({"implementations": [nn.Identity()]}, "non-empty dict"),
        ({"implementations": {"x": lambda t: t}}, r"implementations\['x'\] must be an nn.Module"),
        ({"implementations": {1: nn.Identity()}}, "keys must be str"),
        ({"input_tensor": [1.0]}, "input_tensor must be a torch.Tensor"),
        ({"num_runs": 0}, "num_runs=0"),
        ({"num_runs": 2.5}, "num_runs=2.5"),
        ({"warmup_runs": -1}, "warmup_runs=-1"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    args = {"implementations": {"id": nn.Identity()}, "input_tensor": torch.randn(2), "num_runs": 1}
    args.update(kwargs)
    warmup = args.pop("warmup_runs", 2)
    with pytest.raises(ValueError, match=match):
        benchmark_attention_implementations(**args, warmup_runs=warmup)


@pytest.mark.gpu
def test_cuda_memory_is_the_allocator_peak() -> None:
    class AllocCuda(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            big = torch.ones(8 * 2**20 // 4, device=x.device)  # 8 MiB
            return x + big[:1]

    x = torch.randn(4, device="cuda")
    stats = benchmark_attention_implementations({"a": AllocCuda()}, x, num_runs=3)["a"]
    assert stats["memory_usage_mean_mb"] >= 8.0
    layer = MultiHeadAttention(AttentionConfig(d_model=64, num_heads=4)).cuda().half()
    stats = benchmark_attention_implementations(
        {"mha": layer}, torch.randn(2, 32, 64, device="cuda").half(), 3
    )
    assert stats["mha"]["memory_usage_mean_mb"] > 0.0


def test_streamed_linear_attention_is_reported_as_linear() -> None:
    layer = LinearAttention(AttentionConfig(d_model=16, num_heads=4), block_rows=4)
    stats = benchmark_attention_implementations({"lin": layer}, torch.randn(1, 10, 16), num_runs=1)["lin"]
    assert stats["backend"] == "linear" and "streamed" in stats["dispatch"]
