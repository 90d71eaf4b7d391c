"""What ``evaluate``, ``predict`` and ``backtest --run`` start from: a finished run's models, its stored
calibration and config, and other data prepared with the run's statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._data import DemoData
from ._files import load_files_panel
from ._models import RunModel, load_run_models

__all__ = ["RunInputs", "input_files", "load_run_inputs"]


@dataclass(eq=False)
class RunInputs:
    """A run's models (kind -> model and payload), stored calibration and config, and the data to use them on.

    Attributes:
        models: kind -> the trained model and its checkpoint payload.
        calibration: the run's ``calibration.json``.
        config: the run's ``demo_config.json``.
        data: the other data, prepared with the run's scaler.
        window: bars per input window of the run's models.
    """

    models: dict[str, RunModel]
    calibration: dict[str, Any]
    config: dict[str, Any]
    data: DemoData
    window: int


def _window(models: Mapping[str, RunModel], config: Mapping[str, Any]) -> int:
    if "window" in config:
        return int(config["window"])
    return int(next(iter(models.values()))[0].config.attention_window)  # type: ignore[union-attr,arg-type]


def load_run_inputs(
    run: str | Path,
    data_files: Sequence[str | Path],
    *,
    start: str | None,
    end: str | None,
    predict: bool = False,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> RunInputs:
    """Load a run and prepare ``data_files`` with its statistics (see :func:`._files.load_files_panel`:
    ``predict=True`` needs only the forecasts' history, not the baselines'; ``missing_hours`` is how the
    files' hours without trades are read; ``timezone`` the zone of their times written without one).

    Raises:
        FileNotFoundError: a missing run directory or data file.
        ValueError: not a finished ``mlattn demo`` run, no data files, or data the run cannot use.
    """
    from ..training.checkpoint import checkpoint_bar_seconds

    models, calibration, config = load_run_models(run)
    if not data_files:
        raise ValueError("--data: give at least one OHLCV file")
    window = _window(models, config)
    payload = next(iter(models.values()))[1]
    data = load_files_panel(
        data_files, scaler=payload["scaler"], window=window, predict=predict, start=start, end=end,
        bar_seconds=checkpoint_bar_seconds(payload), missing_hours=missing_hours, timezone=timezone,
    )  # fmt: skip
    return RunInputs(models, calibration, config, data, window)


def input_files(run: str | Path, data_files: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """``(option, file)`` of every file ``evaluate``/``predict``/``backtest --run`` read: the data files and
    the run's checkpoints, ``calibration.json``, ``demo_config.json`` and ``metrics.json`` (for
    :func:`..utils._paths.refuse_output_over_input`)."""
    root = Path(run)
    files = [("--data", Path(f)) for f in data_files]
    files += [("--run", p) for p in sorted((root / "checkpoints").glob("*.ckpt"))]
    files += [("--run", root / name) for name in ("calibration.json", "demo_config.json", "metrics.json")]
    return files
