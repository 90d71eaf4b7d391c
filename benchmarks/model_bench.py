"""The crypto models' measured table (issue 6), in place of the spec's unmeasured one.

``python benchmarks/model_bench.py`` (``--quick``: small presets only, fewer steps; ``--json PATH`` also
writes the figures). CPU, float32, 2 threads. For each model:

- parameters (trainable);
- training time per epoch on the bundled data: the default split's training period (up to 2020-06-30 23:00),
  every window of 64 bars (single-asset models: every asset and bar with targets; the portfolio: every bar,
  all five assets), batch 64, Adam; the median (and the fastest) of a few timed steps after one warm-up,
  times the number of batches in the epoch;
- batch-1 inference: median (and fastest) of 20 forwards of one 128-bar window (eval mode, no grad);
- memory: peak RSS increase of one training step (batch 64), in a fresh process.

The data: ``load_dataset("binance-1h")`` with ``prepare_panel`` defaults (17 features, horizons 1, 4, 24);
the models get ``input_features = 17`` and ``prediction_horizon = 3`` (one per horizon).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Case, format_table, load_note, peak_rss_in_subprocess, run_peak_case, time_interleaved

from ml_attention_mechanisms import create_crypto_model
from ml_attention_mechanisms.data import (
    DEFAULT_SPLIT,
    MultiAssetWindows,
    SingleAssetWindows,
    load_dataset,
    prepare_panel,
)
from ml_attention_mechanisms.models import get_model_entry

THREADS, SEQ_LEN, BATCH, INFER_LEN = 2, 64, 64, 128
SMALL = [
    "price_predictor_small",
    "signal_generator_small",
    "risk_assessor_small",
    "portfolio_optimizer_small",
]
DEFAULT = ["price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer"]


def _data() -> dict[str, Any]:
    panel = load_dataset("binance-1h")
    end = int(
        np.searchsorted(
            panel.timestamps,
            int(np.datetime64(DEFAULT_SPLIT["train"][1], "s").astype(np.int64)),
            side="right",
        )
    )
    prep = prepare_panel(panel, fit_end=end - 1)
    train = np.arange(end - prep.max_horizon)
    return {
        "features": prep.num_features,
        "single": SingleAssetWindows(prep, SEQ_LEN, positions=train),
        "multi": MultiAssetWindows(prep, SEQ_LEN, positions=train),
        "assets": len(prep.symbols),
    }


def _model(name: str, features: int) -> torch.nn.Module:
    kind = get_model_entry(name).output_kind
    extra: dict[str, Any] = {"input_features": features}
    if kind in ("price", "risk"):
        extra["prediction_horizon"] = 3
    return create_crypto_model(name, **extra)


def _batches(name: str, data: dict[str, Any]) -> tuple[DataLoader[Any], int]:
    ds = data["multi"] if get_model_entry(name).data_kind == "multi_asset" else data["single"]
    loader = DataLoader(
        ds, batch_size=BATCH, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0)
    )
    return loader, math.ceil(len(ds) / BATCH)


def _train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: dict[str, Any]) -> None:
    loss, _ = model.loss(model(**model.training_inputs(batch)), batch)  # type: ignore[operator]
    opt.zero_grad()
    loss.backward()
    opt.step()


def _epoch_seconds(name: str, data: dict[str, Any], steps: int) -> tuple[int, float, float]:
    """``(batches per epoch, median step s, fastest step s)`` over ``steps`` timed steps after a warm-up."""
    model = _model(name, data["features"]).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader, per_epoch = _batches(name, data)
    it = iter(loader)
    _train_step(model, opt, next(it))  # warm-up
    times = []
    for _ in range(steps):
        batch = next(it)
        t0 = time.perf_counter()
        _train_step(model, opt, batch)
        times.append(time.perf_counter() - t0)
    return per_epoch, statistics.median(times), min(times)


def _inference_input(name: str, data: dict[str, Any]) -> dict[str, Any]:
    f = data["features"]
    ts = (1_609_459_200 + 3600 * torch.arange(INFER_LEN)).unsqueeze(0)
    if get_model_entry(name).data_kind == "multi_asset":
        a = data["assets"]
        return {
            "asset_features": torch.randn(1, INFER_LEN, a, f),
            "volume_data": torch.rand(1, INFER_LEN, a),
            "timestamps": ts,
        }
    return {"price_data": torch.randn(1, INFER_LEN, f), "timestamps": ts, "asset_ids": torch.tensor([1])}


def _peak_case(name: str) -> dict[str, float]:
    torch.set_num_threads(THREADS)
    data = _data()
    model = _model(name, data["features"]).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader, _ = _batches(name, data)
    batch = next(iter(loader))
    return run_peak_case(Case(fn=lambda: _train_step(model, opt, batch)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small presets only, 3 measured steps")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--peak", default=None, help=argparse.SUPPRESS)  # internal: one peak-memory case
    args = parser.parse_args(argv)
    if args.peak:
        print(json.dumps(_peak_case(args.peak)))
        return 0
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    data = _data()
    names = SMALL if args.quick else SMALL + DEFAULT
    rows, figures = [], {}
    for name in names:
        small = name.endswith("_small")
        steps = 3 if args.quick or not small else 10
        per_epoch, step_s, step_min = _epoch_seconds(name, data, steps)
        model = _model(name, data["features"]).eval()
        inputs = _inference_input(name, data)

        def infer(model: torch.nn.Module = model, inputs: dict[str, Any] = inputs) -> None:
            with torch.no_grad():
                model(**inputs)

        timing = time_interleaved({name: Case(fn=infer)}, runs=20, warmup=3)[name]
        peak = peak_rss_in_subprocess(__file__, name)
        params = model.num_parameters()  # type: ignore[operator]
        figures[name] = {
            "parameters": params,
            "batches_per_epoch": per_epoch,
            "step_seconds_median": step_s,
            "step_seconds_min": step_min,
            "epoch_seconds_median": step_s * per_epoch,
            "epoch_seconds_min": step_min * per_epoch,
            "inference_ms_median": timing.median_ms,
            "inference_ms_min": timing.min_ms,
            "train_step_peak_mb": peak,
        }
        rows.append(
            [
                name,
                f"{params / 1e6:.2f}M",
                f"{step_s * per_epoch / 60:.0f} min ({step_min * per_epoch / 60:.0f})",
                f"{per_epoch} x {step_s * 1e3:.0f} ms ({step_min * 1e3:.0f})",
                f"{timing.median_ms:.1f} ms ({timing.min_ms:.1f})",
                f"{peak:.0f}",
            ]
        )
        print(f"measured {name}", file=sys.stderr, flush=True)
    print(
        f"CPU float32, {THREADS} threads; epoch = default training split, {SEQ_LEN}-bar windows, batch {BATCH}; "
        f"inference = one {INFER_LEN}-bar window; {load_note()}"
    )
    print("median (fastest) of the timed runs: on a shared machine the fastest is the closer to the cost")
    header = [
        "model",
        "parameters",
        "train time / epoch",
        "batches x step",
        "inference (batch 1)",
        "train step peak MB",
    ]
    print(format_table(header, rows))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
