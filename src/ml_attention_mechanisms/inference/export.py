"""Export a crypto model to ONNX, TorchScript or a ``torch.export`` program, checked against eager mode.

All three start from the same inputs: ``features`` float32 ``[B, T, F]`` (``[B, T, A, F]`` for the
portfolio model) and, by default, ``timestamps`` int64 ``[B, T]`` (Unix seconds: the models were trained
with them, for the time-aware ALiBi distances and the market-time features) and, for the models that
forecast relative to it (price, risk, portfolio), ``scale`` float32 ``[B]`` (``[B, A]``): each asset's causal
scale at the last bar, the per-bar variance of the data layer's variance anchor (``batch["scale"]``; live,
:class:`~ml_attention_mechanisms.inference.StreamingPredictor` computes it). The outputs are the model's
tensor outputs in its dict order (``predictions`` first for the price model), named after their keys.

- **torch.export** (:func:`export_program`): ``torch.export.export`` with dynamic batch, bar (and asset)
  axes; saved with ``torch.export.save`` (``.pt2``).
- **ONNX** (:func:`export_onnx`): torch 2.13's exporter translates that same exported program (the
  TorchScript-based exporter is gone). It implements opset 18 and up: a request for a lower opset (the
  Production Deployment example asks for 11) is written at 18, because the version converter cannot lower these graphs (it fails
  on ``Unsqueeze``/``Squeeze`` axes given as inputs). :attr:`ExportResult.opset` reports what the file
  holds. Batch and bar axes are dynamic.
- **TorchScript** (:func:`export_torchscript`): ``torch.jit.script(model)`` through the models'
  ``__prepare_scriptable__`` (a traced form, see ``models/_scriptable.py``); input ``features`` only (so the
  models' default scale: use ONNX or ``torch.export`` to serve forecasts at each asset's own scale).

Each export is checked by default: ONNX Runtime (or the loaded program / script module) is run on fresh
inputs of another batch size and length than the example, and the largest absolute difference from the
eager model must be ``<= atol`` (1e-4, float32), else :class:`ExportCheckError`.

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._import_guard import needs_extra, require_extras
from ._inputs import example_inputs, example_scale, is_multi_asset, load_model, model_config, takes_scale

__all__ = [
    "EXPORT_FORMATS",
    "ExportCheckError",
    "ExportResult",
    "export_model",
    "export_onnx",
    "export_program",
    "export_torchscript",
    "max_abs_diff",
]

logger = logging.getLogger(__name__)

EXPORT_FORMATS: tuple[str, ...] = ("onnx", "torchscript", "torch-export")
ONNX_MIN_OPSET = 18  # the lowest opset torch 2.13's exporter implements
DEFAULT_ATOL = 1e-4
_ONNX_ASSETS = 3


class ExportCheckError(RuntimeError):
    """The exported artefact does not reproduce the eager model within the tolerance."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        path: the file written.
        format: ``"onnx"``, ``"torchscript"`` or ``"torch-export"``.
        input_names: graph inputs, in order.
        output_names: graph outputs, in order.
        opset: the ONNX opset the file holds (None for the other formats).
        max_abs_diff: the check's largest absolute difference from eager mode (None when not checked).
        program: the in-memory ``torch.export.ExportedProgram`` (``"torch-export"`` only); hand the
            result to :func:`export_onnx` (``program=``) to translate it without exporting again.
        num_assets: the fixed asset count of a multi-asset export (None: dynamic or single-asset).
    """

    path: Path
    format: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    opset: int | None = None
    max_abs_diff: float | None = None
    program: Any = field(default=None, repr=False, compare=False)
    num_assets: int | None = None


class _TupleOutputs(nn.Module):
    """``model(features, timestamps=..., scale=...)`` as a tuple of its tensor outputs (what exporters
    flatten); ``names`` are the inputs given, in order."""

    def __init__(self, model: nn.Module, keys: list[str], names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = keys
        self.names = names

    def forward(
        self, features: Tensor, timestamps: Tensor | None = None, scale: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        out = _call(self.model, self.names, (features, timestamps, scale))
        return tuple(out[k] for k in self.keys)


def _call(model: nn.Module, names: list[str], args: tuple[Tensor | None, ...]) -> Any:
    """``model(features, **the named inputs)`` for ``args`` given in the order of ``names``."""
    given = dict(zip(names, args))
    return model(given["features"], **{k: v for k, v in given.items() if k != "features" and v is not None})


def _input_names(model: nn.Module, with_timestamps: bool, with_scale: bool | None) -> list[str]:
    scale = takes_scale(model) if with_scale is None else with_scale and takes_scale(model)
    return ["features"] + (["timestamps"] if with_timestamps else []) + (["scale"] if scale else [])


def _example_args(
    model: nn.Module, names: list[str], *, batch: int = 2, seq_len: int | None = None, num_assets: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, ...]:  # fmt: skip
    features, timestamps = example_inputs(
        model, batch=batch, seq_len=seq_len, num_assets=num_assets, generator=generator
    )
    given = {
        "features": features,
        "timestamps": timestamps,
        "scale": example_scale(model, features, generator),
    }
    return tuple(given[n] for n in names)


def _eager(model: nn.Module, args: tuple[Tensor, ...], keys: list[str], names: list[str]) -> list[Tensor]:
    with torch.no_grad():
        out = _call(model, names, args)
    return [out[k] for k in keys]


def max_abs_diff(reference: list[Tensor], got: list[Any]) -> float:
    """Largest absolute difference over paired outputs (bool/int outputs must match exactly)."""
    worst = 0.0
    for ref, value in zip(reference, got, strict=True):
        v = torch.as_tensor(value)
        if tuple(v.shape) != tuple(ref.shape):
            return float("inf")
        if ref.dtype == torch.bool or not ref.is_floating_point():
            worst = max(worst, 0.0 if torch.equal(v.to(ref.dtype), ref) else float("inf"))
        elif ref.numel():
            worst = max(worst, float((v.double() - ref.double()).abs().max()))
    return worst


def _check(name: str, diff: float, atol: float) -> float:
    if not diff <= atol:
        raise ExportCheckError(f"{name} differs from the eager model by {diff:.3g} > atol={atol:g}")
    return diff


def _prepare(
    model: nn.Module, names: list[str], num_assets: int | None
) -> tuple[tuple[Tensor, ...], list[str], _TupleOutputs]:
    args = _example_args(model, names, num_assets=num_assets)
    with torch.no_grad():
        out = _call(model, names, args)
    keys = [k for k, v in out.items() if isinstance(v, Tensor)]
    return args, keys, _TupleOutputs(model, keys, names)


def _dynamic_shapes(model: nn.Module, names: list[str], assets_dynamic: bool) -> tuple[dict[int, Any], ...]:
    # Dim.DYNAMIC (not named Dims): the exporter may narrow a range (the portfolio model needs at least
    # risk_lookback bars) instead of failing; batch, bars and assets stay symbolic.
    dyn = torch.export.Dim.DYNAMIC
    assets = is_multi_asset(model) and assets_dynamic
    shapes = {
        "features": {0: dyn, 1: dyn, **({2: dyn} if assets else {})},
        "timestamps": {0: dyn, 1: dyn},
        "scale": {0: dyn, **({1: dyn} if assets else {})},
    }
    return tuple(shapes[n] for n in names)


def _check_inputs(model: nn.Module, names: list[str], num_assets: int | None = None) -> tuple[Tensor, ...]:
    """Fresh inputs with a batch size and a length other than the example's (exercises the dynamic axes)."""
    g = torch.Generator().manual_seed(1234)
    t = min(2 * int(model_config(model).attention_window), 64) - 5  # type: ignore[union-attr]
    return _example_args(model, names, batch=3, seq_len=t, num_assets=num_assets, generator=g)


