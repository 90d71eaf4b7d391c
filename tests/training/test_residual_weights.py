"""Training keeps, per horizon, the residual weight of lowest validation QLIKE in the checkpoint: the variance
forecast never does worse than its anchor (weight 0) on the validation windows."""

from __future__ import annotations

from pathlib import Path

import torch
from tiny_parts import SMALL_MODEL, SMALL_MODEL_CONFIG, write_ohlcv_csv
from torch.utils.data import DataLoader

from ml_attention_mechanisms.models._scale import RESIDUAL_WEIGHTS
from ml_attention_mechanisms.training import load_checkpoint
from ml_attention_mechanisms.training.config import run_config_from_dict
from ml_attention_mechanisms.training.run import prepare_run_data, train


def test_checkpoint_holds_the_validation_choice_of_residual_weights(tmp_path: Path) -> None:
    data = write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", bars=2000, seed=3)
    config = {
        "model": {**SMALL_MODEL_CONFIG, "prediction_horizon": 4},
        "data": {"window": 16},
        "training": {
            "max_epochs": 2,
            "batch_size": 32,
            "enable_progress_bar": False,
            "limit_train_batches": 20,
        },
    }
    result = train(SMALL_MODEL, [str(data)], config=config, out=tmp_path / "run")
    model, _ = load_checkpoint(result.best_checkpoint)
    head = model.volatility_head  # type: ignore[union-attr]
    chosen = head.residual_weight.tolist()
    assert len(chosen) == 4 and set(chosen) <= set(RESIDUAL_WEIGHTS)
    # the validation QLIKE of each candidate, recomputed with the checkpoint's weights: the chosen ones win
    prepared = prepare_run_data(
        SMALL_MODEL, [str(data)], run_config_from_dict(config, where="test"), include_test=False
    )
    head.residual_weight.fill_(1.0)
    sums = torch.zeros(len(RESIDUAL_WEIGHTS), 4, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(prepared.val, batch_size=256):  # type: ignore[arg-type]
            s, _ = model.residual_scores(model(**model.training_inputs(batch)), batch)  # type: ignore[operator]
            sums += s
    best = torch.tensor(RESIDUAL_WEIGHTS, dtype=torch.float64)[sums.argmin(0)]
    assert chosen == best.tolist()
    assert torch.all(sums.min(0).values <= sums[0])  # never worse than the anchor alone (weight 0)
