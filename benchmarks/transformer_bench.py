"""Forward and forward+backward time of the TradingTransformer: tiny, default and Quick Start configs (CPU).

Reports the parameter count and the best wall time over a few runs (the least noisy under load). Not a test: nothing is asserted.

Usage: ``python benchmarks/transformer_bench.py [--quick]``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch

from ml_attention_mechanisms import TradingTransformer, TradingTransformerConfig

QUICK_START: dict[str, Any] = dict(
    input_features=100,
    d_model=512,
    num_heads=8,
    num_encoder_layers=6,
    use_multi_timeframe=True,
    use_market_regime_detection=True,
    use_risk_management=True,
    use_temporal_attention=True,
    use_cross_modal_attention=True,
)
CASES: list[tuple[str, dict[str, Any], int, int]] = [  # (name, config, batch, bars)
    ("tiny (d32, 2 layers)", dict(d_model=32, num_heads=4, num_encoder_layers=2, input_features=8), 8, 64),
    ("default config", {}, 4, 256),
    ("quick start (all features)", QUICK_START, 4, 256),
]


def _time(fn: Any, runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples) * 1000.0  # best of N: the machine is shared, the minimum is the least noisy


def _measure(
    model: TradingTransformer, x: torch.Tensor, kw: dict[str, Any], runs: int
) -> tuple[float, float]:
    """Best forward (eval, no grad) and forward+backward (train) times in ms."""

    def forward() -> None:
        with torch.no_grad():
            model.eval()(x, **kw)

    def forward_backward() -> None:
        model.train()
        out = model(x, **kw)
        model.zero_grad(set_to_none=True)
        out["predictions"].sum().backward()

    return _time(forward, runs), _time(forward_backward, runs)


def main(argv: list[str]) -> int:
    runs = 3 if "--quick" in argv else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {runs} runs")
    print(f"{'config':<28} {'params':>12} {'B x T':>9} {'forward ms':>11} {'fwd+bwd ms':>11}")
    for name, overrides, batch, bars in CASES:
        torch.manual_seed(0)
        cfg = TradingTransformerConfig(**overrides)
        model = TradingTransformer(cfg)
        x = torch.randn(batch, bars, cfg.input_features)
        ts = torch.arange(1640995200, 1640995200 + bars * 60, 60).repeat(batch, 1)
        kw: dict[str, Any] = {"timestamps": ts}
        if cfg.use_cross_modal_attention:
            kw["modality_data"] = {m: torch.randn(batch, bars, cfg.d_model) for m in cfg.modalities}

        fwd, both = _measure(model, x, kw, runs)
        print(f"{name:<28} {model.num_parameters():>12,} {f'{batch}x{bars}':>9} {fwd:>11.1f} {both:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
