"""What a checkpoint file is checked for before it is trusted: its content hash, its config's sizes, the fit
of its weights, and their finiteness.

- **Content hash.** :func:`seal` adds ``"content_sha256"``: the sha256 of a canonical encoding of everything
  else in the checkpoint (every tensor's dtype, shape and bytes; every key, number and string). A reader
  recomputes it (:func:`verify_seal`): a file changed after it was written (a flipped bit in a weight) is
  refused, naming the file. A file without the key (written before checkpoints carried it) is read as it is.
- **Config sizes** (:data:`CONFIG_LIMITS`): the size fields of a checkpoint's model config must lie within
  these bounds, checked before anything is built, so that a file cannot choose the memory a process takes
  (a ``d_model`` of ``2**20`` would ask for terabytes).
- **Weights fit** (:func:`check_weights_fit`): the model the config describes is first built on the
  ``meta`` device (no memory), and every weight of the file must have the name and shape it expects; only
  then is the model built for real, so the memory it takes is that of the weights the file holds.
- **Finite weights** (:func:`check_finite`): a NaN or infinite weight (a diverged training) is refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "CONFIG_LIMITS",
    "HASH_KEY",
    "check_config_sizes",
    "check_finite",
    "check_weights_fit",
    "content_sha256",
    "seal",
    "verify_seal",
]

HASH_KEY = "content_sha256"

# The largest value a checkpoint's model config may give each size field (far above any model of this
# library: the default models use d_model 256, 4 layers, a 128-bar window).
CONFIG_LIMITS: dict[str, int] = {
    "d_model": 16_384,
    "num_heads": 1_024,
    "num_encoder_layers": 256,
    "d_ff": 65_536,
    "input_features": 65_536,
    "attention_window": 1_048_576,
    "num_assets": 1_048_576,
    "prediction_horizon": 100_000,
    "orderbook_features": 65_536,
    "risk_lookback": 1_048_576,
    "num_cross_asset_layers": 256,
}

# Memory the config's model may take beyond the bytes of the weights in the file (buffers computed at
# construction: ALiBi slopes, quantile levels, ...).
_EXTRA_BYTES = 256 * 2**20


def _feed(h: Any, value: Any) -> None:
    # A canonical, type-tagged encoding: equal contents give equal bytes however the file stores them.
    if isinstance(value, Tensor):
        t = value.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(value.shape)}|".encode())
        if t.numel():
            h.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        h.update(f"D{len(value)}|".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, list | tuple):
        h.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}|".encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        h.update(f"S{len(raw)}|".encode())
        h.update(raw)
    elif isinstance(value, bool) or value is None:
        h.update(f"B{value}|".encode())
    elif isinstance(value, int):
        h.update(f"I{value}|".encode())
    elif isinstance(value, float):
        h.update(f"F{value.hex()}|".encode())
    else:  # torch.dtype, torch.device, ...: what torch.load(weights_only=True) can give back
        h.update(f"O{type(value).__qualname__}:{value!r}|".encode())


def content_sha256(checkpoint: dict[str, Any]) -> str:
    """Hex sha256 of the checkpoint's contents (its ``"content_sha256"`` key left out)."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in checkpoint.items() if k != HASH_KEY})
    return h.hexdigest()


def seal(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``checkpoint`` carrying ``"content_sha256"`` (the dict itself is left as it was)."""
    return {**{k: v for k, v in checkpoint.items() if k != HASH_KEY}, HASH_KEY: content_sha256(checkpoint)}


def verify_seal(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """``checkpoint`` without its ``"content_sha256"``, after checking it.

    Raises:
        ValueError: the recorded hash is not the hash of the contents (the file is named).
    """
    if HASH_KEY not in checkpoint:
        return checkpoint
    recorded = checkpoint[HASH_KEY]
    body = {k: v for k, v in checkpoint.items() if k != HASH_KEY}
    actual = content_sha256(body)
    if recorded != actual:
        raise ValueError(
            f"{path}: refused to load: its contents do not match the content hash recorded when it was "
            f"written (sha256 {str(recorded)[:12]}... recorded, {actual[:12]}... now): the file was changed or "
            "damaged; restore it from a copy"
        )
    return body


def check_config_sizes(config: Any, path: Path) -> None:
    """Refuse a config whose size fields exceed :data:`CONFIG_LIMITS` (before anything is built).

    Raises:
        ValueError: ``config`` is not a dict, or a size field is beyond its bound (field, value, bound named).
    """
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config: expected a dict of model settings, found {type(config).__name__}")
    for name, limit in CONFIG_LIMITS.items():
        value = config.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and not value <= limit:
            raise ValueError(
                f"{path}: config {name}={value!r} is beyond the largest supported value {limit:,}; "
                "refused before building the model (a checkpoint's sizes decide the memory it takes)"
            )


def _nbytes(tensors: Any) -> int:
    return sum(int(t.numel()) * t.element_size() for t in tensors)


def check_weights_fit(build: Callable[[], nn.Module], state: Any, path: Path, model_type: str) -> None:
    """Build the model on the ``meta`` device and check that ``state`` has every weight it expects, with its
    shape, and that the model needs no more memory than the weights in ``state`` (plus small buffers).

    Raises:
        ValueError: ``state`` is not a dict of tensors; a missing, unexpected or misshaped weight (named); a
            model much larger than the file's weights.
    """
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: state_dict: expected a dict of tensors")
    try:
        with torch.device("meta"):
            probe = build()
    except (RuntimeError, NotImplementedError):  # a model that cannot be built on meta
        return  # its sizes were checked: it is built for real and its weights are loaded as before
    expected = probe.state_dict()
    prefix = f"{path}: weights do not fit model {model_type!r}:"
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(
            f"{prefix} missing {missing[0]}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise ValueError(f"{prefix} unexpected {unexpected[0]}")
    for key, want in expected.items():
        if tuple(state[key].shape) != tuple(want.shape):
            raise ValueError(
                f"{prefix} {key} has shape {list(state[key].shape)} in the file, the config makes "
                f"{list(want.shape)}"
            )
    need = _nbytes(probe.parameters()) + _nbytes(probe.buffers())
    have = _nbytes(state.values())
    if need > have + _EXTRA_BYTES:
        raise ValueError(
            f"{prefix} the config's model takes {need / 2**20:,.0f} MiB, its weights in the file "
            f"{have / 2**20:,.0f} MiB"
        )


def check_finite(state: Any, path: Path) -> None:
    """Refuse weights holding NaN or infinity (a diverged training).

    Raises:
        ValueError: the first non-finite weight is named.
    """
    for key, value in (state or {}).items():
        if isinstance(value, Tensor) and value.is_floating_point() and value.numel():
            if not bool(torch.isfinite(value).all()):
                bad = value.detach().float()
                kind = "NaN" if bool(torch.isnan(bad).any()) else "infinite"
                raise ValueError(
                    f"{path}: refused: weight {key} holds {kind} values (the training diverged); "
                    "use an earlier checkpoint or train again"
                )
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{path}: refused: weight {key} is {value}")
