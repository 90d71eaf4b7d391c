"""``mlattn train``: train a registry model on market data (see ``ml_attention_mechanisms.training.train``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._arguments import add_missing_hours, flag_names, positive_int, reading_options
from ._base import EXIT_OK, CLIError, Subcommand


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--data``, ``--missing-hours``, ``--timezone``, ``--config``, ``--max-epochs``, ``--seed``,
    ``--out`` (shared with ``tune``)."""
    parser.add_argument("--model", help="registry name, e.g. price_predictor_small (mlattn list-models)")
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="binance-1h|FILE",
        help="the bundled dataset 'binance-1h' or OHLCV files (CSV/Parquet, one asset per file)",
    )
    add_missing_hours(parser, default=None)
    parser.add_argument("--config", type=Path, help="YAML run config (sections model, data, training)")
    parser.add_argument("--max-epochs", type=positive_int, help="epochs (overrides training.max_epochs)")
    parser.add_argument("--seed", type=int, help="random seed (overrides training.seed)")
    parser.add_argument("--out", type=Path, help="output directory (default runs/<model>-<UTC time>)")


def data_argument(values: list[str] | None) -> str | list[str]:
    """``--data`` as ``train`` takes it: the dataset name alone, or the list of files."""
    if not values:
        raise CLIError("--data: required (binance-1h or OHLCV files)")
    if len(values) == 1 and not Path(values[0]).exists() and "/" not in values[0] and "." not in values[0]:
        return values[0]  # a dataset name such as binance-1h
    missing = [v for v in values if not Path(v).exists()]
    if missing:
        raise CLIError(f"--data: file not found: {missing[0]}")
    return list(values)


def run_config(args: argparse.Namespace, data: str | list[str] | None) -> Any:
    """``--config`` (a path, or None for the defaults) with ``--missing-hours`` and ``--timezone`` written
    into its data section (``DataOptions.missing_hours``, ``DataOptions.timezone``) when given.

    Raises:
        CLIError: ``--missing-hours`` or ``--timezone`` with the bundled dataset, whose bars it does not read.
    """
    given = reading_options(args)
    if not given:
        return args.config
    if isinstance(data, str):
        raise CLIError(f"{flag_names(given)}: reads data files; the bundled dataset {data} has its own bars")
    import dataclasses

    from ..config import replace_config
    from ..training.config import RunConfig, load_run_config

    cfg = RunConfig() if args.config is None else load_run_config(args.config)
    return dataclasses.replace(cfg, data=replace_config(cfg.data, **given))


class Train(Subcommand):
    name = "train"
    help = "train a model (checkpoints best/last, resumable, DDP with --devices/--num-nodes)"
    extras = ("data", "train")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_data_arguments(parser)
        parser.add_argument("--devices", type=positive_int, help="processes (GPUs or CPU processes) per node")
        parser.add_argument("--num-nodes", type=positive_int, help="machines")
        parser.add_argument("--strategy", choices=["auto", "ddp", "ddp_spawn"], help="distribution strategy")
        parser.add_argument("--accelerator", choices=["auto", "cpu", "cuda", "gpu"], help="device kind")
        parser.add_argument(
            "--precision",
            choices=["32", "bf16-mixed"],
            help="float32 or bfloat16 mixed precision (sets the model's use_mixed_precision too)",
        )
        parser.add_argument("--batch-size", type=positive_int, help="windows per step and process")
        parser.add_argument(
            "--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint"
        )
        parser.add_argument(
            "--overwrite", action="store_true", help="replace the run already in --out (refused without it)"
        )
        parser.add_argument(
            "--deterministic", action="store_true", default=None, help="deterministic algorithms (slower)"
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..training.checkpoint import UnsafeCheckpointError
        from ..training.run import train

        if args.resume is None and not args.model:
            raise CLIError("--model: required (or --resume RUN_DIR)")
        if args.resume is not None and not args.resume.is_dir():
            raise CLIError(f"--resume: run directory not found: {args.resume}")
        if args.resume is not None and (args.out is not None or args.overwrite):
            raise CLIError("--out/--overwrite: not with --resume (the run continues in its own directory)")
        if args.resume is not None and reading_options(args):
            raise CLIError(
                f"{flag_names(reading_options(args))}: not with --resume (the run reads its data as it did)"
            )
        if args.config is not None and not args.config.is_file():
            raise CLIError(f"--config: file not found: {args.config}")
        data = data_argument(args.data) if (args.data or args.resume is None) else None
        try:
            result = train(
                args.model,
                data,
                config=run_config(args, data),
                max_epochs=args.max_epochs,
                batch_size=args.batch_size,
                devices=args.devices,
                num_nodes=args.num_nodes,
                strategy=args.strategy,
                precision=args.precision,
                accelerator=args.accelerator,
                seed=args.seed,
                deterministic=args.deterministic,
                resume=args.resume,
                out=args.out,
                overwrite=args.overwrite,
            )
        except UnsafeCheckpointError as exc:
            raise CLIError(str(exc)) from exc
        except ValueError as exc:
            mapped = data_error(exc, data)
            if mapped is exc:
                raise
            raise mapped from exc
        if not result.is_global_zero:
            return EXIT_OK  # other DDP ranks: rank 0 reports
        loss = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.6g}"
        print(f"run: {result.run_dir}")
        print(f"best checkpoint: {result.best_checkpoint} (val_loss {loss}); last: {result.last_checkpoint}")
        print(f"epochs: {result.epochs}; {result.windows_per_second:.1f} windows/s")
        if result.bar_seconds:
            from ..data.validation import timeframe_name

            print(
                f"bars: {timeframe_name(result.bar_seconds)} ({result.bar_seconds} s, recorded in run.json)"
            )
        return EXIT_OK


def data_error(exc: ValueError, data: str | list[str] | None) -> Exception:
    """The data layer's messages that speak of its API, said in terms of ``--data`` (a :class:`CLIError`);
    any other error is returned as it is."""
    import re

    text = str(exc)
    files = [data] if isinstance(data, str) else list(data or [])
    given = "--data " + " ".join(files) if files else "the data"
    if text.startswith("FeatureScaler.fit: no training rows"):
        return CLIError(
            f"{given}: too few bars to train on: no bar of the training split is past the features' "
            "warm-up (up to 96 bars) and their trailing scaling's first 168 bars; give more bars"
        )
    if text.startswith("VarianceAnchor.fit:"):
        return CLIError(
            f"{given}: too few bars to train on: the variance anchor (each asset's scale) needs "
            f"{text.split('expected at least ')[-1].split(';')[0]} training bars with a level (past the first "
            "168 bars) and a 24-bar target; give more bars"
        )
    m = re.match(r"align: frame (\d+) has no symbol", text)
    if m and int(m.group(1)) < len(files):
        return CLIError(
            f"--data {files[int(m.group(1))]}: no symbol (no symbol column, and the file name names none); "
            "name the file after its pair, e.g. BTCUSDT_1h.csv"
        )
    if text.startswith("align: duplicate symbols"):
        return CLIError(f"{given}: {text.removeprefix('align: ')}; expected one file per asset")
    return exc