def _exported(
    model: nn.Module, names: list[str], num_assets: int | None
) -> tuple[torch.export.ExportedProgram, list[str], list[str]]:
    model.eval()
    args, keys, wrapper = _prepare(model, names, num_assets)
    dynamic = _dynamic_shapes(model, names, assets_dynamic=num_assets is None)
    program = torch.export.export(wrapper, args, dynamic_shapes=dynamic)
    return program, names, keys


def export_program(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    with_timestamps: bool = True,
    with_scale: bool | None = None,
    num_assets: int | None = None,
    verify: bool = True,
    atol: float = DEFAULT_ATOL,
) -> ExportResult:
    """``torch.export`` the model (dynamic batch, bar and asset axes) and save it as ``.pt2``.

    Args:
        model: a registered crypto model (put in eval mode).
        path: the file to write.
        with_timestamps: add the ``timestamps`` input. Default: True.
        with_scale: add the ``scale`` input. Default: None (when the model forecasts relative to one).
        num_assets: fix the portfolio model's asset axis at this size (as ONNX needs). Default: None
            (dynamic).
        verify: reload the file and compare with eager mode on other shapes. Default: True.
        atol: the largest absolute difference allowed. Default: 1e-4.

    Returns:
        :class:`ExportResult`.

    Raises:
        ExportCheckError: the reloaded program differs from eager mode by more than ``atol``.
    """
    assets = num_assets if is_multi_asset(model) else None
    program, inputs, keys = _exported(model, _input_names(model, with_timestamps, with_scale), assets)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, target)
    diff = None
    if verify:
        args = _check_inputs(model, inputs, assets)
        loaded = torch.export.load(target).module()
        with torch.no_grad():
            got = loaded(*args)
        diff = _check(
            f"torch.export program {target}", max_abs_diff(_eager(model, args, keys, inputs), list(got)), atol
        )
    return ExportResult(target, "torch-export", tuple(inputs), tuple(keys), None, diff, program, assets)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    opset_version: int = ONNX_MIN_OPSET,
    with_timestamps: bool = True,
    with_scale: bool | None = None,
    num_assets: int | None = None,
    program: ExportResult | None = None,
    verify: bool = True,
    atol: float = DEFAULT_ATOL,
) -> ExportResult:
    """Export to ONNX with dynamic batch and bar axes, and check it with ONNX Runtime.

    Args:
        model: a registered crypto model (put in eval mode).
        path: the ``.onnx`` file to write.
        opset_version: requested opset; below 18 the file is written at 18 (see the module docstring).
            Default: 18.
        with_timestamps: add the int64 ``timestamps`` input. Default: True.
        with_scale: add the float32 ``scale`` input. Default: None (when the model forecasts relative to one).
        num_assets: the portfolio model's asset count, fixed in the ONNX graph (ONNX Runtime mis-broadcasts
            the per-asset ``repeat_interleave`` over a symbolic asset axis). Default: 3.
        program: a :func:`export_program` result of the same model to translate (its inputs and asset
            count win over ``with_timestamps``/``with_scale``/``num_assets``). Default: None (export now).
        verify: run the file in ONNX Runtime on other shapes and compare with eager mode. Default: True.
        atol: the largest absolute difference allowed. Default: 1e-4.

    Returns:
        :class:`ExportResult` (``opset`` = the opset the file holds).

    Raises:
        ExportCheckError: ONNX Runtime's outputs differ from eager mode by more than ``atol``.
        MissingExtraError: onnx, onnxscript or onnxruntime is not installed (the ``export`` extra).
    """
    require_extras("export", purpose="ONNX export")  # torch.onnx imports onnxscript and onnx itself
    if program is not None:
        if program.program is None or program.format != "torch-export":
            raise ValueError("program= must be the ExportResult of export_program (format 'torch-export')")
        if is_multi_asset(model) and program.num_assets is None:
            raise ValueError("program= has a dynamic asset axis; export it with num_assets=N for ONNX")
        assets = program.num_assets
        exported = program.program
        inputs, keys = list(program.input_names), list(program.output_names)
    else:
        assets = (num_assets or _ONNX_ASSETS) if is_multi_asset(model) else None
        exported, inputs, keys = _exported(model, _input_names(model, with_timestamps, with_scale), assets)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    opset = max(int(opset_version), ONNX_MIN_OPSET)
    if opset != opset_version:
        logger.info("ONNX opset %d requested; torch's exporter writes opset %d", opset_version, opset)
    with warnings.catch_warnings(), _torchvision_notes_dropped():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(
            exported, (), None, input_names=inputs, output_names=keys, opset_version=opset, verbose=False
        )
    assert onnx_program is not None
    onnx_program.save(str(target))
    diff = None
    if verify:
        diff = _check(
            f"ONNX file {target}",
            onnxruntime_diff(target, model, inputs, keys, assets),
            atol,
        )
    return ExportResult(target, "onnx", tuple(inputs), tuple(keys), _file_opset(target), diff)


