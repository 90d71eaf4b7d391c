"""``--full`` with an ensemble price model: each ablation variant is one price model, so the reference row
is the ensemble's first member alone (the kept training), not the ensemble."""

from __future__ import annotations

from pathlib import Path

from ml_attention_mechanisms.recipes import DemoConfig, run_demo


def test_ablations_compare_one_price_model_with_one(tmp_path: Path) -> None:
    cfg = DemoConfig.quick(full=True, ensemble=2, models=("price_predictor_small",))
    m = run_demo(cfg, tmp_path / "run", progress=False).metrics
    assert [e["seed"] for e in m["training"]["price_predictor_small"]["ensemble"]] == [0, 1]
    rows = {r["ablation"]: r for r in m["ablations"]["rows"] if r["asset"] == "BTC"}
    reference = rows.pop(
        "market-time encoding, crypto attention (demo model: the first member of its ensemble)"
    )
    assert set(rows) == {"no market-time encoding", "standard attention (index ALiBi, no market time)"}
    # scored as the variants are (calibrated on validation, test rows), from the first member alone: its
    # interval is not the ensemble's (a few steps of training leave both variance forecasts at the anchor)
    assert reference["width90"] != m["assets"]["BTC"]["interval90"]["model"]["width"]
    assert 0.0 < reference["qlike"] < 10.0 and 0.5 < reference["coverage90"] <= 1.0
