"""Live inference: one candle through ``StreamingPredictor`` against recomputing the window (CPU, batch 1).

For each streamed default model (price, signal, risk; d_model 256, 4 layers, 50 features) and each
attention window ``W`` (128 and 512) the stream is first filled with ``W + 8`` bars (the caches are full and
rolling), then three ways of getting the newest bar's outputs are timed, interleaved, median of ``runs``:

- ``update``: ``StreamingPredictor.update`` with a new candle (cached mode: one query per layer against a
  rolling KV cache of ``W`` bars), timed interleaved with the forwards below (whose activations evict the
  CPU caches between updates) and ``back-to-back`` (mean of consecutive updates, the live pattern);
- ``window fwd``: the batch model over the last ``W`` bars (the usual "recompute the window");
- ``exact fwd``: the batch model over the ``num_layers * (W - 1) + 1`` bars the newest output depends on
  (what the recompute mode runs; only this one equals the whole-history output);
- ``scaled update`` (price model): the update of a predictor built as from a checkpoint, with scaling
  statistics (a 720-bar rolling z-score of the raw features) and a variance anchor (2,160 bars of Parkinson
  variances and squared returns), after a stream longer than both windows: what a live feed pays per candle.

The target: ``update`` at least 10x faster than ``window fwd`` at ``W = 512``. Not a test: nothing
is asserted. Usage: ``python benchmarks/streaming_bench.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Case, time_interleaved

from ml_attention_mechanisms.data.anchor import VarianceAnchor
from ml_attention_mechanisms.inference import StreamingPredictor
from ml_attention_mechanisms.models import create_crypto_model

T0 = 1_700_000_000
HOUR = 3600


def _scaler_stats(features: int) -> dict[str, Any]:
    """Scaling statistics as a checkpoint carries them: hourly defaults, ``log_range`` and ``log_return_1``
    first (the anchor reads them), an anchor with the hourly windows."""
    anchor = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168)
    anchor.coef = [0.2, 0.08, 0.25, 0.14, 0.2, 0.18]
    names = ["log_range", "log_return_1", *(f"f{i}" for i in range(features - 2))]
    return {"feature_names": names, "window": 720, "min_periods": 168, "clip": 5.0,
            "mean": [0.0] * features, "std": [1.0] * features, "anchor": anchor.to_dict()}  # fmt: skip


def _raw_rows(n: int, features: int) -> np.ndarray:
    rows = np.random.default_rng(0).normal(size=(n, features))
    rows[:, 0] = np.abs(rows[:, 0]) * 0.01  # log(high / low) >= 0
    rows[:, 1] *= 0.01
    return rows


def bench(name: str, window: int, runs: int, exact: bool) -> dict[str, Any]:
    model = create_crypto_model(name, attention_window=window).eval()
    f = model.config.input_features
    reach = model.config.num_encoder_layers * (window - 1) + 1
    history = torch.randn(reach + runs * 8 + 64, f)
    live = StreamingPredictor(model)
    start = window + 8
    for i in range(start):
        live.update(T0 + i * HOUR, history[i].numpy())
    state = {"i": start}

    def update() -> None:
        i = state["i"]
        live.update(T0 + i * HOUR, history[i].numpy())
        state["i"] = i + 1

    def forward(bars: int) -> None:
        x = history[:bars].unsqueeze(0)
        ts = (T0 + HOUR * torch.arange(bars)).unsqueeze(0)
        with torch.no_grad():
            model(x, timestamps=ts)

    cases = {"update": Case(update), "window fwd": Case(lambda: forward(window))}
    if exact:
        cases["exact fwd"] = Case(lambda: forward(reach))
    if name == "price_predictor":
        stats = _scaler_stats(f)
        raw = _raw_rows(2160 + 64 + runs * 8 + 64, f)
        scaled = StreamingPredictor(model, scaler=stats)
        for i in range(2160 + 64):  # longer than the anchor's and the scaling's windows
            scaled.update(T0 + i * HOUR, raw[i])
        cursor = {"i": 2160 + 64}

        def scaled_update() -> None:
            i = cursor["i"]
            scaled.update(T0 + i * HOUR, raw[i])
            cursor["i"] = i + 1

        cases["scaled update"] = Case(scaled_update)
    timings = time_interleaved(cases, runs=runs, warmup=2)
    # The live pattern: candles back to back, nothing else running in between (mean of 4 * runs updates).
    count = 4 * runs
    started = time.perf_counter()
    for _ in range(count):
        update()
    back_to_back = (time.perf_counter() - started) * 1e3 / count
    assert max(live.cache_lengths) <= window
    return {"model": name, "W": window, "back_to_back": back_to_back, **timings}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="price model only, fewer runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-exact", action="store_true", help="skip the (slow) exact-reach forward")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = ["price_predictor"] if args.quick else ["price_predictor", "signal_generator", "risk_assessor"]
    runs = 5 if args.quick else 9
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch 1, median of {runs} runs")
    header = (
        f"{'model':<17} {'W':>4}  {'update':>10}  {'window fwd':>11}  {'speed-up':>8}  "
        f"{'back-to-back':>12}  {'speed-up':>8}  {'exact fwd':>10}  {'speed-up':>8}"
    )
    print(header)
    started = time.perf_counter()
    for name in names:
        for window in (128, 512):
            r = bench(name, window, runs, exact=not args.no_exact)
            up, win = r["update"].median_ms, r["window fwd"].median_ms
            b2b = float(r["back_to_back"])  # type: ignore[arg-type]
            line = f"{name:<17} {window:>4}  {up:>7.2f} ms  {win:>8.2f} ms  {win / up:>7.1f}x"
            line += f"  {b2b:>9.2f} ms  {win / b2b:>7.1f}x"
            if "exact fwd" in r:
                ex = r["exact fwd"].median_ms
                line += f"  {ex:>7.1f} ms  {ex / up:>7.1f}x"
            if "scaled update" in r:
                line += f"  scaled update {r['scaled update'].median_ms:.2f} ms"
            print(line, flush=True)
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
