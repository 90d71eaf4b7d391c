"""Feed a streaming predictor one candle at a time and compare with the batch model."""

from __future__ import annotations

import torch

from ml_attention_mechanisms import StreamingPredictor, create_crypto_model


def main() -> None:
    torch.manual_seed(0)
    model = create_crypto_model("signal_generator_small", attention_window=16).eval()
    live = StreamingPredictor(model)
    features = torch.randn(40, model.config.input_features)
    t0 = 1_609_459_200
    for i in range(40):
        out = live.update(t0 + 3600 * i, features[i].numpy())
    with torch.no_grad():
        batch = model(features.unsqueeze(0), timestamps=(t0 + 3600 * torch.arange(40)).unsqueeze(0))
    diff = (out["probabilities"] - batch["probabilities"][0]).abs().max().item()
    print(
        f"signal {int(out['signal'])}, streaming vs batch max diff {diff:.1e}, cache lengths {live.cache_lengths}"
    )


if __name__ == "__main__":
    main()
