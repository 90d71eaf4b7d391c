"""CryptoSignalGeneratorModel: outputs, loss weights, temperature scaling, reliability, no look-ahead."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _model_helpers import TINY, hourly_timestamps, single_asset_batch

from ml_attention_mechanisms import CryptoPredictionModelConfig, CryptoSignalGeneratorModel


def tiny(**kw: object) -> CryptoSignalGeneratorModel:
    return CryptoSignalGeneratorModel(CryptoPredictionModelConfig(**{**TINY, **kw})).eval()  # type: ignore[arg-type]


def test_outputs() -> None:
    out = tiny()(torch.randn(5, 9, 6), hourly_timestamps(5, 9))
    assert out["logits"].shape == out["probabilities"].shape == (5, 3)
    torch.testing.assert_close(out["probabilities"].sum(-1), torch.ones(5))
    torch.testing.assert_close(out["probabilities"], torch.softmax(out["logits"], -1))
    assert set(out["signal"].tolist()) <= {-1, 0, 1}
    assert torch.equal(out["signal"], out["probabilities"].argmax(-1) - 1)
    torch.testing.assert_close(out["confidence"], out["probabilities"].max(-1).values)


def test_loss_unweighted_and_configured_weights() -> None:
    model = tiny()
    batch = single_asset_batch(model)
    labels = torch.tensor([0, 1, 1])
    batch["targets"]["signal"] = labels
    out = model(**model.training_inputs(batch))
    loss, parts = model.loss(out, batch)
    torch.testing.assert_close(loss, F.cross_entropy(out["logits"], labels))  # None: weights 1, 1, 1
    model2 = tiny(class_weights=[1.0, 0.2, 3.0])
    out2 = model2(**model2.training_inputs(batch))
    # fixed weights: the plain mean of w_y * CE_i (no division by the batch's weight sum)
    ref2 = torch.tensor([1.0, 0.2, 3.0])[labels] * F.cross_entropy(out2["logits"], labels, reduction="none")
    torch.testing.assert_close(model2.loss(out2, batch)[0], ref2.mean())
    assert 0.0 <= parts["accuracy"] <= 1.0


def test_loss_statistics_are_balanced_weights_of_the_split() -> None:
    labels = torch.tensor([0, 1, 1, 1, 2, 2])
    stats = tiny().loss_statistics({"signal": labels, "returns": torch.zeros(6, 2)})
    assert stats == {"class_weights": pytest.approx((6 / 3, 6 / 9, 6 / 6))}
    absent = tiny().loss_statistics({"signal": torch.tensor([0, 0, 1])})  # no buy label: weight 1
    assert absent["class_weights"] == pytest.approx((3 / 6, 3 / 3, 1.0))
    tiny(**absent)  # valid config values


def test_calibrate_temperature_matches_grid_search() -> None:
    model = tiny()
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (400,), generator=gen)
    # Over-confident logits: correct class favoured but scaled up 4x.
    logits = 4.0 * (torch.randn(400, 3, generator=gen) + 1.5 * F.one_hot(labels, 3))
    t = model.calibrate_temperature(logits, labels)
    grid = torch.linspace(0.5, 10.0, 2000, dtype=torch.float64)
    nll = torch.stack([F.cross_entropy(logits.double() / g, labels) for g in grid])
    best = float(grid[nll.argmin()])
    assert t == pytest.approx(best, rel=0.01)
    assert float(model.temperature) == pytest.approx(t)
    # The stored temperature divides later logits; calibration improves the ECE.
    before = model.reliability(torch.softmax(logits, -1), labels)["ece"]
    after = model.reliability(torch.softmax(logits / t, -1), labels)["ece"]
    assert after < before
    assert "temperature" in model.state_dict()
    with pytest.raises(ValueError, match="labels"):
        model.calibrate_temperature(logits, labels[:10])


def test_reliability_table_counts() -> None:
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.4, 0.35, 0.25]])
    labels = torch.tensor([0, 0, 2, 0])
    rep = CryptoSignalGeneratorModel.reliability(probs, labels, num_bins=10)
    assert sum(b["count"] for b in rep["bins"]) == 4
    # ECE by hand: bins 0.9 (acc 1), 0.7 (acc 0), 0.8 (acc 1), 0.4 (acc 1)
    ece = (abs(0.9 - 1) + abs(0.7 - 0) + abs(0.8 - 1) + abs(0.4 - 1)) / 4
    assert rep["ece"] == pytest.approx(ece)


def test_no_look_ahead() -> None:
    model = tiny(num_encoder_layers=2, attention_window=4)
    x = torch.randn(2, 12, 6)
    ts = hourly_timestamps(2, 12)
    x2 = x.clone()
    x2[:, 7:] = 50.0
    with torch.no_grad():
        h1, _ = model.encode(x, ts)
        h2, _ = model.encode(x2, ts)
    assert torch.equal(h1[:, :7], h2[:, :7])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="input_features"):
        tiny()(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="asset_ids"):
        tiny()(torch.randn(2, 5, 6), asset_ids=torch.tensor([1, 99]))
    with pytest.raises(ValueError, match="NaN"):
        tiny()(torch.full((2, 5, 6), float("inf")))
