"""One fold's price model scored on one asset's test block against HAR-RV, GARCH(1,1) and the zero return:
the row of the walk-forward and leave-one-asset-out tables of ``mlattn demo --full``.

Shapes:
    T: bars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._import_guard import needs_extra
from ..data.loader import known_asset_id
from ._data import HORIZON, DemoData, asset_column, first_bar, priced_bars
from ._forecast import forecast_single

if TYPE_CHECKING:
    from ..data import Split
    from ._train import TrainedModel
    from .config import DemoConfig

__all__ = ["fold_row"]


def fold_row(
    k: int, split: Split, trained: TrainedModel, data: DemoData, cfg: DemoConfig, asset: str
) -> dict[str, Any]:
    """One fold's figures for one asset: the fold's model forecasts it (with its own id, or the unknown
    asset's when its training data did not contain it: ``seen``) and its variance forecast, as it is (the
    anchor times the residual weighted on the fold's validation block), is scored on the fold's test block
    against the baselines, which read the asset's own bars from its first one."""
    with needs_extra("data"):
        import pandas as pd

    from ..evaluation.suite import evaluate_asset_forecasts

    def iso(pos: int) -> str:
        return pd.Timestamp(int(data.timestamps[pos]), unit="s", tz="UTC").strftime("%Y-%m-%d")

    ids = trained.payload.get("symbols") or {}
    col = asset_column(data, asset)
    asset_id = known_asset_id(data.symbols[col], ids)  # 0: the fold's model never saw the coin
    lo, t0, t1 = int(split.val[0]), int(split.test[0]), int(split.test[-1]) + 1
    f = forecast_single(trained.model, "price", data.prepared, col, np.arange(t0, t1), window=cfg.window,
                        asset_id=asset_id)  # fmt: skip
    first = first_bar(data, col)
    r, f = data.returns[first:, col], {key: v[first:] for key, v in f.items() if key != "_positions"}
    res = evaluate_asset_forecasts(
        r, test_start=t0 - first, test_end=t1 - first, train_end=lo - first if lo > first else t0 - first,
        return_forecast=f["return"], variance_forecast=f["variance"], horizon=HORIZON,
        refit_every=cfg.refit_every, observed=priced_bars(data)[first:, col],
    )  # fmt: skip
    vol = res["volatility"]
    best = min(vol["har_rv"]["qlike"], vol["garch"]["qlike"])
    return {
        "fold": k, "asset": asset, "seen": asset_id != 0, "train_to": iso(int(split.train[-1])),
        "test": f"{iso(t0)}..{iso(t1 - 1)}", "qlike_model": vol["model"]["qlike"],
        "qlike_har_rv": vol["har_rv"]["qlike"], "qlike_garch": vol["garch"]["qlike"],
        "qlike_vs_best_baseline": vol["model"]["qlike"] / best - 1.0, "rmse_model": res["returns"]["model"]["rmse"],
        "rmse_zero": res["returns"]["zero"]["rmse"], "epochs": trained.epochs,
    }  # fmt: skip
