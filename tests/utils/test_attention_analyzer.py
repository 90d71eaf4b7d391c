"""AttentionAnalyzer against hand computations on planted weights (plain float64 loops)."""

from __future__ import annotations

import math

import pytest
import torch

from ml_attention_mechanisms import AttentionAnalyzer, AttentionConfig, MultiHeadAttention


def _planted(tq: int = 6, tk: int = 6) -> torch.Tensor:
    """[1, 3, Tq, Tk]: head 0 one-hot two bars back (clamped), head 1 uniform, head 2 causal uniform."""
    w = torch.zeros(1, 3, tq, tk, dtype=torch.float64)
    off = tk - tq
    for i in range(tq):
        w[0, 0, i, max(off + i - 2, 0)] = 1.0
        w[0, 1, i, :] = 1.0 / tk
        w[0, 2, i, : off + i + 1] = 1.0 / (off + i + 1)
    return w


def _hand(w: torch.Tensor, dist: torch.Tensor, threshold: float) -> dict[str, list[float]]:
    """Per head, averaged over valid rows: entropy, distance, sparsity; plain loops."""
    b, h, tq, tk = w.shape
    out: dict[str, list[float]] = {"entropy": [], "distance": [], "sparsity": []}
    for head in range(h):
        ent = dis = spa = 0.0
        rows = 0
        for bb in range(b):
            for i in range(tq):
                row = [float(w[bb, head, i, j]) for j in range(tk)]
                if sum(row) == 0:
                    continue
                rows += 1
                ent += -sum(p * math.log(p) for p in row if p > 0)
                dis += sum(row[j] * float(dist[bb, i, j]) for j in range(tk))
                spa += sum(1 for p in row if p < threshold) / tk
        out["entropy"].append(ent / rows)
        out["distance"].append(dis / rows)
        out["sparsity"].append(spa / rows)
    return out


def _bars(tq: int, tk: int) -> torch.Tensor:
    return torch.tensor([[[abs(i + tk - tq - j) for j in range(tk)] for i in range(tq)]], dtype=torch.float64)


@pytest.mark.parametrize(("tq", "tk"), [(6, 6), (3, 7)])
def test_entropy_distance_sparsity_match_hand_computation(tq: int, tk: int) -> None:
    w = _planted(tq, tk)
    stats = AttentionAnalyzer(sparsity_threshold=0.05).analyze_layer(w)
    ref = _hand(w, _bars(tq, tk), 0.05)
    torch.testing.assert_close(stats.entropy, torch.tensor(ref["entropy"], dtype=torch.float64))
    torch.testing.assert_close(stats.distance_bars, torch.tensor(ref["distance"], dtype=torch.float64))
    torch.testing.assert_close(stats.sparsity, torch.tensor(ref["sparsity"], dtype=torch.float64))
    # The closed forms of the planted heads: a one-hot head has zero entropy, a uniform one log(Tk).
    assert stats.entropy[0].item() == 0.0
    assert stats.entropy[1].item() == pytest.approx(math.log(tk))
    assert stats.distance_seconds is None


def test_distance_in_time_uses_timestamps_with_gaps() -> None:
    w = _planted(5, 5)
    ts = torch.tensor([0, 60, 120, 600, 660], dtype=torch.int64)  # a gap between bars 2 and 3
    stats = AttentionAnalyzer().analyze_layer(w, ts)
    dist = torch.tensor(
        [[[abs(int(ts[i]) - int(ts[j])) for j in range(5)] for i in range(5)]], dtype=torch.float64
    )
    ref = _hand(w, dist, 0.01)
    assert stats.distance_seconds is not None
    torch.testing.assert_close(stats.distance_seconds, torch.tensor(ref["distance"], dtype=torch.float64))


def test_cross_attention_query_timestamps() -> None:
    w = torch.softmax(torch.randn(2, 2, 3, 4, dtype=torch.float64), dim=-1)
    kt = torch.tensor([[0, 10, 20, 30], [0, 5, 10, 15]])
    qt = torch.tensor([[100, 110, 120], [7, 8, 9]])
    got = AttentionAnalyzer().attention_distance(w, kt, query_timestamps=qt)
    dist = (qt[:, :, None] - kt[:, None, :]).abs().double()  # (B, Tq, Tk)
    ref = _hand(w, dist, 0.01)["distance"]
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64))


