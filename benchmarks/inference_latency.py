"""Batch-1 latency of each default model: eager, ``torch.compile``d and ONNX Runtime, side by side (CPU).

Each default model (``price_predictor``, ``signal_generator``, ``risk_assessor``: 128 bars of 50 features;
``portfolio_optimizer``: 128 bars x 8 assets) is exported with
:func:`~ml_attention_mechanisms.inference.export_onnx` (checked against eager to 1e-4) and compiled with
``torch.compile`` (inductor, default mode). The three forms are timed interleaved, after warm-up, on the
same inputs (features and timestamps), median of ``runs``; torch and ONNX Runtime use the same number of
threads. Ratios are eager time / form time (> 1: faster than eager). Not a test: nothing is asserted.

``--device cuda`` (float32): eager, ``torch.compile`` (default mode) and ``torch.compile(mode="reduce-overhead")``
(CUDA graphs: one launch for the whole forward) instead of ONNX Runtime; every call is synchronised.

Usage: ``python benchmarks/inference_latency.py [--quick] [--threads N] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Case, Target, time_interleaved

from ml_attention_mechanisms.inference import export_onnx
from ml_attention_mechanisms.inference._inputs import example_inputs
from ml_attention_mechanisms.models import create_crypto_model

BARS = 128
ASSETS = 8
MODELS = ["price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer"]


def bench(name: str, runs: int, threads: int, folder: Path, device: torch.device) -> dict[str, object]:
    """Eager, ``torch.compile`` and (CPU) ONNX Runtime; on CUDA, compile with CUDA graphs instead of ONNX."""
    model = create_crypto_model(name).eval().to(device)
    multi = name == "portfolio_optimizer"
    features, timestamps = example_inputs(model, batch=1, seq_len=BARS, num_assets=ASSETS if multi else None)
    features, timestamps = features.to(device), timestamps.to(device)
    sync = Target(device, cuda_protocol=device.type == "cuda", bf16=False).sync

    def call(m: Callable[..., object]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                m(features, timestamps=timestamps)
            sync()

        return run

    cases = {"eager": Case(call(model))}
    out: dict[str, object] = {}
    modes = {"compile": None} if device.type == "cpu" else {"compile": None, "cudagraphs": "reduce-overhead"}
    for label, mode in modes.items():
        compiled = torch.compile(model, mode=mode)
        t0 = time.perf_counter()
        for _ in range(3):  # compile (and record the CUDA graph) outside the timing
            call(compiled)()
        out[f"{label}_s"] = time.perf_counter() - t0
        cases[label] = Case(call(compiled))
    if device.type == "cpu":
        import onnxruntime as ort

        t0 = time.perf_counter()
        result = export_onnx(model, folder / f"{name}.onnx", num_assets=ASSETS if multi else None)
        out["export_s"], out["diff"] = time.perf_counter() - t0, result.max_abs_diff
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(result.path), options, providers=["CPUExecutionProvider"])
        feed = {"features": features.numpy(), "timestamps": timestamps.numpy()}
        cases["onnxruntime"] = Case(lambda: session.run(None, feed))
    out["timings"] = time_interleaved(cases, runs=runs, warmup=3)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="price model only, fewer runs")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads for torch and ONNX Runtime (default 1)"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"inference_latency: --device cuda: torch {torch.__version__} finds no CUDA device",
            file=sys.stderr,
        )
        return 2
    device = torch.device(args.device)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = MODELS[:1] if args.quick else MODELS
    runs = 10 if args.quick else 20
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{args.threads} thread(s)"
    print(f"torch {torch.__version__}, {where}, float32, batch 1, {BARS} bars, median of {runs} runs")
    third = "onnxruntime" if device.type == "cpu" else "cudagraphs"
    print(f"{'model':<20} {'eager':>9}  {'compile':>9} {'ratio':>6}  {third:>11} {'ratio':>6}  (set-up s)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            r = bench(name, runs, args.threads, Path(tmp), device)
            t = r["timings"]
            e, c, o = (t[k].median_ms for k in ("eager", "compile", third))  # type: ignore[index]
            setup = ", ".join(f"{k[:-2]} {v:.0f}" for k, v in r.items() if k.endswith("_s"))
            diff = f"; ONNX max |diff| {r['diff']:.1e}" if "diff" in r else ""
            print(
                f"{name:<20} {e:>6.2f} ms  {c:>6.2f} ms {e / c:>5.2f}x  {o:>8.2f} ms {e / o:>5.2f}x  "
                f"({setup}){diff}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
