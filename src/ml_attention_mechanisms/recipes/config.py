"""What ``mlattn demo`` runs: :class:`DemoConfig` (models, data, split, training budget, baselines' budget).

Budget (default :class:`DemoConfig`): a fixed-seed subsample of ``train_windows`` training windows per
model, at most ``max_epochs x steps_per_epoch`` optimiser steps, early stopping on ``val_windows``
validation windows; then once more per entry of ``budgets`` (more windows and epochs), keeping the lower
validation loss, or the higher validation net Sharpe for the strategy models; the price model then trains
``ensemble - 1`` more times on other seeds, with the kept budget, and the run forecasts with their average
(the whole ``mlattn demo`` takes minutes on 2 CPU cores: docs/evaluation.md gives the measured time of the
latest run).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import check_field
from ..evaluation.backtest import VolTargetConfig
from ._models import model_kind

if TYPE_CHECKING:
    from ._data import DemoData

__all__ = ["BAR_ASSETS", "DEMO_ASSETS", "DEMO_MODELS", "DemoConfig"]

DEMO_MODELS = (
    "price_predictor_small",
    "risk_assessor_small",
    "signal_generator_small",
    "portfolio_optimizer_small",
)
BAR_ASSETS = ("BTC", "ETH", "LTC")  # the assets the correlation head reads
DEMO_ASSETS = ("BTC", "ETH", "LTC", "BNB", "ADA")  # BNB, ADA start after the training split: unseen coins


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What ``mlattn demo`` runs (see the module docstring for the budget).

    Args:
        models: registry names trained, at most one of each kind (price, risk, signal, portfolio).
            Default: the four small presets.
        assets: assets the single-asset models are evaluated on (each judged by the bar, as seen or unseen
            in training). Default: every asset of the data: BTC, ETH, LTC, BNB, ADA for the bundled dataset,
            each file's asset, in the order given, with ``data``.
        dataset: bundled dataset (unused with ``data``). Default: ``"binance-1h"``.
        data: OHLCV files (any export ``load_ohlcv`` reads, one asset each, hourly or shorter bars, which are
            aggregated into hourly ones) the run trains and is scored on instead of the bundled dataset;
            without ``train_end``/``val_end`` the first 70% of the bars train and the next 15% validate.
            Default: () (the bundled dataset).
        missing_hours: how the files' hours without trades are read (``load_ohlcv``'s: ``"auto"``,
            ``"no-trades"`` or ``"absent"``; with ``data``). Default: ``"auto"``.
        timezone: the zone of the files' times written without one (``load_ohlcv``'s; only with ``data``).
            Default: None (UTC).
        start: first bar kept; ``None`` = from the first. Default: None.
        end: last bar kept; ``None`` = to the last. Default: None.
        train_end: last bar of the training split; ``None`` = the dataset's default split. Default: None.
        val_end: last bar of the validation split; ``None`` = the dataset's default split. Default: None.
        window: bars per input window (the small presets' attention window). Default: 64.
        train_windows: fixed-seed subsample of training windows per model. Default: 6144.
        val_windows: fixed-seed subsample of validation windows for early stopping. Default: 1024.
        max_epochs: training epochs per model at most. Default: 4.
        budgets: further ``(train_windows, max_epochs)`` budgets each of ``models`` also trains with (same
            steps per epoch, validation windows, early stopping and seed); the demo keeps, per model, the
            training with the lowest best validation loss, for the signal and portfolio models the one whose
            sized strategy has the highest validation net Sharpe (the first budget on a tie). With ``full``, the
            walk-forward and leave-one-asset-out folds train with the first budget, the ablations with the one
            the demo's model was kept with. Default: ((16384, 10),).
        steps_per_epoch: optimiser steps per epoch. Default: 75.
        batch_size: windows per step. Default: 64.
        patience: epochs without a better validation loss before stopping. Default: 2.
        learning_rate: AdamW's peak learning rate. Default: 1e-3.
        ensemble: price models in the run's ensemble: the kept price model, then one more training per extra
            member with its budget on seeds ``seed + 1``, ``seed + 2``, ...; their forecasts are averaged
            (:class:`~ml_attention_mechanisms.models.ModelEnsemble`) before the calibration. With ``full``, the
            folds and ablations train one price model each. Default: 3 (1 in ``quick``).
        model_overrides: config overrides for every model (e.g. tinier models in ``quick``). Default: {}.
        refit_every: refit interval of the rolling baselines (ridge, HAR-RV, GARCH). Default: 168.
        n_boot: bootstrap draws of the Sharpe intervals. Default: 1000.
        n_sims: simulations of the Acerbi-Szekely ES test. Default: 1000.
        learner_iter: the non-attention learner's boosting iterations. Default: 100.
        learner_rows: the non-attention learner's training rows. Default: 10000.
        val_stride: the risk model's calibration is fitted on every ``val_stride``-th validation bar (it
            forecasts every bar of the last 744, which the test's rolling calibration reads). Default: 3.
        target_vols: the annualised target volatilities the strategies' sizing is chosen from on the
            validation split. Default: (0.3, 0.5, 0.7, 0.9).
        bands: the no-trade bands (relative to the position held) chosen from with ``target_vols``.
            Default: (0, 0.1, 0.2, 0.4).
        threads: torch intra-op threads during the run. Default: 1.
        full: walk-forward folds, leave-one-asset-out folds and ablations too. Default: False.
        n_folds: walk-forward folds with ``full``. Default: 4.
        loao_max_epochs: epochs of each leave-one-asset-out fold's price model (the demo's steps per epoch,
            windows and seed). Default: 2 (half the demo's 4: the three folds fit ``--full``'s budget).
        seed: every random choice. Default: 0.

    Raises:
        ValueError: a field breaks its rule (message names field, value and rule).
    """

    models: tuple[str, ...] = DEMO_MODELS
    assets: tuple[str, ...] = ()
    dataset: str = "binance-1h"
    data: tuple[str, ...] = ()
    missing_hours: str = "auto"
    timezone: str | None = None
    start: str | None = None
    end: str | None = None
    train_end: str | None = None
    val_end: str | None = None
    window: int = 64  # the small presets' attention window
    train_windows: int | None = 6144  # ~9% of the 69k training windows
    val_windows: int | None = 1024
    max_epochs: int = 4
    budgets: tuple[tuple[int, int], ...] = ((16384, 10),)  # early stopping ends most after 3-8 epochs
    steps_per_epoch: int | None = 75  # 4 x 75 steps of 64 windows: each subsampled window seen ~3 times
    batch_size: int = 64
    patience: int = 2
    learning_rate: float = 1e-3  # few steps: a higher peak rate than training's default 3e-4
    ensemble: int = 3  # averaging 3 seeds' price models removes most of one training's seed-to-seed spread
    model_overrides: dict[str, Any] = field(default_factory=dict)
    refit_every: int = 168  # weekly refits of the rolling baselines
    n_boot: int = 1000
    n_sims: int = 1000
    learner_iter: int = 100
    learner_rows: int | None = 10000
    val_stride: int = 3  # the VaR calibration is fitted on every 3rd validation bar (1,400+ rows per asset)
    target_vols: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)  # BTC ran at 0.5-1.0 a year in 2020-21, alts higher
    bands: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)  # 0: trade every change of size; 0.4: rarely resize
    threads: int = 1  # torch threads: on 2 busy CPU cores, 2 threads made a step 7x slower (measured)
    full: bool = False
    n_folds: int = 4
    loao_max_epochs: int = 2  # three folds in --full's ~10 minutes
    seed: int = 0

    def __post_init__(self) -> None:
        n = "DemoConfig"
        check_field(len(self.models) > 0, n, "models", self.models, "must name at least one model")
        kinds: dict[str, str] = {}
        for m in self.models:
            try:
                kind = model_kind(m)
            except ValueError:
                kind = ""
            check_field(kind != "", n, "models", m, f"must be a registered model, e.g. one of {DEMO_MODELS}")
            check_field(
                kind not in kinds,
                n,
                "models",
                m,
                f"must not repeat a kind of model ({kinds.get(kind)} is {kind})",
            )
            kinds[kind] = m
        if not self.data and not self.assets:  # the bundled dataset's assets, in the order the bar reads them
            object.__setattr__(self, "assets", DEMO_ASSETS)
        files = (self.data,) if isinstance(self.data, str | os.PathLike) else self.data
        object.__setattr__(self, "data", tuple(os.fspath(f) for f in files))
        check_field(
            all(isinstance(a, str) and a for a in self.assets),
            n,
            "assets",
            self.assets,
            "must be asset names",
        )
        from ..data.loader import MISSING_HOURS, parse_timezone

        check_field(
            self.missing_hours in MISSING_HOURS,
            n,
            "missing_hours",
            self.missing_hours,
            f"must be one of {MISSING_HOURS}",
        )
        if self.timezone is not None:
            check_field(
                bool(self.data), n, "timezone", self.timezone, "applies to data files only (set data)"
            )
            try:
                parse_timezone(self.timezone)
            except ValueError as exc:
                check_field(False, n, "timezone", self.timezone, str(exc).split(": ", 1)[-1])
        for name in (
            "window", "max_epochs", "batch_size", "refit_every", "n_boot", "n_sims", "learner_iter", "val_stride", "threads",
            "loao_max_epochs", "ensemble",
        ):  # fmt: skip
            v = getattr(self, name)
            check_field(isinstance(v, int) and v >= 1, n, name, v, "must be an int >= 1")
        check_field(self.window >= 2, n, "window", self.window, "must be >= 2")
        for b in self.budgets:
            ok = isinstance(b, tuple) and len(b) == 2 and all(isinstance(x, int) and x >= 1 for x in b)
            check_field(
                ok, n, "budgets", self.budgets, "must be (train_windows, max_epochs) pairs of ints >= 1"
            )
        check_field(self.patience >= 0, n, "patience", self.patience, "must be >= 0")
        check_field(self.n_folds >= 1, n, "n_folds", self.n_folds, "must be >= 1")
        check_field(self.learning_rate > 0, n, "learning_rate", self.learning_rate, "must be > 0")
        for name, rule in (("target_vols", "> 0"), ("bands", ">= 0")):
            v = getattr(self, name)
            numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
            ok = len(v) > 0 and numbers and all(x > 0 if rule == "> 0" else x >= 0 for x in v)
            check_field(ok, n, name, v, f"must be a non-empty tuple of numbers {rule}")
        from ._files import parse_time

        for name in ("start", "end", "train_end", "val_end"):
            v = getattr(self, name)
            try:
                if v is not None:
                    parse_time(v, name)
            except ValueError:
                check_field(False, n, name, v, "must be an ISO 8601 date/time, e.g. 2021-06-01 or 2021-06-01T12:00 "
                            "(UTC unless it carries an offset)")  # fmt: skip

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        """A run of seconds on a short slice (for tests), producing every artefact."""
        base: dict[str, Any] = dict(
            start="2020-08-01", end="2020-12-24 23:00", train_end="2020-11-30 23:00", val_end="2020-12-12 23:00",
            window=16, train_windows=128, val_windows=64, max_epochs=1, steps_per_epoch=2, batch_size=32,
            model_overrides={"d_model": 16, "num_heads": 2, "num_encoder_layers": 1, "d_ff": 32, "attention_window": 16},
            refit_every=400, n_boot=50, n_sims=50, learner_iter=10, learner_rows=1000, n_folds=4, loao_max_epochs=1,
            budgets=((256, 1),), ensemble=1,
        )  # fmt: skip
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any], *, assets: tuple[str, ...], window: int) -> DemoConfig:
        """The config a run stored in ``demo_config.json`` (unknown keys ignored), for other ``assets``."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kept: dict[str, Any] = {
            k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
            for k, v in stored.items()
            if k in fields and k != "assets"
        }
        kept.setdefault("budgets", ())  # a run stored before training budgets trained with one
        kept.setdefault("ensemble", 1)  # and one before ensembles, one price model
        return dataclasses.replace(cls(**kept), assets=assets, window=window)

    def vol_targets(self) -> list[VolTargetConfig]:
        """The sizing candidates: every target volatility with every band (long/flat, no leverage)."""
        return [
            VolTargetConfig(target_vol=float(t), band=float(b)) for t in self.target_vols for b in self.bands
        ]

    def main_assets(self, data: DemoData) -> tuple[str, ...]:
        """The assets the risk model's correlation head reads and ``full``'s folds and ablations score: BTC,
        ETH and LTC of the bundled data (BNB and ADA list inside the first fold's test block); with ``data``
        files, the first three of ``assets`` that have a bar in the data's first day (history before every
        fold)."""
        if not self.data:
            return tuple(a for a in self.assets if a in BAR_ASSETS)
        from ._data import HORIZON, asset_column, first_bar

        listed = [a for a in self.assets if first_bar(data, asset_column(data, a)) < HORIZON]
        return tuple(listed[:3])

    def training_budgets(self) -> list[DemoConfig]:
        """This config, then one per entry of ``budgets`` with its ``train_windows`` and ``max_epochs``."""
        return [self] + [
            dataclasses.replace(self, train_windows=w, max_epochs=e, budgets=()) for w, e in self.budgets
        ]

    def batch_size_for(self, model_type: str) -> int:
        """Windows per step of ``model_type``: the portfolio model reads every asset of a window (5 series
        per sample), so it takes a quarter of the batch to keep its step cost near the single-asset models'
        (measured: 1.2 s vs 0.2 s)."""
        if model_kind(model_type) == "portfolio":
            return max(4, self.batch_size // 4)
        return self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists), as ``demo_config.json`` and ``metrics.json`` store it."""
        return {
            **dataclasses.asdict(self),
            "models": list(self.models),
            "assets": list(self.assets),
            "data": list(self.data),
            "budgets": [list(b) for b in self.budgets],
        }
