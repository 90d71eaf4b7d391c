"""``mlattn benchmark``: time and memory of the library's attention layers, printed as tables.

Suites (``--suite``):

* ``layers`` (default): every attention layer of the library on one input, side by side, small sizes.
  The figures come from :func:`ml_attention_mechanisms.utils.attention_utils.benchmark_attention_implementations`
  (warm-up, synchronisation, peak memory: see its module); the ``backend`` column is the kernel the dispatch
  chose, as ``explain_dispatch`` reports it.
* ``attention``: the attention benchmark protocol of the source tree, ``benchmarks/attention_bench.py``
  (interleaved timing, per-case peak RSS in fresh processes, the attention targets), run in a subprocess with
  ``--quick`` / ``--runs`` / ``--no-memory`` / ``--json`` forwarded.
* ``all``: ``layers``, then every script of ``benchmarks/`` through ``benchmarks/run_all.py``.

The scripts live next to the package in a source checkout (``<repo>/benchmarks``), not in an installed
wheel; ``--benchmarks-dir`` points elsewhere.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

from .._import_guard import install_command
from ._base import EXIT_FOUND_PROBLEM, EXIT_OK, CLIError, Subcommand

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_QUICK = {"batch": 1, "seq_len": 32, "d_model": 32, "num_heads": 4, "runs": 2, "warmup": 1}
_SCRIPTS = {"attention": "attention_bench.py", "all": "run_all.py"}
# src/ml_attention_mechanisms/cli/benchmark.py -> <repo>/benchmarks in a source checkout
_DEFAULT_DIR = Path(__file__).resolve().parents[3] / "benchmarks"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


class Benchmark(Subcommand):
    name = "benchmark"
    help = "benchmark the attention layers (time, memory, chosen kernel) and print a table"

    @classmethod
    def required_extras(cls, args: argparse.Namespace) -> tuple[str, ...]:
        return ("data", "train", "export") if args.suite == "all" else ()  # the scripts `all` runs read them

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--suite",
            choices=["layers", "attention", "all"],
            default="layers",
            help="layers: the library's attention layers side by side (default); attention: "
            "benchmarks/attention_bench.py; all: layers, then every script of benchmarks/ (needs: "
            f"{install_command('data', 'train', 'export')})",
        )
        parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 runs (a smoke test)")
        parser.add_argument("--batch", type=_positive, default=2, help="batch size (default 2)")
        parser.add_argument("--seq-len", type=_positive, default=256, help="sequence length (default 256)")
        parser.add_argument("--d-model", type=_positive, default=128, help="model width (default 128)")
        parser.add_argument("--num-heads", type=_positive, default=4, help="attention heads (default 4)")
        parser.add_argument("--runs", type=_positive, default=None, help="timed runs per case (default 10)")
        parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up runs (default 2)")
        parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
        parser.add_argument("--dtype", choices=sorted(_DTYPES), default="float32", help="input dtype")
        parser.add_argument(
            "--implementations",
            nargs="+",
            default=None,
            metavar="NAME",
            help="layers to run (default: all; an unknown name is reported with the valid ones)",
        )
        parser.add_argument(
            "--no-memory", action="store_true", help="scripts: skip the peak-RSS subprocesses"
        )
        parser.add_argument("--json", type=Path, default=None, help="scripts: also write the figures here")
        parser.add_argument(
            "--benchmarks-dir",
            type=Path,
            default=None,
            help=f"folder of the benchmark scripts (default: {_DEFAULT_DIR})",
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        script: Path | None = None
        if args.suite != "layers":  # find the script before spending time on anything else
            folder = args.benchmarks_dir or _DEFAULT_DIR
            script = folder / _SCRIPTS[args.suite]
            if not script.is_file():
                raise CLIError(
                    f"--suite {args.suite}: {script} not found (the benchmark scripts ship with the source "
                    "tree; pass --benchmarks-dir)"
                )
        if args.suite in ("layers", "all"):
            cls._layers(args)
        if script is None:
            return EXIT_OK
        forward = ["--quick"] if args.quick else []
        if args.suite == "attention":
            forward += ["--runs", str(args.runs)] if args.runs is not None else []
            forward += ["--no-memory"] if args.no_memory else []
            forward += ["--json", str(args.json)] if args.json is not None else []
        print(f"\n$ {Path(sys.executable).name} {script} {' '.join(forward)}".rstrip(), flush=True)
        code = subprocess.run([sys.executable, str(script), *forward], check=False).returncode
        if code != 0:
            raise CLIError(f"{script.name} failed with exit code {code}", exit_code=EXIT_FOUND_PROBLEM)
        return EXIT_OK

    @classmethod
    def _layers(cls, args: argparse.Namespace) -> None:
        from ..utils._bench_suite import attention_benchmark, format_table

        sizes = dict(
            batch=args.batch,
            seq_len=args.seq_len,
            d_model=args.d_model,
            num_heads=args.num_heads,
            runs=10 if args.runs is None else args.runs,
            warmup=args.warmup,
        )
        if args.quick:
            sizes.update(_QUICK)
        if sizes["warmup"] < 0:
            raise CLIError(f"--warmup must be >= 0, got {sizes['warmup']}")
        if sizes["d_model"] % sizes["num_heads"]:
            raise CLIError(f"--num-heads {sizes['num_heads']} must divide --d-model {sizes['d_model']}")
        try:
            device = torch.device(args.device)
        except RuntimeError:
            raise CLIError(f"--device {args.device!r} is not a device (cpu, cuda, cuda:N)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise CLIError("--device cuda: CUDA is not available on this machine")
        if device.type not in ("cpu", "cuda"):
            raise CLIError(f"--device {args.device!r}: only cpu and cuda are supported")
        rows = attention_benchmark(
            batch=sizes["batch"],
            seq_len=sizes["seq_len"],
            d_model=sizes["d_model"],
            num_heads=sizes["num_heads"],
            num_runs=sizes["runs"],
            warmup_runs=sizes["warmup"],
            device=device,
            dtype=_DTYPES[args.dtype],
            implementations=args.implementations,
        )
        print(
            f"attention benchmark: batch {sizes['batch']}, seq_len {sizes['seq_len']}, "
            f"d_model {sizes['d_model']}, heads {sizes['num_heads']}, {args.dtype} on {device}, "
            f"{sizes['runs']} runs after {sizes['warmup']} warm-up"
        )
        print(format_table(rows))
        print(
            "time in ms (mean, std); memory in MiB (measured peak of one call; estimate: AttentionMemoryOptimizer)"
        )
