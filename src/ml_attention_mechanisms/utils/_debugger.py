"""Find where a model first produces NaN or Inf, and whether its gradients vanish or explode.

:class:`AttentionDebugger` puts a forward hook on every module of a model (attention modules and the
others). Forward hooks fire when a module returns, children before their parent, so the first module
recorded with a bad output is the one that produced it: every module after it only passes it on.

Gradient flow is read after ``loss.backward()`` from the parameters' ``.grad``: one row per module that
owns parameters directly (a "layer": ``in_proj``, ``out_proj``, a norm...), with the L2 norm of its
gradients. Thresholds (documented defaults, both adjustable):

* vanishing: gradient norm ``< 1e-7`` (float32 precision relative to weights of order 1: the update is lost
  in rounding);
* exploding: gradient norm ``> 1e3`` (a thousand times the clipping norm of 1.0 most transformers train
  with).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ..attention.multi_head_attention import MultiHeadAttention

__all__ = ["AttentionDebugger", "ModuleRecord"]

logger = logging.getLogger(__name__)


def _tensors(obj: Any) -> Iterator[Tensor]:
    """Every floating tensor in a module's output (tensors, tuples, lists, dicts, dataclass-likes)."""
    if isinstance(obj, Tensor):
        if obj.is_floating_point() or obj.is_complex():
            yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def is_attention_module(module: nn.Module) -> bool:
    """An attention module: a :class:`MultiHeadAttention` (or subclass), or a class named ``*Attention*``."""
    return isinstance(module, (MultiHeadAttention, nn.MultiheadAttention)) or "attention" in (
        type(module).__name__.lower()
    )


@dataclass
class ModuleRecord:
    """What the hooks saw of one module over the calls since the last :meth:`AttentionDebugger.reset`."""

    name: str
    type_name: str
    is_attention: bool
    calls: int = 0
    has_nan: bool = False
    has_inf: bool = False
    output_abs_max: float = 0.0  # over finite entries
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)