def test_fully_masked_rows_are_left_out() -> None:
    w = _planted(4, 4)
    masked = torch.cat([w, torch.zeros(1, 3, 4, 4, dtype=torch.float64)], dim=0)  # batch 2: all rows empty
    a = AttentionAnalyzer()
    torch.testing.assert_close(a.attention_entropy(masked), a.attention_entropy(w))
    torch.testing.assert_close(a.attention_distance(masked), a.attention_distance(w))
    torch.testing.assert_close(a.attention_sparsity(masked), a.attention_sparsity(w))


def test_head_redundancy_identical_and_disjoint_heads() -> None:
    w = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    w[0, 0, :, 0] = 1.0
    w[0, 1, :, 0] = 1.0  # identical to head 0
    w[0, 2, :, 3] = 1.0  # disjoint support
    a = AttentionAnalyzer()
    sim = a.head_redundancy(w)
    expected = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(sim, expected)
    torch.testing.assert_close(
        a.analyze_layer(w).head_redundancy, torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    )


def test_head_redundancy_is_cosine_of_flattened_maps() -> None:
    w = torch.softmax(torch.randn(2, 3, 5, 5, dtype=torch.float64), dim=-1)
    sim = AttentionAnalyzer().head_redundancy(w)
    for i in range(3):
        for j in range(3):
            ref = torch.nn.functional.cosine_similarity(w[:, i].reshape(-1), w[:, j].reshape(-1), dim=0)
            assert sim[i, j].item() == pytest.approx(ref.item())


def test_analyze_a_models_weights_dict_and_summary() -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=16, num_heads=4, causal=True))
    _, weights = layer(torch.randn(2, 6, 16), need_weights=True)
    a = AttentionAnalyzer()
    ts = torch.arange(6) * 3600
    stats = a.analyze({"layer0": weights, "skipped": None}, ts)
    assert list(stats) == ["layer0"]
    assert stats["layer0"].num_heads == 4
    torch.testing.assert_close(stats["layer0"].distance_seconds, stats["layer0"].distance_bars * 3600)
    rows = a.summary({"layer0": weights})
    assert [(r["layer"], r["head"]) for r in rows] == [("layer0", h) for h in range(4)]
    assert all(math.isnan(float(r["distance_seconds"])) for r in rows)
    assert rows[1]["entropy"] == pytest.approx(float(stats["layer0"].entropy[1]))


def test_three_d_weights_are_one_batch() -> None:
    w = _planted()
    a = AttentionAnalyzer()
    torch.testing.assert_close(a.attention_entropy(w[0]), a.attention_entropy(w))


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (torch.rand(4, 4), r"\[B, H, Tq, Tk\]"),
        (torch.full((1, 1, 2, 2), -0.5), "negative"),
        (torch.full((1, 1, 2, 2), 0.3), "rows must sum to 1"),
        (torch.full((1, 1, 2, 2), float("nan")), "NaN or Inf"),
        (torch.ones(1, 1, 2, 2, dtype=torch.int64), "floating"),
    ],
)
def test_malformed_weights_are_refused(weights: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AttentionAnalyzer().attention_entropy(weights)


def test_errors_name_the_layer_and_the_timestamps() -> None:
    a = AttentionAnalyzer()
    with pytest.raises(ValueError, match=r"attention_weights\['bad'\]"):
        a.analyze({"bad": torch.full((1, 1, 2, 2), 0.3)})
    with pytest.raises(ValueError, match=r"timestamps must be \[B, 6\] or \[6\]"):
        a.attention_distance(_planted(), torch.arange(5))
    with pytest.raises(ValueError, match="must be a dict"):
        a.analyze([_planted()])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sparsity_threshold"):
        AttentionAnalyzer(sparsity_threshold=1.5)
