"""A run's models: their kind (from the model registry), and the trained models of a run directory.

A run holds at most one model of each kind (``"price"``, ``"risk"``, ``"signal"``, ``"portfolio"``: the
registry's ``ModelEntry.output_kind``); everything downstream is keyed by that kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from torch import nn

from ..evaluation.metrics_io import read_json_object
from ._calibration_file import check_calibration
from ._data import base_symbol

__all__ = ["RunModel", "data_kind", "load_run_models", "model_kind", "training_assets"]


class RunModel(NamedTuple):
    """A trained model and its checkpoint payload (config, feature names, scaler, symbols, model type)."""

    model: nn.Module
    payload: dict[str, Any]


def training_assets(models: Mapping[str, RunModel]) -> tuple[str, ...]:
    """The assets the run's training data contained ("seen"; ``"BTC"``...): the base symbols of its
    checkpoints' ``symbols`` (the assets with an id of their own), over every model of the run."""
    names: dict[str, None] = {}
    for _, payload in models.values():
        for symbol in payload.get("symbols") or {}:
            names[base_symbol(str(symbol))] = None
    return tuple(names)


def model_kind(model_type: str) -> str:
    """The kind of a registered model (``ModelEntry.output_kind``: price, risk, signal or portfolio).

    Raises:
        ValueError: ``model_type`` is not registered (the message lists the registered names).
    """
    from ..models import get_model_entry

    return get_model_entry(model_type).output_kind


def data_kind(model_type: str) -> str:
    """How a registered model reads data (``ModelEntry.data_kind``: single_asset or multi_asset)."""
    from ..models import get_model_entry

    return get_model_entry(model_type).data_kind


def load_run_models(run: str | Path) -> tuple[dict[str, RunModel], dict[str, Any], dict[str, Any]]:
    """The trained models of a run directory: ``(models by kind, calibration, demo config dict)``.

    Raises:
        FileNotFoundError: the directory does not exist.
        ValueError: no ``checkpoints/*.ckpt`` in it, no ``calibration.json``/``demo_config.json`` (not a
            finished ``mlattn demo`` run: a ``mlattn train`` run is named as such), two checkpoints of one
            kind of model, a checkpoint refused by ``load_checkpoint`` (damaged, NaN weights, ...), or a
            ``calibration.json``/``demo_config.json`` that is not valid JSON or breaks its rules (each named).
    """
    from ..training import load_checkpoint

    root = Path(run)
    if not root.is_dir():
        raise FileNotFoundError(f"--run {root}: no such directory")
    ckpts = sorted((root / "checkpoints").glob("*.ckpt"))
    if not ckpts:
        raise ValueError(f"--run {root}: no checkpoints (expected checkpoints/*.ckpt from `mlattn demo`)")
    cal_file, cfg_file = root / "calibration.json", root / "demo_config.json"
    if (root / "run.json").is_file() and not cfg_file.is_file():
        raise ValueError(
            f"--run {root}: a `mlattn train` run (checkpoints best/last, no calibration); --run takes a "
            "`mlattn demo` run directory (its models, calibration.json and demo_config.json)"
        )
    for needed in (cal_file, cfg_file):
        if not needed.is_file():
            raise ValueError(f"--run {root}: no {needed.name} (an unfinished or damaged `mlattn demo` run)")
    models: dict[str, RunModel] = {}
    files: dict[str, str] = {}
    for path in ckpts:
        model, payload = load_checkpoint(path)
        kind = model_kind(str(payload["model_type"]))
        if kind in models:
            raise ValueError(
                f"--run {root}: two {kind} models ({files[kind]}, {path.name}); "
                "expected one checkpoint per kind of model"
            )
        files[kind] = path.name
        models[kind] = RunModel(model, payload)
    calibration = check_calibration(read_json_object(cal_file), str(cal_file))
    config = read_json_object(cfg_file)
    window = config.get("window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ValueError(f"{cfg_file}: window={window!r}: expected an int >= 1")
    return models, calibration, config