class AttentionDebugger:
    """NaN/Inf detection by forward hooks and gradient-flow statistics per layer.

    Args:
        vanishing_threshold: a layer whose gradient L2 norm is below it is flagged vanishing. Default: 1e-7.
        exploding_threshold: a layer whose gradient L2 norm is above it is flagged exploding. Default: 1e3.

    Raises:
        ValueError: thresholds not positive, or ``vanishing_threshold >= exploding_threshold``.

    Examples:
        >>> from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention
        >>> debugger = AttentionDebugger()
        >>> layer = MultiHeadAttention(AttentionConfig(d_model=16, num_heads=2))
        >>> debugger.register_attention_hooks(layer)
        >>> _ = layer(torch.randn(1, 4, 16))
        >>> report = debugger.get_debug_report()
        >>> report["num_modules_checked"], report["modules_with_nan"]
        (3, 0)
        >>> debugger.remove_hooks()
    """

    def __init__(self, *, vanishing_threshold: float = 1e-7, exploding_threshold: float = 1e3) -> None:
        if not (vanishing_threshold > 0 and exploding_threshold > 0):
            raise ValueError(
                f"vanishing_threshold={vanishing_threshold!r}, exploding_threshold={exploding_threshold!r}: "
                "must be positive"
            )
        if vanishing_threshold >= exploding_threshold:
            raise ValueError(
                f"vanishing_threshold={vanishing_threshold!r} must be below "
                f"exploding_threshold={exploding_threshold!r}"
            )
        self.vanishing_threshold = float(vanishing_threshold)
        self.exploding_threshold = float(exploding_threshold)
        self._handles: list[RemovableHandle] = []
        self._model: nn.Module | None = None
        self.records: dict[str, ModuleRecord] = {}
        self._bad_order: list[tuple[str, str]] = []  # (module name, "nan" | "inf") in order of first seen

    # -- hooks -----------------------------------------------------------------------------------------
    def register_attention_hooks(self, model: nn.Module) -> None:
        """Hook every module of ``model`` (the model itself included, named by its class).

        Registering again (on the same or another model) removes the previous hooks and clears the records.

        Raises:
            ValueError: ``model`` is not an ``nn.Module``.
        """
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        self.remove_hooks()
        self.reset()
        self._model = model
        for name, module in model.named_modules():
            label = name or type(model).__name__
            self._handles.append(module.register_forward_hook(self._make_hook(label, module)))
        logger.info("AttentionDebugger: %d modules hooked", len(self._handles))

    def _make_hook(self, name: str, module: nn.Module) -> Any:
        attention = is_attention_module(module)

        def hook(mod: nn.Module, args: Any, output: Any) -> None:
            rec = self.records.get(name)
            if rec is None:
                rec = self.records[name] = ModuleRecord(name, type(mod).__name__, attention)
            rec.calls += 1
            for t in _tensors(output):
                t = t.detach()
                if len(rec.output_shapes) < 4 and tuple(t.shape) not in rec.output_shapes:
                    rec.output_shapes.append(tuple(t.shape))
                nan = bool(torch.isnan(t).any())
                inf = bool(torch.isinf(t).any())
                finite = t[torch.isfinite(t)] if (nan or inf) else t
                if finite.numel():
                    rec.output_abs_max = max(rec.output_abs_max, float(finite.abs().max()))
                for kind, flag in (("nan", nan), ("inf", inf)):
                    if flag and not getattr(rec, f"has_{kind}"):
                        setattr(rec, f"has_{kind}", True)
                        self._bad_order.append((name, kind))
                        if len(self._bad_order) == 1:
                            logger.warning("AttentionDebugger: first %s in the output of %s", kind, name)

        return hook

    def remove_hooks(self) -> None:
        """Remove every hook this debugger registered (the records stay for :meth:`get_debug_report`)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self) -> None:
        """Forget what the hooks saw (hooks stay registered)."""
        self.records.clear()
        self._bad_order.clear()

    def __enter__(self) -> AttentionDebugger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove_hooks()

    # -- gradients -------------------------------------------------------------------------------------
    def gradient_flow(self, model: nn.Module | None = None) -> dict[str, dict[str, Any]]:
        """Gradient statistics per layer (module owning parameters directly), read from ``.grad``.

        Call it after ``loss.backward()``. Each row: ``grad_norm`` (L2 over the layer's gradients),
        ``grad_abs_mean``, ``grad_abs_max``, ``param_norm``, ``has_nan``, ``has_inf``, ``vanishing``
        (``grad_norm < vanishing_threshold``), ``exploding`` (``grad_norm > exploding_threshold``). Layers
        whose parameters have no gradient (frozen or unused) are left out.

        Args:
            model: the model. Default: the one given to :meth:`register_attention_hooks`.

        Raises:
            ValueError: no model given nor registered.
        """
        model = model if model is not None else self._model
        if model is None:
            raise ValueError("gradient_flow needs a model: pass one or call register_attention_hooks first")
        rows: dict[str, dict[str, Any]] = {}
        for name, module in model.named_modules():
            grads = [p.grad.detach() for p in module.parameters(recurse=False) if p.grad is not None]
            if not grads:
                continue
            params = [p.detach() for p in module.parameters(recurse=False) if p.grad is not None]
            flat = torch.cat([g.reshape(-1).double() for g in grads])
            finite = flat[torch.isfinite(flat)]
            norm = float(flat.norm())
            rows[name or type(model).__name__] = {
                "grad_norm": norm,
                "grad_abs_mean": float(finite.abs().mean()) if finite.numel() else math.nan,
                "grad_abs_max": float(finite.abs().max()) if finite.numel() else math.nan,
                "param_norm": float(torch.cat([p.reshape(-1).double() for p in params]).norm()),
                "has_nan": bool(torch.isnan(flat).any()),
                "has_inf": bool(torch.isinf(flat).any()),
                "vanishing": norm < self.vanishing_threshold,
                "exploding": norm > self.exploding_threshold,
            }
        return rows

    # -- report ----------------------------------------------------------------------------------------
    def get_debug_report(self, *, include_gradients: bool = True) -> dict[str, Any]:
        """What the hooks saw since registration (or :meth:`reset`), and the gradient flow if any.

        Returns:
            A dict with ``num_modules_checked`` (int: modules whose output was checked at least once),
            ``modules_with_nan`` and ``modules_with_inf`` (int counts), ``nan_modules`` and ``inf_modules``
            (names, in the order the bad values appeared), ``first_bad_module`` (the module that produced
            the first NaN/Inf, or ``None``) and ``first_bad_kind`` (``"nan"``/``"inf"``/``None``),
            ``attention_modules`` (names of the attention modules checked), ``module_stats`` (name ->
            calls, type, output shapes, largest finite output magnitude), and, when a backward pass has
            left gradients and ``include_gradients``: ``gradient_flow`` (see :meth:`gradient_flow`),
            ``vanishing_gradient_layers``, ``exploding_gradient_layers``, ``nan_gradient_layers``.
        """
        nan_modules = [n for n, k in self._bad_order if k == "nan"]
        inf_modules = [n for n, k in self._bad_order if k == "inf"]
        first = self._bad_order[0] if self._bad_order else None
        report: dict[str, Any] = {
            "num_modules_checked": len(self.records),
            "modules_with_nan": len(nan_modules),
            "modules_with_inf": len(inf_modules),
            "nan_modules": nan_modules,
            "inf_modules": inf_modules,
            "first_bad_module": first[0] if first else None,
            "first_bad_kind": first[1] if first else None,
            "attention_modules": [n for n, r in self.records.items() if r.is_attention],
            "module_stats": {
                n: {
                    "type": r.type_name,
                    "calls": r.calls,
                    "output_shapes": list(r.output_shapes),
                    "output_abs_max": r.output_abs_max,
                }
                for n, r in self.records.items()
            },
        }
        if include_gradients and self._model is not None:
            flow = self.gradient_flow()
            if flow:
                report["gradient_flow"] = flow
                report["vanishing_gradient_layers"] = [n for n, r in flow.items() if r["vanishing"]]
                report["exploding_gradient_layers"] = [n for n, r in flow.items() if r["exploding"]]
                report["nan_gradient_layers"] = [n for n, r in flow.items() if r["has_nan"] or r["has_inf"]]
        return report
