"""Attention on its fused and exact paths, and a price model's forecasts."""

from __future__ import annotations

import torch

from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention, create_crypto_model, explain_dispatch


def main() -> None:
    torch.manual_seed(0)
    attn = MultiHeadAttention(AttentionConfig(d_model=64, num_heads=4, causal=True)).eval()
    x = torch.randn(2, 32, 64)
    with torch.no_grad():
        fused = attn(x)
        exact, weights = attn(x, need_weights=True)
    q, k, v = attn.project_qkv(x, x, x)
    print(explain_dispatch(q, k, v, is_causal=True))
    print(f"fused vs exact: {(fused - exact).abs().max().item():.1e}; weights {tuple(weights.shape)}")

    model = create_crypto_model("price_predictor_small").eval()
    bars = torch.randn(1, 96, model.config.input_features)
    timestamps = 1_609_459_200 + 3600 * torch.arange(96).unsqueeze(0)  # hourly bars from 2021-01-01
    with torch.no_grad():
        out = model(bars, timestamps=timestamps)
    for name, value in out.items():
        if isinstance(value, torch.Tensor):
            print(f"{name}: {tuple(value.shape)}")


if __name__ == "__main__":
    main()
