"""Training configuration: :class:`TrainingConfig`, :class:`DataOptions`, :class:`RunConfig` and their YAML form.

A run's YAML file has three sections, each mapped onto a dataclass::

    model:              # keyword arguments of create_crypto_model (the model's config fields)
      d_model: 64
      dropout: 0.1
    data:               # DataOptions: how windows are cut from the data
      window: 64
    training:           # TrainingConfig
      max_epochs: 10
      learning_rate: 3.0e-4

Unknown keys are an error naming them and the valid ones; a value of the wrong type is an error naming the
file, the key, the value and the expected type. ``input_features`` and the asset list come from the data, not
from the file.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

from .._import_guard import needs_extra
from ..config import check_field

__all__ = [
    "ConfigError",
    "DataOptions",
    "RunConfig",
    "TrainingConfig",
    "dump_run_config",
    "from_mapping",
    "load_run_config",
    "run_config_from_dict",
]

_C = TypeVar("_C")

PRECISIONS = ("32", "bf16-mixed")
ACCELERATORS = ("auto", "cpu", "cuda", "gpu")
STRATEGIES = ("auto", "ddp", "ddp_spawn")


class ConfigError(ValueError):
    """A configuration file or mapping that does not fit the dataclasses (unknown key, wrong type)."""


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """How a model is trained: optimiser, schedule, stopping, precision, devices.

    Args:
        max_epochs: passes over the training windows. Default: 20.
        batch_size: windows per optimiser step and process (the global batch is ``batch_size * devices *
            num_nodes``). Default: 64.
        learning_rate: peak AdamW learning rate, reached after the warm-up. Default: 3e-4.
        weight_decay: AdamW decoupled weight decay. Default: 0.01.
        warmup_fraction: share of all optimiser steps spent in the linear warm-up from 0. Default: 0.05.
        min_lr_ratio: floor of the cosine decay, as a fraction of ``learning_rate``. Default: 0.1.
        gradient_clip_val: clip the global gradient norm to this; ``None`` = no clipping. Default: 1.0.
        early_stopping_patience: epochs without a better validation loss before stopping; ``None`` = off.
            Default: 5.
        early_stopping_min_delta: smallest decrease of the validation loss that counts. Default: 0.0.
        seed: seeds Python, NumPy and torch, the shuffling and the per-epoch dropout streams. Default: 0.
        deterministic: ``torch.use_deterministic_algorithms(True)`` (slower; refuses kernels without a
            deterministic version). Default: False.
        precision: ``"32"`` or ``"bf16-mixed"`` (sets the model's ``use_mixed_precision``). Default: "32".
        accelerator: ``"auto"``, ``"cpu"``, ``"cuda"`` (``"gpu"`` is an alias). Default: "auto".
        devices: processes (GPUs, or CPU processes) per node. Default: 1.
        num_nodes: machines. Default: 1.
        strategy: ``"auto"`` or ``"ddp"`` (``"ddp_spawn"`` for notebooks). Default: "auto".
        num_workers: DataLoader worker processes. Default: 0.
        limit_train_batches: cap on the optimiser steps of one epoch (quick runs); ``None`` = all. Default: None.
        limit_val_batches: cap on the validation batches; ``None`` = all. Default: None.
        log_every_n_steps: how often step metrics are written. Default: 10.
        enable_progress_bar: show the progress bar (loss and windows/s). Default: True.
        ddp_timeout_s: timeout of a DDP collective, so that a lost process fails the run instead of hanging
            it. Default: 1800.

    Raises:
        ValueError: a field breaks its rule; the message names the field, value and rule.
    """

    max_epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 3e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05  # a short warm-up keeps Adam's first steps from over-shooting
    min_lr_ratio: float = 0.1
    gradient_clip_val: float | None = 1.0
    early_stopping_patience: int | None = 5
    early_stopping_min_delta: float = 0.0
    seed: int = 0
    deterministic: bool = False
    precision: str = "32"
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    num_workers: int = 0  # windows are in memory: workers cost more than they save at these sizes
    limit_train_batches: int | None = None
    limit_val_batches: int | None = None
    log_every_n_steps: int = 10
    enable_progress_bar: bool = True
    ddp_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        n = "TrainingConfig"
        for name in ("max_epochs", "batch_size", "devices", "num_nodes", "log_every_n_steps"):
            value = getattr(self, name)
            check_field(_is_int(value) and value >= 1, n, name, value, "must be an int >= 1")
        check_field(_is_int(self.seed) and self.seed >= 0, n, "seed", self.seed, "must be an int >= 0")
        check_field(
            _is_int(self.num_workers) and self.num_workers >= 0,
            n,
            "num_workers",
            self.num_workers,
            "must be an int >= 0",
        )
        check_field(_pos(self.learning_rate), n, "learning_rate", self.learning_rate, "must be > 0")
        check_field(
            _num(self.weight_decay) and self.weight_decay >= 0,
            n,
            "weight_decay",
            self.weight_decay,
            "must be >= 0",
        )
        check_field(
            _num(self.warmup_fraction) and 0.0 <= self.warmup_fraction < 1.0,
            n,
            "warmup_fraction",
            self.warmup_fraction,
            "must be in [0, 1)",
        )
        check_field(
            _num(self.min_lr_ratio) and 0.0 <= self.min_lr_ratio <= 1.0,
            n,
            "min_lr_ratio",
            self.min_lr_ratio,
            "must be in [0, 1]",
        )
        if self.gradient_clip_val is not None:
            check_field(
                _pos(self.gradient_clip_val),
                n,
                "gradient_clip_val",
                self.gradient_clip_val,
                "must be > 0 or None",
            )
        for name in ("early_stopping_patience", "limit_train_batches", "limit_val_batches"):
            value = getattr(self, name)
            if value is not None:
                check_field(_is_int(value) and value >= 1, n, name, value, "must be an int >= 1 or None")
        check_field(
            _num(self.early_stopping_min_delta) and self.early_stopping_min_delta >= 0,
            n,
            "early_stopping_min_delta",
            self.early_stopping_min_delta,
            "must be >= 0",
        )
        check_field(
            self.precision in PRECISIONS, n, "precision", self.precision, f"must be one of {PRECISIONS}"
        )
        check_field(
            self.accelerator in ACCELERATORS,
            n,
            "accelerator",
            self.accelerator,
            f"must be one of {ACCELERATORS}",
        )
        check_field(self.strategy in STRATEGIES, n, "strategy", self.strategy, f"must be one of {STRATEGIES}")
        check_field(_pos(self.ddp_timeout_s), n, "ddp_timeout_s", self.ddp_timeout_s, "must be > 0")

    @property
    def world_size(self) -> int:
        """Processes in the whole run: ``devices * num_nodes``."""
        return self.devices * self.num_nodes


@dataclass(frozen=True, slots=True)
class DataOptions:
    """How the data are cut into windows and split.

    Args:
        window: bars in one input window. Default: 128.
        stride: bars between the ends of two consecutive training windows. Default: 1.
        symbols: assets to use (by symbol); ``None`` = every asset of the data. Default: None.
        timeframe: resample the bars to this timeframe first (``"4h"``, ``"1d"``); ``None`` = as loaded.
            Default: None.
        train_end: last timestamp of the training split (ISO date); ``None`` = the data's default split.
            Default: None.
        val_end: last timestamp of the validation split; ``None`` = the data's default split. Default: None.
        embargo: bars dropped between splits; ``None`` = the longest target horizon. Default: None.
        missing_hours: how data files' hours without trades are read (``load_ohlcv``'s ``missing_hours``:
            ``"auto"``, ``"no-trades"`` or ``"absent"``; not used by the bundled dataset). Default: "auto".
        timezone: the zone of data files' times written without one (``load_ohlcv``'s ``timezone``: an IANA
            name or a UTC offset; not used by the bundled dataset). Default: None (UTC).

    Raises:
        ValueError: a field breaks its rule.
    """

    window: int = 128
    stride: int = 1
    symbols: tuple[str, ...] | None = None
    timeframe: str | None = None
    train_end: str | None = None
    val_end: str | None = None
    embargo: int | None = None
    missing_hours: str = "auto"
    timezone: str | None = None

    def __post_init__(self) -> None:
        from ..data._timestamps import parse_timezone
        from ..data.loader import MISSING_HOURS

        n = "DataOptions"
        check_field(
            self.missing_hours in MISSING_HOURS,
            n,
            "missing_hours",
            self.missing_hours,
            f"must be one of {', '.join(MISSING_HOURS)}",
        )
        if self.timezone is not None:
            try:
                parse_timezone(self.timezone)
            except ValueError:
                check_field(
                    False, n, "timezone", self.timezone, "must be an IANA zone name or a UTC offset (UTC+8)"
                )
        check_field(
            _is_int(self.window) and self.window >= 2, n, "window", self.window, "must be an int >= 2"
        )
        check_field(
            _is_int(self.stride) and self.stride >= 1, n, "stride", self.stride, "must be an int >= 1"
        )
        if self.symbols is not None:
            check_field(len(self.symbols) > 0, n, "symbols", self.symbols, "must be a non-empty list or None")
        if self.embargo is not None:
            check_field(
                _is_int(self.embargo) and self.embargo >= 0, n, "embargo", self.embargo, "must be >= 0"
            )


@dataclass(frozen=True, slots=True)
class RunConfig:
    """One run's whole configuration: model keyword arguments, data options and training settings.

    Args:
        model: keyword arguments for ``create_crypto_model`` (plain data). Default: {}.
        data: how windows are cut. Default: ``DataOptions()``.
        training: the training settings. Default: ``TrainingConfig()``.
    """

    model: dict[str, Any] = field(default_factory=dict)
    data: DataOptions = field(default_factory=DataOptions)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what the YAML file holds)."""
        return {
            "model": dict(self.model),
            "data": _plain(dataclasses.asdict(self.data)),
            "training": _plain(dataclasses.asdict(self.training)),
        }


