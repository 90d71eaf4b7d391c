"""The crypto models' measured table: parameters, epoch time, batch-1 inference, peak memory.

``python benchmarks/model_bench.py`` (``--quick``: small presets only, fewer steps; ``--json PATH`` also
writes the figures; ``--device {cpu,cuda}``, default cpu; ``--precision {32,bf16}``, default 32: bf16 builds
the models with ``use_mixed_precision=True``, their own autocast around the forward, weights float32). For
each model:

- parameters (trainable);
- training time per epoch on the bundled data: the default split's training period (up to 2020-06-30 23:00),
  every window of 64 bars (single-asset models: every asset and bar with targets; the portfolio: every bar,
  all five assets), batch 64, Adam; the median (and the fastest) of a few timed steps after warm-up, times
  the number of batches in the epoch. Data loading (collation on the CPU) is not timed; on CUDA the copy of
  the batch to the device is (inside the step);
- batch-1 inference: median (and fastest) of repeated forwards of one 128-bar window (eval mode, no grad);
- memory of one training step (batch 64): CPU: peak RSS increase, in a fresh process; CUDA:
  ``torch.cuda.max_memory_allocated`` rise over the step (peak reset after warm-up), in-process.

CPU: 2 threads, 1 warm-up step, 10 timed steps (3 for the default presets and ``--quick``), 20 forwards.
CUDA: the device is synchronised before each clock reading; 5 warm-up steps (kernel selection, cuBLAS
autotuning at first use), 20 timed steps, 100 forwards after 10 warm-up ones (``--quick``: 2, 3, 20, 3).

The GPU runs (torch >= 2.11; all eight presets; the CPU side, data preparation included, is a few seconds)::

    PYTHONPATH=src python3 benchmarks/model_bench.py --device cuda --precision 32 --json $OUT/model_gpu_fp32.json
    PYTHONPATH=src python3 benchmarks/model_bench.py --device cuda --precision bf16 --json $OUT/model_gpu_bf16.json

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
from _common import (
    Case,
    Target,
    format_table,
    load_note,
    peak_rss_in_subprocess,
    run_peak_case,
    time_interleaved,
)

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


def _model(name: str, features: int, target: Target) -> torch.nn.Module:
    kind = get_model_entry(name).output_kind
    extra: dict[str, Any] = {"input_features": features}
    if kind in ("price", "risk"):
        extra["prediction_horizon"] = 3
    if target.bf16:
        extra["use_mixed_precision"] = True
    return create_crypto_model(name, **extra).to(target.device)


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


def _epoch_seconds(
    name: str, data: dict[str, Any], target: Target, warmup: int, steps: int
) -> tuple[int, float, float, float | None]:
    """``(batches per epoch, median step s, fastest step s, step peak MB or None)`` over ``steps`` timed
    steps after ``warmup`` ones; the peak (CUDA protocol only) is one more step after the warm-up."""
    model = _model(name, data["features"], target).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader, per_epoch = _batches(name, data)
    it = iter(loader)
    for _ in range(warmup):
        _train_step(model, opt, target.move(next(it)))
    peak = None
    if target.cuda_protocol:
        on_device = target.move(next(it))
        peak = target.peak_mb(lambda: _train_step(model, opt, on_device))
    times = []
    for _ in range(steps):
        batch = next(it)  # data loading: not timed
        target.sync()
        t0 = time.perf_counter()
        _train_step(model, opt, target.move(batch))
        target.sync()
        times.append(time.perf_counter() - t0)
    return per_epoch, statistics.median(times), min(times), peak


def _inference_input(name: str, data: dict[str, Any], target: Target) -> dict[str, Any]:
    f = data["features"]
    ts = (1_609_459_200 + 3600 * torch.arange(INFER_LEN)).unsqueeze(0)
    if get_model_entry(name).data_kind == "multi_asset":
        a = data["assets"]
        inputs = {
            "asset_features": torch.randn(1, INFER_LEN, a, f),
            "volume_data": torch.rand(1, INFER_LEN, a),
            "timestamps": ts,
        }
    else:
        inputs = {
            "price_data": torch.randn(1, INFER_LEN, f),
            "timestamps": ts,
            "asset_ids": torch.tensor([1]),
        }
    return target.move(inputs)  # type: ignore[no-any-return]


def _peak_case(name: str, target: Target) -> dict[str, float]:
    torch.set_num_threads(THREADS)
    data = _data()
    model = _model(name, data["features"], target).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader, _ = _batches(name, data)
    batch = next(iter(loader))
    return run_peak_case(Case(fn=lambda: _train_step(model, opt, batch)))


def _fmt_s(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.1f} s"


def _fmt_ms(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 10 else f"{ms:.2f}"


def _target(args: argparse.Namespace) -> Target | str:
    """The measuring target, or a one-line error."""
    bf16 = args.precision == "bf16"
    if args.dry_run_cuda:
        return Target(torch.device("cpu"), cuda_protocol=True, bf16=bf16)
    if args.device == "cpu":
        return Target(torch.device("cpu"), cuda_protocol=False, bf16=bf16)
    if not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        return f"--device cuda: torch {torch.__version__} ({build}) finds no CUDA device"
    return Target(torch.device("cuda", torch.cuda.current_device()), cuda_protocol=True, bf16=bf16)


def _measure(
    name: str, data: dict[str, Any], target: Target, args: argparse.Namespace
) -> tuple[dict[str, Any], list[str]]:
    """One model's figures (for ``--json``) and table row."""
    small = name.endswith("_small")
    if target.cuda_protocol:
        warmup, steps, runs, infer_warmup = (2, 3, 20, 3) if args.quick else (5, 20, 100, 10)
    else:
        warmup, steps, runs, infer_warmup = 1, 3 if args.quick or not small else 10, 20, 3
    per_epoch, step_s, step_min, peak = _epoch_seconds(name, data, target, warmup, steps)
    model = _model(name, data["features"], target).eval()
    inputs = _inference_input(name, data, target)

    def infer(model: torch.nn.Module = model, inputs: dict[str, Any] = inputs) -> None:
        with torch.no_grad():
            model(**inputs)
        target.sync()

    case = Case(fn=infer, setup=target.sync)
    timing = time_interleaved({name: case}, runs=runs, warmup=infer_warmup)[name]
    if peak is None:  # CPU: in a fresh process
        peak = peak_rss_in_subprocess(__file__, name, ["--precision", args.precision])
    params = model.num_parameters()  # type: ignore[operator]
    figures = {
        "parameters": params,
        "batches_per_epoch": per_epoch,
        "step_seconds_median": step_s,
        "step_seconds_min": step_min,
        "epoch_seconds_median": step_s * per_epoch,
        "epoch_seconds_min": step_min * per_epoch,
        "inference_ms_median": timing.median_ms,
        "inference_ms_min": timing.min_ms,
        "train_step_peak_mb": peak,
        "device": target.name,
        "precision": target.precision,
        "torch": torch.__version__,
        "dry_run": bool(args.dry_run_cuda),
    }
    row = [
        name,
        f"{params / 1e6:.2f}M",
        f"{_fmt_s(step_s * per_epoch)} ({_fmt_s(step_min * per_epoch)})",
        f"{per_epoch} x {_fmt_ms(step_s * 1e3)} ms ({_fmt_ms(step_min * 1e3)})",
        f"{timing.median_ms:.1f} ms ({timing.min_ms:.1f})",
        f"{peak:.0f}",
    ]
    return figures, row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small presets only, fewer measured steps")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to measure")
    parser.add_argument(
        "--precision", choices=["32", "bf16"], default="32", help="float32, or the models' bf16 autocast"
    )
    parser.add_argument("--peak", default=None, help=argparse.SUPPRESS)  # internal: one peak-memory case
    # internal check: the CUDA protocol (sync, warm-up, in-process memory) run on the CPU
    parser.add_argument("--dry-run-cuda", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    target = _target(args)
    if isinstance(target, str):
        print(f"model_bench: {target}", file=sys.stderr)
        return 2
    if args.peak:
        print(json.dumps(_peak_case(args.peak, target)))
        return 0
    if target.device.type == "cpu":
        torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    data = _data()
    print(f"data prepared in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    names = SMALL if args.quick else SMALL + DEFAULT
    rows, figures, failed = [], {}, []
    for name in names:
        try:
            figures[name], row = _measure(name, data, target, args)
        except Exception as exc:  # one model's failure (e.g. out of memory) must not lose the others' figures
            failed.append(name)
            error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            figures[name], row = {"error": error}, [name, "failed", error[:100], "", "", ""]
            print(f"model_bench: {name} failed: {error}", file=sys.stderr, flush=True)
            if target.device.type == "cuda":
                torch.cuda.empty_cache()
        else:
            print(f"measured {name} ({time.perf_counter() - t0:.0f} s so far)", file=sys.stderr, flush=True)
        rows.append(row)
    print(
        f"{target.describe()}; epoch = default training split, {SEQ_LEN}-bar windows, batch {BATCH}; "
        f"inference = one {INFER_LEN}-bar window; {load_note()}"
    )
    print("median (fastest) of the timed runs: under load, the fastest is the closer to the cost")
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
