"""The TorchScript form of a crypto model: a traced module behind a scriptable ``forward``.

The models are written for eager mode, ``torch.compile`` and ``torch.export`` (keyword-only arguments,
``X | None`` annotations, a dict of outputs, a Python kernel dispatch), which ``torch.jit.script`` cannot
compile. ``CryptoModel.__prepare_scriptable__`` hands TorchScript this form instead, so that
``torch.jit.script(model)`` works as written:

- the model is traced (``torch.jit.trace``, eval mode, ``no_grad``) on example features, with the
  attention dispatch restricted to the plain math backend: the trace then records ordinary tensor ops
  rather than Python-level kernel choices (the fused kernel's ``enable_gqa`` flag would otherwise be
  traced as a tensor);
- :class:`ScriptableInferenceForm` wraps the traced module in a two-line scriptable ``forward(features) ->
  Dict[str, Tensor]`` (TorchScript cannot script a traced module given as the top-level object, but it
  takes one as a submodule). Its dict keeps the eager order, so ``predictions`` comes first for the price
  model.

The traced graph reads shapes at run time: any batch size, bar count (and asset count for the portfolio
model) works, as tested. Timestamps are not an input of this form (the scripted model is called as ``model(features)``);
export with :func:`~ml_attention_mechanisms.inference.export_onnx` or
:func:`~ml_attention_mechanisms.inference.export_program` to keep them.

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..attention._dispatch import attention_backend
from ._examples import example_inputs

__all__ = ["OutputDict", "ScriptableInferenceForm", "scriptable_form", "trace_model"]


class OutputDict(nn.Module):
    """``model(features)`` restricted to its tensor outputs (a traceable, plain-dict ``forward``)."""

    def __init__(self, model: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = list(keys)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        out = self.model(features)
        return {k: out[k] for k in self.keys}


class ScriptableInferenceForm(nn.Module):
    """A scriptable module: ``forward(features [B, T, F] or [B, T, A, F]) -> Dict[str, Tensor]``.

    Args:
        traced: the traced model (see :func:`trace_model`).
        output_names: its output keys, in order.
    """

    def __init__(self, traced: torch.jit.ScriptModule, output_names: list[str]) -> None:
        super().__init__()
        self.traced = traced
        self.output_names = list(output_names)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        return self.traced(features)  # type: ignore[no-any-return]


def trace_model(model: nn.Module, features: Tensor | None = None) -> tuple[torch.jit.ScriptModule, list[str]]:
    """Trace ``model`` (eval mode, math attention backend) on ``features``; returns ``(traced, output keys)``.

    Args:
        model: a registered crypto model.
        features: example input. Default: :func:`example_inputs` (batch 2).
    """
    if features is None:
        features, _ = example_inputs(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), attention_backend("math"), warnings.catch_warnings():
            # Python scalars read from shapes (the head dim, the GQA ratio) are constants of the model.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            out = model(features)
            keys = [k for k, v in out.items() if isinstance(v, Tensor)]
            traced = torch.jit.trace(OutputDict(model, keys), (features,), strict=False, check_trace=False)
    finally:
        model.train(was_training)
    return traced, keys


def scriptable_form(model: nn.Module, **kwargs: Any) -> ScriptableInferenceForm:
    """What ``CryptoModel.__prepare_scriptable__`` returns: the traced model behind a scriptable forward."""
    traced, keys = trace_model(model, **kwargs)
    return ScriptableInferenceForm(traced, keys)
