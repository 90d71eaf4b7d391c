"""From ``--data`` to :class:`PreparedData`: the data layer's panel, features, walk-forward split and windows.

Every problem that would stop a run is found here, before any training starts: a missing file, a horizon
longer than the data, too few bars for the window, an empty training or validation split.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import DataOptions
from .datamodule import PreparedData

__all__ = ["prepare_data"]

logger = logging.getLogger(__name__)


def _is_dataset_name(data: str) -> bool:
    from ..data import available_datasets

    return data in available_datasets() or (not Path(data).exists() and not any(c in data for c in "/\\."))


def _load_panel(
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], options: DataOptions
) -> tuple[Any, list[Path], str]:
    """(panel, files read, description)."""
    from ..data import align, load_dataset, load_ohlcv

    if isinstance(data, str) and _is_dataset_name(data):
        from ..data.bundled import BUNDLED_DIR

        panel = load_dataset(data, symbols=options.symbols)
        manifest = BUNDLED_DIR / f"{data}.json"
        assets = json.loads(manifest.read_text(encoding="utf-8"))["assets"]
        files = [manifest, *(BUNDLED_DIR / assets[s]["file"] for s in panel.symbols)]
        return panel, files, data
    paths = [Path(data)] if isinstance(data, str | os.PathLike) else [Path(p) for p in data]
    if not paths:
        raise ValueError("--data: no data files given")
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"--data: file not found: {path}")
        if not path.is_file():
            raise IsADirectoryError(f"--data: not a file: {path}")
    frames = [load_ohlcv(p, missing_hours=options.missing_hours, timezone=options.timezone) for p in paths]
    _check_one_interval(paths, frames)
    panel = align(frames)
    if options.symbols is not None:
        panel = panel.select(list(options.symbols))
    return panel, paths, " ".join(str(p) for p in paths)


def _check_one_interval(paths: Sequence[Path], frames: Sequence[Any]) -> None:
    """All files of a run share one bar interval (the loader's inferred ``timeframe``).

    Raises:
        ValueError: the files' intervals differ; the message lists every file with its interval.
    """
    found = {str(p): f.attrs.get("timeframe") for p, f in zip(paths, frames, strict=True)}
    if len({tf for tf in found.values() if tf}) > 1:
        listed = ", ".join(f"{p} ({tf or 'irregular'})" for p, tf in found.items())
        raise ValueError(
            f"--data: the files have different bar intervals: {listed}; a run trains on one interval: "
            "give files of one timeframe (resample the finer ones first)"
        )


def prepare_data(
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    options: DataOptions,
    *,
    data_kind: str,
    horizon: int,
    output_kind: str = "",
    include_test: bool = True,
) -> PreparedData:
    """Load, split and window the data of a run.

    Args:
        data: a bundled dataset name (``"binance-1h"``) or OHLCV files (one asset each).
        options: window length, stride, symbols, timeframe, split dates, embargo.
        data_kind: ``"single_asset"`` or ``"multi_asset"`` (the model's ``DATA_KIND``).
        horizon: the model's ``prediction_horizon`` ``H``: return and volatility targets for ``h = 1..H``.
        output_kind: the model's ``OUTPUT_KIND``; a ``"signal"`` model keeps the data layer's label horizon.
        include_test: also build the test windows (``False`` for tuning: the test split is never read).

    Returns:
        The splits with the feature names, fitted statistics, symbol map and the files read.

    Raises:
        FileNotFoundError: a data file does not exist (named).
        ValueError: the horizon is longer than the data, too few bars for the window, or an empty split.
    """
    from ..data.splits import run_split
    from ..data.windows import MultiAssetWindows, SingleAssetWindows, prepare_panel

    if (
        isinstance(data, list | tuple)
        and len(data) == 1
        and isinstance(data[0], str)
        and _is_dataset_name(data[0])
    ):
        data = data[0]  # a resumed run's record lists the dataset name
    panel, files, description = _load_panel(data, options)
    if options.timeframe is not None:
        panel = panel.resample(options.timeframe)
    bars = int(panel.num_bars)
    signal_horizon = 24 if output_kind == "signal" else horizon  # the labels' horizon (data layer default)
    longest = max(horizon, signal_horizon)
    if longest >= bars:
        raise ValueError(
            f"--data {description}: the horizon ({longest} bars) is longer than the data ({bars} bars)"
        )
    if options.window + longest > bars:
        raise ValueError(
            f"--data {description}: too few bars ({bars}) for data.window={options.window} "
            f"plus the {longest}-bar horizon; use more data or a shorter window"
        )
    split = run_split(
        panel.timestamps, train_end=options.train_end, val_end=options.val_end,
        bundled=isinstance(data, str) and _is_dataset_name(data), horizon=longest, embargo=options.embargo,
        names=("data.train_end", "data.val_end"),
    )  # fmt: skip
    if split.train.size == 0 or int(split.train[-1]) < options.window - 1:
        raise ValueError(
            f"--data {description}: the training split is empty: its {split.train.size} bars hold no complete "
            f"window of data.window={options.window} bars; use more data, a shorter window, or later split dates"
        )
    prepared = prepare_panel(
        panel,
        horizons=tuple(range(1, horizon + 1)),
        signal_horizon=signal_horizon,
        fit_end=split.train_end,
    )

    def windows(positions: Any, stride: int) -> Any:
        if data_kind == "multi_asset":
            return MultiAssetWindows(prepared, options.window, positions=positions, stride=stride)
        return SingleAssetWindows(prepared, options.window, positions=positions, stride=stride)

    test = windows(split.test, 1) if include_test else None
    logger.info("data %s: %s", description, split.describe(panel.timestamps))
    return PreparedData(
        train=windows(split.train, options.stride),
        val=windows(split.val, 1),
        test=test,
        feature_names=list(prepared.feature_names),
        data_kind=data_kind,
        symbols=dict(prepared.symbol_to_id),
        scaler=prepared.scaler.to_dict(),
        files=files,
        bar_seconds=int(panel.step_seconds),
        description=description,
    )
