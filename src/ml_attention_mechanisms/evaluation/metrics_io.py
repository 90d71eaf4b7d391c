"""NaN-safe JSON for ``metrics.json``: numpy, pandas and dataclass values become plain JSON; a JSON object read
back with one-line errors naming the file."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_json_object", "to_jsonable", "write_metrics_json"]


def to_jsonable(obj: Any) -> Any:
    """A structure of dicts, lists, str, int, float, bool and None equal in content to ``obj``.

    NaN and +-inf become ``None`` (JSON has no NaN); numpy scalars and arrays, pandas Series/DataFrames
    (as ``{column: list}``) and timestamps (ISO 8601), dataclasses (as dicts), paths and tuples are
    converted; mapping keys become strings.

    Raises:
        TypeError: a value of a type with no JSON form (named in the message).
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()] if obj.ndim else to_jsonable(obj.item())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()  # pandas.Timestamp is a datetime
    if hasattr(obj, "to_dict") and hasattr(obj, "index"):  # pandas Series / DataFrame
        return to_jsonable(obj.to_dict(orient="list") if hasattr(obj, "columns") else obj.tolist())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"to_jsonable: no JSON form for a value of type {type(obj).__name__}")


def write_metrics_json(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``metrics`` as indented JSON (NaN/inf as ``null``) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_jsonable(metrics), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return out


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object stored in ``path`` (``calibration.json``, ``demo_config.json``, ``metrics.json``, ...).

    Raises:
        FileNotFoundError: no such file (named).
        ValueError: not UTF-8 JSON, or JSON that is not an object (one line naming the file, and the line
            and column of a syntax error).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{file}: not valid JSON (not UTF-8 text)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object {{...}}, found {type(data).__name__}")
    return data
