"""Several trained price or risk models of one type and config, forecasting as one (a deep ensemble,
Lakshminarayanan et al. 2017).

Each member is a model trained on its own seed; the ensemble averages their outputs: quantiles level by
level (so they stay ordered, as each member's are), returns, VaR/ES, drawdowns and attention maps as means,
and the volatility outputs as the root of the members' mean variance (the expected variance of the
members' mixture, which QLIKE scores). Averaging members trained on different seeds removes most of a
single training's seed-to-seed spread.

Shapes: as the members' (:class:`~.price_predictor.CryptoPricePredictionModel`,
:class:`~.risk_assessor.CryptoRiskAssessorModel`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ._base import CryptoModel

__all__ = ["ENSEMBLE_KINDS", "ModelEnsemble"]

ENSEMBLE_KINDS = ("price", "risk")
# outputs that are volatilities (square roots of variances): averaged as variances
_VOLATILITY_KEYS = frozenset({"volatility_forecast", "volatility"})


class ModelEnsemble(nn.Module):
    """The average forecast of ``members`` (price or risk models of one class and one config).

    Args:
        members: trained models, at least one, of one class with equal configs (but for the loss's
            normalisers, ``LOSS_STATISTICS``, which each member's training split sets).

    Raises:
        ValueError: no members, members of different classes or configs, or a kind other than price and
            risk (a signal's decision or a portfolio's weights are not averaged here).

    Examples:
        >>> from ml_attention_mechanisms.models import create_crypto_model
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> members = [create_crypto_model("price_predictor_small", input_features=5).eval() for _ in range(3)]
        >>> ensemble = ModelEnsemble(members).eval()
        >>> x = torch.randn(2, 20, 5)
        >>> out = ensemble(x)
        >>> quantiles = torch.stack([m(x)["quantiles"] for m in members]).mean(0)
        >>> bool(torch.allclose(out["quantiles"], quantiles)), tuple(out["volatility_forecast"].shape)
        (True, (2, 5))
    """

    STREAMABLE: ClassVar[bool] = False  # one cached encoder per member is not built; streams by recompute

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("ModelEnsemble: members is empty; expected at least one trained model")
        first = members[0]
        if not isinstance(first, CryptoModel) or first.OUTPUT_KIND not in ENSEMBLE_KINDS:
            raise ValueError(
                f"ModelEnsemble: a {type(first).__name__} ({getattr(first, 'OUTPUT_KIND', '?')} model); "
                f"expected price or risk models ({ENSEMBLE_KINDS})"
            )
        config = _forecast_fields(first)
        for i, m in enumerate(members[1:], 1):
            if type(m) is not type(first):
                raise ValueError(
                    f"ModelEnsemble: member {i} is a {type(m).__name__}, member 0 a {type(first).__name__}; "
                    "expected one class"
                )
            if _forecast_fields(m) != config:
                differ = sorted(k for k, v in _forecast_fields(m).items() if config.get(k) != v)
                raise ValueError(f"ModelEnsemble: member {i}'s config differs from member 0's in {differ}")
        self.members = nn.ModuleList(members)
        self.config = first.config
        self.DATA_KIND = first.DATA_KIND
        self.OUTPUT_KIND = first.OUTPUT_KIND
        self.TARGETS = first.TARGETS

    def training_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The forward kwargs of a batch, as the members read it."""
        return self.members[0].training_inputs(batch)  # type: ignore[operator]

    def forward(self, *args: Any, scale: Tensor | None = None, **kwargs: Any) -> dict[str, Any]:
        """Every member's forward on the same inputs, combined (see the module docstring).

        Args:
            *args: the members' positional forward arguments (``price_data``, ``timestamps``, ...).
            scale: the asset's causal scale, passed to every member.
            **kwargs: the members' keyword forward arguments (``mask``, ``need_attention_weights``, ...).

        Returns:
            The members' output keys with the combined values (shapes as each member's).
        """
        outs = [m(*args, scale=scale, **kwargs) for m in self.members]
        return {key: _combine(key, [o[key] for o in outs]) for key in outs[0]}


def _forecast_fields(model: CryptoModel) -> dict[str, Any]:
    """The config fields that shape a model's forecasts (all but its loss's normalisers)."""
    skip = set(model.LOSS_STATISTICS)
    return {k: v for k, v in dataclasses.asdict(model.config).items() if k not in skip}


def _combine(key: str, values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, dict):  # attention maps per layer
        return {k: _combine(k, [v[k] for v in values]) for k in first}
    if not isinstance(first, Tensor) or not first.is_floating_point():
        return first
    stacked = torch.stack(values)
    if key in _VOLATILITY_KEYS:
        return stacked.square().mean(0).sqrt()
    return stacked.mean(0)
