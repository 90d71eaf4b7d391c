"""Training throughput (windows per second) of every registry model, default and small preset, on CPU.

For each model the bundled ``binance-1h`` data are windowed as ``mlattn train`` does (window = the model's
``attention_window``; batch = ``TrainingConfig().batch_size``, 64) and two figures are taken:

* **loop** (the optimiser step alone, no Lightning): ``K`` batches are drawn from the training DataLoader and
  timed (*load*: sampling, ``__getitem__`` and collate), then ``K`` optimiser steps on them are timed
  (*step*: forward, loss, backward, gradient clipping, AdamW). ``windows/s = B / (load + step)`` and the
  data-loading share of a step is ``load / (load + step)``.
* **trainer** (end to end, with ``--trainer``): ``train(..., limit_train_batches=K)``, the figures of its
  ``ThroughputMeter`` (the gap between steps counts as data time, so its share is an upper bound: it also
  holds Lightning's own per-step bookkeeping).

Usage: ``python benchmarks/training_throughput.py [--quick] [--trainer] [--threads N] [--models a,b]
[--presets both|default|small] [--patch-size P]`` (``--patch-size``: every model with ``P`` bars per token).

To compare two versions of the library, run it once per source tree on the same idle machine, one after the
other (``PYTHONPATH=<tree>/src python benchmarks/training_throughput.py --presets small``), and repeat the
pair; ``benchmarks/README.md`` has the figures and the commands.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from typing import Any

import torch


def _time_loop(
    model_type: str,
    prepared: Any,
    *,
    steps: int,
    batch_size: int,
    repeats: int,
    model: dict[str, Any] | None = None,
) -> dict[str, float]:
    from ml_attention_mechanisms.training.config import RunConfig, TrainingConfig
    from ml_attention_mechanisms.training.datamodule import WindowDataModule
    from ml_attention_mechanisms.training.run import build_model

    cfg = RunConfig(model=dict(model or {}), training=TrainingConfig(batch_size=batch_size))
    net, _ = build_model(model_type, cfg, prepared)
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    loader = WindowDataModule(prepared, batch_size=batch_size).train_dataloader()
    params = sum(p.numel() for p in net.parameters())
    loads, computes = [], []
    for _ in range(repeats + 1):  # the first pass warms up (allocator, kernels)
        it = iter(loader)
        start = time.perf_counter()
        batches = [next(it) for _ in range(steps)]
        load = (time.perf_counter() - start) / steps
        start = time.perf_counter()
        for batch in batches:
            outputs = net(**net.training_inputs(batch))  # type: ignore[operator]
            loss, _ = net.loss(outputs, batch)  # type: ignore[operator]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
        compute = (time.perf_counter() - start) / steps
        loads.append(load)
        computes.append(compute)
    load, compute = statistics.median(loads[1:]), statistics.median(computes[1:])
    return {
        "params_m": params / 1e6,
        "step_ms": 1e3 * compute,
        "load_ms": 1e3 * load,
        "windows_per_s": batch_size / (load + compute),
        "data_share": load / (load + compute),
    }


def _time_trainer(
    model_type: str, prepared: Any, *, steps: int, batch_size: int, model: dict[str, Any] | None = None
) -> dict[str, float]:
    from ml_attention_mechanisms.training.run import train

    config = {
        "model": dict(model or {}),
        "training": {
            "max_epochs": 1,
            "batch_size": batch_size,
            "limit_train_batches": steps + 1,
            "limit_val_batches": 1,
            "enable_progress_bar": False,
            "early_stopping_patience": None,
        },
    }
    with tempfile.TemporaryDirectory() as out:
        result = train(model_type, prepared, config=config, out=out)
    return {"trainer_windows_per_s": result.windows_per_second, "trainer_gap_share": result.data_share}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat")
    parser.add_argument("--trainer", action="store_true", help="also time the Lightning loop end to end")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument(
        "--models", default="price_predictor,signal_generator,risk_assessor,portfolio_optimizer"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default: TrainingConfig().batch_size")
    parser.add_argument(
        "--presets", choices=["both", "default", "small"], default="both", help="which presets"
    )
    parser.add_argument("--patch-size", type=int, default=1, help="bars per token of every model (default 1)")
    args = parser.parse_args(argv)
    overrides = {"patch_size": args.patch_size} if args.patch_size != 1 else {}
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from ml_attention_mechanisms.training import _models
    from ml_attention_mechanisms.training.config import DataOptions, RunConfig, TrainingConfig
    from ml_attention_mechanisms.training.run import prepare_run_data

    batch = args.batch_size or TrainingConfig().batch_size
    steps, repeats = (3, 1) if args.quick else (8, 3)
    cache: dict[tuple[Any, ...], Any] = {}
    rows = []
    for base in args.models.split(","):
        names = {"both": (base, f"{base}_small"), "default": (base,), "small": (f"{base}_small",)}[
            args.presets
        ]
        for name in names:
            probe = _models.create_model(name)
            window = int(getattr(probe.config, "attention_window", 128))
            cls = _models.model_class(name)
            key = (cls.DATA_KIND, cls.OUTPUT_KIND, getattr(probe.config, "prediction_horizon", 1), window)
            if key not in cache:
                cfg = RunConfig(data=DataOptions(window=window))
                start = time.perf_counter()
                cache[key] = prepare_run_data(name, "binance-1h", cfg, include_test=False)
                print(f"# data for {name}: {time.perf_counter() - start:.1f} s to window", file=sys.stderr)
            prepared = cache[key]
            timing = _time_loop(
                name, prepared, steps=steps, batch_size=batch, repeats=repeats, model=overrides
            )
            row = {"model": name, "window": window, **timing}
            if args.trainer:
                row.update(_time_trainer(name, prepared, steps=steps, batch_size=batch, model=overrides))
            rows.append(row)
            print(_format(row), flush=True)
    print()
    patches = f", patch_size {args.patch_size}" if overrides else ""
    print(
        f"CPU, {args.threads} threads, batch {batch}, torch {torch.__version__}; {steps} steps x {repeats} repeats"
        f"{patches}"
    )
    print("| model | params (M) | window | step ms | load ms | windows/s | data share |" + (
        " trainer windows/s | trainer gap share |" if args.trainer else ""))  # fmt: skip
    print("|---|---|---|---|---|---|---|" + ("---|---|" if args.trainer else ""))
    for row in rows:
        print(_format(row))
    return 0


def _format(row: dict[str, Any]) -> str:
    cells = [
        row["model"],
        f"{row['params_m']:.2f}",
        str(row["window"]),
        f"{row['step_ms']:.0f}",
        f"{row['load_ms']:.1f}",
        f"{row['windows_per_s']:.0f}",
        f"{100 * row['data_share']:.1f}%",
    ]
    if "trainer_windows_per_s" in row:
        cells += [f"{row['trainer_windows_per_s']:.0f}", f"{100 * row['trainer_gap_share']:.1f}%"]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
