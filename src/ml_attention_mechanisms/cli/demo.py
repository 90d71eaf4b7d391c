"""``mlattn demo``: train the four small models on the bundled data and score them against baselines.

Trains the small preset of each of the four models on the bundled 5-asset hourly data with the default split,
chooses everything on validation only (the strategies' volatility targeting included), scores the test split
against every baseline with the significance tests (BNB and ADA as coins unseen in training) and a backtest
after 10 bps fees, and writes ``metrics.json``, ``report.html``, the PNG plots,
checkpoints and the resolved config to ``runs/demo/`` (or ``--out``). See
:mod:`ml_attention_mechanisms.recipes.demo`.
"""

from __future__ import annotations

import argparse

from ._base import EXIT_OK, Subcommand


class Demo(Subcommand):
    name = "demo"
    help = (
        "train the four small models on the bundled hourly data, calibrate them on validation, score them "
        "on the test split against baselines (metrics.json, report.html, checkpoints)"
    )
    extras = ("data", "train", "eval", "viz")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
        parser.add_argument(
            "--full",
            action="store_true",
            help="add the walk-forward folds, the leave-one-asset-out folds and the ablations (takes longer)",
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help="a tiny run of seconds on a short slice (tests), every artefact (with --full: tiny folds too)",
        )
        parser.add_argument(
            "--models",
            nargs="+",
            default=None,
            metavar="MODEL",
            help="train only these presets (default: all four)",
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        import logging
        import warnings

        from ..recipes import DemoConfig, run_demo

        overrides: dict[str, object] = {"seed": args.seed}
        if args.models:
            overrides["models"] = tuple(args.models)
        if args.full:
            overrides["full"] = True
        cfg = DemoConfig.quick(**overrides) if args.quick else DemoConfig(**overrides)  # type: ignore[arg-type]
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="lightning")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        result = run_demo(cfg, args.out, progress=not args.no_progress)
        print(result.table)
        print(f"wrote {result.out}/metrics.json, report.html, PNGs, checkpoints/ in {result.seconds:.0f} s")
        return EXIT_OK