class _DropTorchvisionNotes(logging.Filter):
    """Drops torch.onnx's "torchvision is not installed. Skipping torchvision::nms" warnings: its op
    registry logs one per torchvision operator when torchvision is absent, and these models use none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("torchvision is not installed")


@contextlib.contextmanager
def _torchvision_notes_dropped() -> Iterator[None]:
    """:class:`_DropTorchvisionNotes` on the logger of torch.onnx's op registry, for one export."""
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    note_filter = _DropTorchvisionNotes()
    registry.addFilter(note_filter)
    try:
        yield
    finally:
        registry.removeFilter(note_filter)


def onnxruntime_diff(
    path: Path,
    model: nn.Module,
    inputs: list[str],
    keys: list[str],
    num_assets: int | None = None,
) -> float:
    """Largest absolute difference between ONNX Runtime (CPU) and eager mode on fresh inputs."""
    with needs_extra("export"):
        import onnxruntime as ort

    args = _check_inputs(model, inputs, num_assets)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(keys, {name: a.numpy() for name, a in zip(inputs, args)})
    return max_abs_diff(_eager(model, args, keys, inputs), [torch.from_numpy(g) for g in got])


def _file_opset(path: Path) -> int:
    with needs_extra("export"):
        import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def export_torchscript(
    model: nn.Module, path: str | os.PathLike[str], *, verify: bool = True, atol: float = DEFAULT_ATOL
) -> ExportResult:
    """``torch.jit.script(model).save(path)`` (the traced form of ``__prepare_scriptable__``), checked.

    Raises:
        ExportCheckError: the reloaded module differs from eager mode by more than ``atol``.
    """
    model.eval()
    scripted = torch.jit.script(model)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(target))
    keys = list(scripted.output_names)
    diff = None
    if verify:
        args = _check_inputs(model, ["features"])
        with torch.no_grad():
            got = torch.jit.load(str(target))(args[0])
        diff = _check(
            f"TorchScript file {target}",
            max_abs_diff(_eager(model, args, keys, ["features"]), [got[k] for k in keys]),
            atol,
        )
    return ExportResult(target, "torchscript", ("features",), tuple(keys), None, diff)


