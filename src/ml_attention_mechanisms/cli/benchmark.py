"""``mlattn benchmark``: time and memory of the library's attention layers, printed as a table.

The figures come from :func:`ml_attention_mechanisms.utils.attention_utils.benchmark_attention_implementations`
(warm-up, synchronisation, peak memory: see its module); the ``backend`` column is the kernel the dispatch
chose, as ``explain_dispatch`` reports it.
"""

from __future__ import annotations

import argparse

import torch

from ._base import EXIT_OK, CLIError, Subcommand

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_QUICK = {"batch": 1, "seq_len": 32, "d_model": 32, "num_heads": 4, "runs": 2, "warmup": 1}


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
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 runs (a smoke test)")
        parser.add_argument("--batch", type=_positive, default=2, help="batch size (default 2)")
        parser.add_argument("--seq-len", type=_positive, default=256, help="sequence length (default 256)")
        parser.add_argument("--d-model", type=_positive, default=128, help="model width (default 128)")
        parser.add_argument("--num-heads", type=_positive, default=4, help="attention heads (default 4)")
        parser.add_argument("--runs", type=_positive, default=10, help="timed runs per layer (default 10)")
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

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..utils._bench_suite import attention_benchmark, format_table

        sizes = dict(
            batch=args.batch,
            seq_len=args.seq_len,
            d_model=args.d_model,
            num_heads=args.num_heads,
            runs=args.runs,
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
        return EXIT_OK
