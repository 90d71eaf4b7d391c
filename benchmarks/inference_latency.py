"""Batch-1 latency of each default model: eager, ``torch.compile``d and ONNX Runtime, side by side (CPU).

Each default model (``price_predictor``, ``signal_generator``, ``risk_assessor``: 128 bars of 50 features;
``portfolio_optimizer``: 128 bars x 8 assets) is exported with
:func:`~ml_attention_mechanisms.inference.export_onnx` (checked against eager to 1e-4) and compiled with
``torch.compile`` (inductor, default mode). The three forms are timed interleaved, after warm-up, on the
same inputs (features and timestamps), median of ``runs``; torch and ONNX Runtime use the same number of
threads. Ratios are eager time / form time (> 1: faster than eager). Not a test: nothing is asserted.

Usage: ``python benchmarks/inference_latency.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Case, time_interleaved

from ml_attention_mechanisms.inference import export_onnx
from ml_attention_mechanisms.inference._inputs import example_inputs
from ml_attention_mechanisms.models import create_crypto_model

BARS = 128
ASSETS = 8
MODELS = ["price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer"]


def bench(name: str, runs: int, threads: int, folder: Path) -> dict[str, object]:
    import onnxruntime as ort

    model = create_crypto_model(name).eval()
    multi = name == "portfolio_optimizer"
    features, timestamps = example_inputs(model, batch=1, seq_len=BARS, num_assets=ASSETS if multi else None)
    t0 = time.perf_counter()
    result = export_onnx(model, folder / f"{name}.onnx", num_assets=ASSETS if multi else None)
    export_s = time.perf_counter() - t0
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(result.path), options, providers=["CPUExecutionProvider"])
    feed = {"features": features.numpy(), "timestamps": timestamps.numpy()}
    compiled = torch.compile(model)
    t0 = time.perf_counter()
    with torch.no_grad():
        compiled(features, timestamps=timestamps)  # compile now, outside the timing
    compile_s = time.perf_counter() - t0

    def eager() -> None:
        with torch.no_grad():
            model(features, timestamps=timestamps)

    def comp() -> None:
        with torch.no_grad():
            compiled(features, timestamps=timestamps)

    timings = time_interleaved(
        {"eager": Case(eager), "compile": Case(comp), "onnxruntime": Case(lambda: session.run(None, feed))},
        runs=runs,
        warmup=3,
    )
    return {"timings": timings, "export_s": export_s, "compile_s": compile_s, "diff": result.max_abs_diff}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="price model only, fewer runs")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads for torch and ONNX Runtime (default 1)"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = MODELS[:1] if args.quick else MODELS
    runs = 10 if args.quick else 20
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 1, {BARS} bars, median of {runs} runs")
    print(
        f"{'model':<20} {'eager':>9}  {'compile':>9} {'ratio':>6}  {'onnxruntime':>11} {'ratio':>6}  (export s, compile s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            r = bench(name, runs, args.threads, Path(tmp))
            t = r["timings"]
            e, c, o = t["eager"].median_ms, t["compile"].median_ms, t["onnxruntime"].median_ms  # type: ignore[index]
            print(
                f"{name:<20} {e:>6.2f} ms  {c:>6.2f} ms {e / c:>5.2f}x  {o:>8.2f} ms {e / o:>5.2f}x  "
                f"({r['export_s']:.0f}, {r['compile_s']:.0f}); ONNX max |diff| {r['diff']:.1e}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
