"""``mlattn tune``: hyperparameter search on the validation split (see ``ml_attention_mechanisms.training.tune``)."""

from __future__ import annotations

import argparse

from ._arguments import positive_int
from ._base import EXIT_OK, CLIError, Subcommand
from .train import add_data_arguments, data_argument, data_error, run_config


class Tune(Subcommand):
    name = "tune"
    help = "search hyperparameters on the validation split (Optuna); writes the best config as YAML"
    extras = ("data", "train")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_data_arguments(parser)
        parser.add_argument("--trials", type=positive_int, default=20, help="number of trials (default 20)")
        parser.add_argument(
            "--timeout", type=float, metavar="SECONDS", help="stop starting trials after this"
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        import logging

        from ..training.tune import tune

        # Optuna announces its in-memory study by a generated name that nothing else shows
        logging.getLogger("optuna.storages._in_memory").setLevel(logging.WARNING)

        if not args.model:
            raise CLIError("--model: required")
        if args.config is not None and not args.config.is_file():
            raise CLIError(f"--config: file not found: {args.config}")
        if args.timeout is not None and not args.timeout > 0:
            raise CLIError(f"--timeout {args.timeout}: expected seconds > 0")
        data = data_argument(args.data)
        try:
            result = tune(
                args.model,
                data,
                config=run_config(args, data),
                trials=args.trials,
                out=args.out,
                max_epochs=args.max_epochs,
                seed=args.seed,
                timeout_s=args.timeout,
            )
        except ValueError as exc:
            mapped = data_error(exc, data)
            if mapped is exc:
                raise
            raise mapped from exc
        print(f"best val_loss {result.best_val_loss:.6g} after {result.trials} trials: {result.best_params}")
        print(f"best config: {result.config_path}")
        return EXIT_OK
