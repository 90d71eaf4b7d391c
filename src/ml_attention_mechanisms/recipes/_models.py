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

__all__ = [
    "RunModel",
    "data_kind",
    "ensemble_member_payload",
    "load_run_models",
    "model_kind",
    "training_assets",
]

ENSEMBLE_KEY = "ensemble"  # a member checkpoint's {"member": i, "members": K}
_SHARED_KEYS = ("model_type", "feature_names", "scaler", "symbols")  # equal in every member of an ensemble


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
            finished ``mlattn demo`` run: a ``mlattn train`` run is named as such), several checkpoints of
            one kind of model that are not the members of one ensemble, a checkpoint refused by
            ``load_checkpoint`` (damaged, NaN weights, ...), or a ``calibration.json``/``demo_config.json``
            that is not valid JSON or breaks its rules (each named).

    Several checkpoints of one kind are the members of an ensemble (marked by
    :func:`ensemble_member_payload`) and load as one :class:`~ml_attention_mechanisms.models.ModelEnsemble`:
    members ``0..K-1`` of one model type, read with the same features, scaler and symbols.
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
    loaded: dict[str, list[tuple[Path, RunModel]]] = {}
    for path in ckpts:
        model, payload = load_checkpoint(path)
        loaded.setdefault(model_kind(str(payload["model_type"])), []).append((path, RunModel(model, payload)))
    models = {kind: _one_model(root, kind, found) for kind, found in loaded.items()}
    calibration = check_calibration(read_json_object(cal_file), str(cal_file))
    config = read_json_object(cfg_file)
    window = config.get("window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ValueError(f"{cfg_file}: window={window!r}: expected an int >= 1")
    return models, calibration, config


def ensemble_member_payload(payload: dict[str, Any], member: int, members: int) -> dict[str, Any]:
    """``payload`` marked as member ``member`` of an ensemble of ``members`` checkpoints of one kind."""
    return {**payload, ENSEMBLE_KEY: {"member": int(member), "members": int(members)}}


def _one_model(root: Path, kind: str, found: list[tuple[Path, RunModel]]) -> RunModel:
    """The run's model of ``kind``: its one checkpoint, or the ensemble its member checkpoints make."""
    from ..models import ModelEnsemble

    if len(found) == 1 and ENSEMBLE_KEY not in found[0][1].payload:
        return found[0][1]
    names = ", ".join(p.name for p, _ in found)
    marks = [rm.payload.get(ENSEMBLE_KEY) for _, rm in found]
    expected = [{"member": i, "members": len(found)} for i in range(len(found))]
    if sorted(marks, key=lambda m: m.get("member", -1) if isinstance(m, dict) else -1) != expected:
        raise ValueError(
            f"--run {root}: {kind} model checkpoints {names} are neither one checkpoint of that kind nor the "
            f"members 0..K-1 of one ensemble (their ensemble marks: {marks})"
        )
    found = sorted(found, key=lambda f: f[1].payload[ENSEMBLE_KEY]["member"])
    first = found[0][1].payload
    for path, (_, payload) in found[1:]:
        differ = [k for k in _SHARED_KEYS if payload.get(k) != first.get(k)]
        if differ:
            raise ValueError(
                f"--run {root}: ensemble member {path.name} differs from {found[0][0].name} in {differ}; "
                "expected members of one model type, read with the same features, scaler and symbols"
            )
    try:
        ensemble = ModelEnsemble([rm.model for _, rm in found])
    except ValueError as exc:
        raise ValueError(f"--run {root}: checkpoints {names}: {exc}") from exc
    return RunModel(ensemble.eval(), first)
