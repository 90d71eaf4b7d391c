"""Checkpoints: atomic writes, safe reads, and a model rebuilt from one file.

A checkpoint is one ``torch.save`` file holding only plain data (tensors, numbers, strings, lists, dicts),
so it loads with ``torch.load(..., weights_only=True)``: loading never runs code from the file. Its payload
(the contract between models/ and training/)::

    {"schema_version": 1, "model_type": "price_predictor_small", "config": {...},   # dataclasses.asdict
     "state_dict": {...}, "feature_names": [...], "scaler": {...}, "symbols": {"BTCUSDT": 1, ...},
     "versions": {"ml_attention_mechanisms": ..., "torch": ...}, "bar_seconds": 86400}

``bar_seconds`` is the bar interval of the data the model was trained on (written since the library records
it; optional: a checkpoint without it still loads, and :func:`checkpoint_bar_seconds` then assumes 3600, the
hourly bars of the checkpoints written before the interval was recorded). Plus, for checkpoints written during training, Lightning's resume state (optimiser, scheduler, loops,
callbacks). A checkpoint alone predicts: :func:`load_checkpoint` rebuilds the model from
``(model_type, config)`` and loads the weights.

Writes are atomic (:func:`atomic_save`): the bytes go to a temporary file in the same directory, are
flushed and ``fsync``-ed, then renamed over the target (``os.replace``, atomic on POSIX), and the directory
is ``fsync``-ed. A crash at any moment leaves either the old file or the new one, never a torn one.

Every file written by :func:`atomic_save` carries ``"content_sha256"``, a hash of its contents that every read
checks (a file changed or damaged after it was written is refused, named). :func:`load_checkpoint` checks the
config's sizes against documented bounds and the fit of the weights before it builds the model (a file does
not choose the memory a process takes), and refuses NaN or infinite weights. See ``_checkpoint_guard``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import _checkpoint_guard, _models

__all__ = [
    "PAYLOAD_KEYS",
    "SCHEMA_VERSION",
    "UnsafeCheckpointError",
    "atomic_save",
    "build_payload",
    "checkpoint_bar_seconds",
    "library_versions",
    "load_checkpoint",
    "read_checkpoint",
]

SCHEMA_VERSION = 1
PAYLOAD_KEYS = (
    "schema_version",
    "model_type",
    "config",
    "state_dict",
    "feature_names",
    "scaler",
    "symbols",
    "versions",
)

DEFAULT_BAR_SECONDS = 3600  # assumed for checkpoints written before the bar interval was recorded


class UnsafeCheckpointError(ValueError):
    """A checkpoint that would need to unpickle code or arbitrary objects to load: refused."""


def library_versions() -> dict[str, str]:
    """Versions of the library, torch, Python and (when installed) Lightning, as plain strings."""
    import platform

    from .._version import __version__

    versions = {
        "ml_attention_mechanisms": str(__version__),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        versions["lightning"] = str(version("lightning"))
    return versions


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` that never leaves a half-written file at ``path``.

    Args:
        obj: what to save (plain data and tensors, to stay loadable with ``weights_only=True``). A dict is
            written with its content hash (``"content_sha256"``), which :func:`read_checkpoint` checks.
        path: target file; its directory is created if needed.
    """
    if isinstance(obj, dict):
        obj = _checkpoint_guard.seal(obj)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def read_checkpoint(path: str | os.PathLike[str], *, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint file safely (``torch.load(..., weights_only=True)``).

    Args:
        path: the checkpoint file.
        map_location: where tensors go. Default: "cpu".

    Returns:
        The checkpoint dict.

    Raises:
        FileNotFoundError: no such file (named).
        UnsafeCheckpointError: the file carries pickled code or objects other than plain data (named).
        ValueError: the file is not a torch checkpoint, not a dict, or its contents do not match the content
            hash it was written with (named).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    if not zipfile.is_zipfile(p):
        raise ValueError(f"{p}: not a readable torch checkpoint (not a torch.save zip archive)")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL [\w.]+", str(exc)) or re.search(r"Unsupported [\w ]+", str(exc))
        raise UnsafeCheckpointError(
            f"{p}: refused to load: the checkpoint carries pickled code or objects, not plain weights"
            + (f" ({found.group(0)})" if found else "")
            + "; only load checkpoints you trust, written by ml_attention_mechanisms.training"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{p}: not a readable torch checkpoint ({first})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{p}: expected a checkpoint dict, found {type(obj).__name__}")
    return _checkpoint_guard.verify_seal(obj, p)


def _check_payload(payload: dict[str, Any], path: Path) -> None:
    missing = [k for k in PAYLOAD_KEYS if k not in payload]
    if missing:
        raise ValueError(f"{path}: not a model checkpoint: missing key(s) {', '.join(missing)}")
    version = payload["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"{path}: schema_version={version!r}: this library reads checkpoints up to version {SCHEMA_VERSION}"
        )


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def build_payload(
    model: nn.Module,
    *,
    model_type: str,
    feature_names: list[str] | tuple[str, ...],
    scaler: dict[str, Any] | None,
    symbols: dict[str, int] | None,
    bar_seconds: int | None = None,
) -> dict[str, Any]:
    """The model part of a checkpoint (see the module docstring), from a model with a dataclass ``config``.

    Args:
        bar_seconds: the bar interval of the training data in seconds, stored as ``"bar_seconds"``.
            Default: None (not stored; readers then assume 3600).

    Raises:
        ValueError: ``model`` has no dataclass ``config`` attribute, or ``bar_seconds`` is not a positive int.
    """
    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"model {type(model).__name__} has no dataclass `config` attribute to store")
    if bar_seconds is not None and (
        isinstance(bar_seconds, bool) or not isinstance(bar_seconds, int) or bar_seconds <= 0
    ):
        raise ValueError(f"build_payload: bar_seconds={bar_seconds!r}; expected a positive int of seconds")
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_type": model_type,
        "config": _plain(dataclasses.asdict(config)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "feature_names": [str(f) for f in feature_names],
        "scaler": _plain(scaler or {}),
        "symbols": {str(k): int(v) for k, v in (symbols or {}).items()},
        "versions": library_versions(),
    }
    if bar_seconds is not None:
        payload["bar_seconds"] = bar_seconds
    return payload


def checkpoint_bar_seconds(payload: dict[str, Any]) -> int:
    """The bar interval (seconds) a checkpoint's model was trained on.

    Args:
        payload: a checkpoint payload (:func:`read_checkpoint` / :func:`load_checkpoint`).

    Returns:
        ``payload["bar_seconds"]``; 3600 (hourly) for an old checkpoint that does not record it.

    Raises:
        ValueError: the recorded value is not a positive whole number of seconds.
    """
    value = payload.get("bar_seconds")
    if value is None:
        return DEFAULT_BAR_SECONDS
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or int(value) != value:
        raise ValueError(f"checkpoint bar_seconds={value!r}: expected a positive number of seconds")
    return int(value)


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: Any = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from one checkpoint file.

    Args:
        path: a ``best.ckpt`` / ``last.ckpt`` written by :func:`~ml_attention_mechanisms.training.train`.
        map_location: where the weights go. Default: "cpu".

    Returns:
        ``(model, payload)``: the model in ``eval()`` mode with the trained weights, and the payload (config,
        ``feature_names``, ``scaler`` statistics, ``symbols``, ``versions``, and ``bar_seconds`` when the
        checkpoint records it) needed to prepare its inputs. An old checkpoint without ``bar_seconds`` loads
        as before; its interval is then assumed to be 3600 s (hourly): read it with
        :func:`checkpoint_bar_seconds`.

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file carries pickled code (refused, file named).
        ValueError: not a model checkpoint, a newer schema, contents that do not match their hash, a config
            size beyond its bound (``_checkpoint_guard.CONFIG_LIMITS``), weights that do not fit the config,
            or NaN/infinite weights; each names the file.
    """
    p = Path(path)
    payload = read_checkpoint(p, map_location=map_location)
    _check_payload(payload, p)
    model_type, config = payload["model_type"], payload["config"]
    _checkpoint_guard.check_config_sizes(config, p)  # before anything is built

    def build() -> nn.Module:
        return _models.model_from_config(model_type, config)

    _checkpoint_guard.check_weights_fit(build, payload["state_dict"], p, str(model_type))
    _checkpoint_guard.check_finite(payload["state_dict"], p)
    model = build()
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{p}: weights do not fit model {payload['model_type']!r}: {first}") from exc
    return model.eval(), payload