def export_model(
    source: nn.Module | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    **kwargs: Any,
) -> ExportResult:
    """Export a model, a checkpoint file or a registered name in one of :data:`EXPORT_FORMATS`.

    Args:
        source: an ``nn.Module``, a checkpoint written by training, or a registry name (default config).
        path: the file to write.
        format: ``"onnx"``, ``"torchscript"`` or ``"torch-export"``. Default: "onnx".
        **kwargs: passed to :func:`export_onnx`, :func:`export_torchscript` or :func:`export_program`.

    Raises:
        ValueError: unknown format or model name; a bad checkpoint; ``path`` is the checkpoint ``source``.
        ExportCheckError: the export does not reproduce the eager model.

    Examples:
        >>> import tempfile, os
        >>> result = export_model("signal_generator_small", os.path.join(tempfile.mkdtemp(), "m.pt"),
        ...                       format="torchscript")
        >>> result.output_names[:2]
        ('logits', 'probabilities')
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format={format!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    if isinstance(source, str | os.PathLike):
        from ..utils._paths import refuse_output_over_input

        refuse_output_over_input("path", path, [("checkpoint", source)])
    model, _ = load_model(source)
    if format == "onnx":
        return export_onnx(model, path, **kwargs)
    if format == "torchscript":
        return export_torchscript(model, path, **kwargs)
    return export_program(model, path, **kwargs)
