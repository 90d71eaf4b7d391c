"""Live inference: one candle through ``StreamingPredictor`` against recomputing the window (CPU, batch 1).

For each streamed default model (price, signal, risk; d_model 256, 4 layers, 50 features) and each
attention window ``W`` (128 and 512) the stream is first filled with ``W + 8`` bars (the caches are full and
rolling), then three ways of getting the newest bar's outputs are timed, interleaved, median of ``runs``:

- ``update``: ``StreamingPredictor.update`` with a new candle (cached mode: one query per layer against a
  rolling KV cache of ``W`` bars), timed interleaved with the forwards below (whose activations evict the
  CPU caches between updates) and ``back-to-back`` (mean of consecutive updates, the live pattern);
- ``window fwd``: the batch model over the last ``W`` bars (the usual "recompute the window");
- ``exact fwd``: the batch model over the ``num_layers * (W - 1) + 1`` bars the newest output depends on
  (what the recompute mode runs; only this one equals the whole-history output).

With a checkpoint, the predictor also scales each raw candle (a 720-bar rolling z-score of 50 features)
and computes its variance anchor (8,760 bars of Parkinson variances and squared returns: its longest
window, a year). ``--scaling`` times that per-candle work alone, after a stream longer than both windows,
interleaved with the batch forms recomputed over the same trailing rows (the z-score over the stacked 720
rows, ``VarianceAnchor.scale`` over the 8,760): median of ``runs`` blocks of 100 candles.

The target: ``update`` at least 10x faster than ``window fwd`` at ``W = 512``. Not a test: nothing
is asserted. ``--warm-up`` times :meth:`StreamingPredictor.warm_up` over a year and a month of candles against
``update`` on every candle (the small price preset, the same scaling and anchor). Usage:
``python benchmarks/streaming_bench.py [--quick] [--threads N] [--no-exact] [--scaling] [--warm-up]``.
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

from ml_attention_mechanisms.data.anchor import VarianceAnchor, parkinson_variance
from ml_attention_mechanisms.inference import StreamingPredictor
from ml_attention_mechanisms.inference._scaling import RollingAnchor, RollingScaler
from ml_attention_mechanisms.models import create_crypto_model

T0 = 1_700_000_000
HOUR = 3600


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
    timings = time_interleaved(cases, runs=runs, warmup=2)
    # The live pattern: candles back to back, nothing else running in between (mean of 4 * runs updates).
    count = 4 * runs
    started = time.perf_counter()
    for _ in range(count):
        update()
    back_to_back = (time.perf_counter() - started) * 1e3 / count
    assert max(live.cache_lengths) <= window
    return {"model": name, "W": window, "back_to_back": back_to_back, **timings}


def scaling(runs: int, features: int = 50, block: int = 100) -> dict[str, Any]:
    """Per-candle scaling and anchor: the streaming forms against the batch forms over the same rows."""
    anchor = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168)
    anchor.coef = [0.2, 0.08, 0.25, 0.14, 0.2, 0.18]
    names = ["log_range", "log_return_1", *(f"f{i}" for i in range(features - 2))]
    stats = {"feature_names": names, "window": 720, "min_periods": 168, "clip": 5.0,
             "mean": [0.0] * features, "std": [1.0] * features, "anchor": anchor.to_dict()}  # fmt: skip
    warm = anchor.history + 64
    raw = np.random.default_rng(0).normal(size=(warm + (runs + 3) * block, features))
    raw[:, 0] = np.abs(raw[:, 0]) * 0.01  # log(high / low) >= 0
    raw[:, 1] *= 0.01
    scaler, live_anchor = RollingScaler(stats), RollingAnchor(stats)
    for row in raw[:warm]:
        scaler.push(row)
        live_anchor.push(row)
    cursor = {"stream": warm, "batch": warm}

    def stream() -> None:
        i = cursor["stream"]
        for row in raw[i : i + block]:
            scaler.push(row)
            live_anchor.push(row)
        cursor["stream"] = i + block

    def batch() -> None:
        i = cursor["batch"]
        for t in range(i, i + block):
            rows = raw[t - 719 : t + 1]  # the z-score over the kept rows, as the stream computes it
            finite = np.isfinite(rows)
            mean = np.where(finite, rows, 0.0).sum(0) / finite.sum(0)
            np.sqrt((np.where(finite, rows - mean, 0.0) ** 2).sum(0) / (finite.sum(0) - 1))
            hist = raw[t - anchor.history + 1 : t + 1]
            anchor.scale(parkinson_variance(hist[:, 0]), hist[:, 1] ** 2)[-1]
        cursor["batch"] = i + block

    t = time_interleaved({"stream": Case(stream), "batch": Case(batch)}, runs=runs, warmup=1)
    return {k: v.median_ms / block for k, v in t.items()}


def warm_up_timing(runs: int, features: int = 50) -> dict[str, float]:
    """A year and a month of hourly candles (the anchor's history and more) replayed into the small price
    preset with a 50-feature scaling and an anchor: ``warm_up`` (the model on the last candles only) against
    ``update`` on every candle; seconds, median of ``runs`` interleaved runs."""
    anchor = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168)
    anchor.coef = [0.2, 0.08, 0.25, 0.14, 0.2, 0.18]
    names = ["log_range", "log_return_1", *(f"f{i}" for i in range(features - 2))]
    stats = {"feature_names": names, "window": 720, "min_periods": 168, "clip": 5.0,
             "mean": [0.0] * features, "std": [1.0] * features, "anchor": anchor.to_dict()}  # fmt: skip
    model = create_crypto_model("price_predictor_small", input_features=features).eval()
    n = anchor.history + 720
    raw = np.random.default_rng(0).normal(size=(n, features)) * 0.01
    raw[:, 0] = np.abs(raw[:, 0])  # log(high / low) >= 0
    times = 1_700_000_000 // 3600 * 3600 + 3600 * np.arange(n)

    def replay() -> None:
        live = StreamingPredictor(model, scaler=stats)
        for ts, row in zip(times.tolist(), raw):
            live.update(ts, row)

    def warm() -> None:
        StreamingPredictor(model, scaler=stats).warm_up(times, raw)

    t = time_interleaved({"update": Case(replay), "warm_up": Case(warm)}, runs=runs, warmup=0)
    return {"candles": float(n), **{k: v.median_ms / 1e3 for k, v in t.items()}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="price model only, fewer runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-exact", action="store_true", help="skip the (slow) exact-reach forward")
    parser.add_argument("--scaling", action="store_true", help="time the per-candle scaling and anchor only")
    parser.add_argument("--warm-up", action="store_true", help="time warm_up over a year of candles only")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = ["price_predictor"] if args.quick else ["price_predictor", "signal_generator", "risk_assessor"]
    runs = 5 if args.quick else 9
    if args.warm_up:
        w = warm_up_timing(3)
        print(f"{w['candles']:.0f} candles, median of 3: warm_up {w['warm_up']:.1f} s, update on every candle "
              f"{w['update']:.1f} s ({w['update'] / w['warm_up']:.1f}x)")  # fmt: skip
        return 0
    if args.scaling:
        r = scaling(runs)
        print(f"per candle, median of {runs} blocks of 100: streaming scaling + anchor {r['stream']:.3f} ms, "
              f"batch forms over the same rows {r['batch']:.3f} ms ({r['batch'] / r['stream']:.1f}x)")  # fmt: skip
        return 0
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
            print(line, flush=True)
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
