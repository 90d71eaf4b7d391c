"""A run's configuration and model: the config resolved with overrides, the data checked, the model built.

``prepare_run_data`` turns what ``train`` is given (the bundled dataset's name, data files, or prepared
splits) into the splits a run trains on; ``build_model`` creates the registry model with what the data decide
(``input_features``, ``time_unit_seconds``, ``num_assets``, the loss normalisers). Both are re-exported by
:mod:`.run`, the training entry point.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from ..config import replace_config
from . import _models
from .config import ConfigError, RunConfig, load_run_config, run_config_from_dict
from .datamodule import PreparedData

__all__ = ["apply_overrides", "build_model", "load_config", "plain_config", "prepare_run_data"]


def load_config(config: str | os.PathLike[str] | RunConfig | dict[str, Any] | None) -> RunConfig:
    """``config`` as a :class:`RunConfig`: ``None`` = the defaults, a dict or a YAML file validated."""
    if config is None:
        return RunConfig()
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return run_config_from_dict(config, where="config")
    return load_run_config(config)


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """``cfg`` with the ``training`` fields of ``overrides`` that are not ``None`` replaced (validated)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return cfg
    return dataclasses.replace(cfg, training=replace_config(cfg.training, **given))


def _create(model_type: str, kwargs: dict[str, Any]) -> nn.Module:
    """``create_crypto_model`` with a bad ``model`` section reported as a config error."""
    try:
        return _models.create_model(model_type, **kwargs)
    except TypeError as exc:  # unknown keys, or a value the model cannot even hold
        raise ConfigError(f"config model section for {model_type!r}: {exc}") from exc
    except ValueError as exc:
        if not kwargs or "Unknown model_type" in str(exc):
            raise
        raise ConfigError(f"config model section for {model_type!r}: {exc}") from exc


def prepare_run_data(
    model_type: str,
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | PreparedData,
    cfg: RunConfig,
    *,
    include_test: bool,
) -> PreparedData:
    """The splits a run trains on, checked before any training starts.

    Args:
        model_type: registry name (its ``DATA_KIND`` and ``prediction_horizon`` shape the windows).
        data: ``"binance-1h"`` (the bundled dataset), data files, or already prepared splits.
        cfg: the run configuration (its ``data`` section cuts the windows).
        include_test: build the test split too (tuning passes ``False``: it never reads it).

    Raises:
        FileNotFoundError: a data file does not exist (named).
        ValueError: an empty training split, a horizon longer than the data, too few bars for the window.
    """
    if isinstance(data, PreparedData):
        return data
    from ._data import prepare_data

    cls = _models.model_class(model_type)
    probe = _create(model_type, cfg.model)
    horizon = int(getattr(getattr(probe, "config", None), "prediction_horizon", 1))
    del probe
    return prepare_data(
        data,
        cfg.data,
        data_kind=str(getattr(cls, "DATA_KIND", "single_asset")),
        horizon=horizon,
        output_kind=str(getattr(cls, "OUTPUT_KIND", "")),
        include_test=include_test,
    )


def build_model(model_type: str, cfg: RunConfig, data: PreparedData) -> tuple[nn.Module, dict[str, Any]]:
    """Create the model with ``input_features`` (and what else the data decide) taken from the data.

    The data also decide ``time_unit_seconds`` (when the model has it and the config does not set it): the
    bar interval, so that one bar is one unit of the market-time encodings on any timeframe (3600 for hourly
    data, the models' default: an hourly run's config is the plain default one).

    Returns:
        ``(model, kwargs)``: the model and the keyword arguments it was built with.

    Raises:
        ValueError: the config sets ``input_features`` to another width than the data's, or sets the model's
            ``use_mixed_precision`` against ``training.precision``.
    """
    kwargs = dict(cfg.model)
    width = len(data.feature_names)
    if "input_features" in kwargs and kwargs["input_features"] != width:
        raise ValueError(
            f"model.input_features={kwargs['input_features']!r}: the data have {width} features; "
            "leave input_features out, it comes from the data"
        )
    kwargs["input_features"] = width
    mixed = cfg.training.precision == "bf16-mixed"
    if "use_mixed_precision" in kwargs and bool(kwargs["use_mixed_precision"]) != mixed:
        raise ValueError(
            f"model.use_mixed_precision={kwargs['use_mixed_precision']!r} contradicts "
            f"training.precision={cfg.training.precision!r}; set only --precision"
        )
    probe = _create(model_type, kwargs)
    fields = _models.config_fields(probe)
    extra: dict[str, Any] = {}
    if "use_mixed_precision" in fields:
        extra["use_mixed_precision"] = mixed  # one switch: --precision decides both
    if "num_assets" in fields and data.symbols:
        needed = len(data.symbols) if data.data_kind == "multi_asset" else max(data.symbols.values()) + 1
        if needed > probe.config.num_assets and "num_assets" not in kwargs:  # type: ignore[union-attr,operator]
            extra["num_assets"] = needed
    if "time_unit_seconds" in fields and data.bar_seconds and "time_unit_seconds" not in kwargs:
        # one bar = one unit of the market-time encodings at any timeframe (windows, horizons and feature
        # windows count bars); a time_unit_seconds set in the config wins
        extra["time_unit_seconds"] = float(data.bar_seconds)
    extra.update(_models.loss_statistics(probe, data.train, kwargs))  # fixed loss normalisers (DDP-exact)
    extra = {k: v for k, v in extra.items() if getattr(probe.config, k) != v}
    if not extra:
        return probe, kwargs
    kwargs.update(extra)
    return _create(model_type, kwargs), kwargs


def plain_config(net: nn.Module) -> dict[str, Any]:
    """The model's config dataclass as a plain dict (``{}`` for a model without one)."""
    config = getattr(net, "config", None)
    if config is None or not dataclasses.is_dataclass(config) or isinstance(config, type):
        return {}
    return dataclasses.asdict(config)