# -- mapping plain data onto dataclasses ------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pos(value: Any) -> bool:
    return _num(value) and value > 0


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any) -> tuple[bool, Any]:
    """(ok, converted) for one YAML value against a field annotation; ints are accepted for floats."""
    if tp is Any:
        return True, value
    if tp is type(None):
        return value is None, value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, out = _convert(value, arg)
            if ok:
                return True, out
        return False, value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False, value
        inner = typing.get_args(tp)[0]
        items = [_convert(v, inner) for v in value]
        if not all(ok for ok, _ in items):
            return False, value
        return True, origin(v for _, v in items)
    if origin is dict:
        return isinstance(value, dict), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return _is_int(value), value
    if tp is float:
        return _num(value), float(value) if _num(value) else value
    if tp is str:
        # YAML reads `precision: 32` as an int; a str field takes a bare number as its text.
        if _num(value):
            return True, str(value)
        return isinstance(value, str), value
    return isinstance(value, tp), value


def from_mapping(cls: type[_C], mapping: Any, *, where: str) -> _C:
    """Build the dataclass ``cls`` from plain data, naming unknown keys and ill-typed values.

    Args:
        cls: a dataclass.
        mapping: a dict of field values (e.g. one section of a YAML file).
        where: where the mapping comes from, for messages (``"run.yaml: training"``).

    Returns:
        ``cls(**mapping)`` with the values converted to the field types.

    Raises:
        ConfigError: ``mapping`` is not a mapping, has unknown keys, or a value of the wrong type; or the
            dataclass rejects a value (its ``ValueError`` message, prefixed with ``where``).
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ConfigError(
            f"{where}: expected a mapping of {cls.__name__} fields, got {type(mapping).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(mapping) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        ok, converted = _convert(value, hints[key])
        if not ok:
            raise ConfigError(f"{where}.{key}={value!r}: expected {_type_name(hints[key])}")
        kwargs[key] = converted
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def run_config_from_dict(data: Any, *, where: str) -> RunConfig:
    """Map plain data (the YAML file's content) onto :class:`RunConfig`.

    Raises:
        ConfigError: an unknown section or key, or a value of the wrong type.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with sections model, data, training")
    sections = ("model", "data", "training")
    unknown = sorted(str(k) for k in set(data) - set(sections))
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}; valid: {', '.join(sections)}")
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise ConfigError(f"{where}: model: expected a mapping of model config fields")
    bad = sorted(str(k) for k in model if not isinstance(k, str))
    if bad:
        raise ConfigError(f"{where}: model: keys must be field names, got {', '.join(bad)}")
    return RunConfig(
        model=dict(model),
        data=from_mapping(DataOptions, data.get("data"), where=f"{where}: data"),
        training=from_mapping(TrainingConfig, data.get("training"), where=f"{where}: training"),
    )


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read a run's YAML file.

    Raises:
        FileNotFoundError: no such file (named).
        ConfigError: not YAML, or the content does not fit (file, key and value named).
    """
    with needs_extra("train"):
        import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{p}: not a valid YAML file ({first})") from exc
    return run_config_from_dict(data, where=str(p))


def dump_run_config(config: RunConfig, path: str | os.PathLike[str]) -> None:
    """Write ``config`` as YAML (the form :func:`load_run_config` reads)."""
    with needs_extra("train"):
        import yaml

    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
